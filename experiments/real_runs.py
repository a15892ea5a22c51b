"""The real, public run tables shipped in distlaw/data, with their authors' own protocols.

    python experiments/real_runs.py [--quick] [--out DIR]

Every protocol and published number is in distlaw/data/SOURCES.md; each study is reproduced
first with the published method, then distlaw's own default is shown beside it.

- Muennighoff et al. (2023): the data-constrained law (R^2 on their 182-run fit set with their
  coefficients, their README's two examples, R_D* and R_N* fitted with the base held fixed), and a
  single-epoch Chinchilla-form fit with bootstrap intervals.
- Gadre et al. (2024): RedPajama, the 5-run fit set, one exponent, least squares on the loss;
  relative errors on the 1B (M = 640) and 7B (M = 20) models.
- Porian et al. (2024): the compute-optimal exponent a of N* ~ C^a from isoFLOP minima
  (Chinchilla's Approach 2), per configuration, and what a parametric fit implies instead.
"""

from __future__ import annotations

import math

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
from _report import Results, arguments, rows_table, write_report

from distlaw import ScalingLaw, bootstrap, datasets, fit, fit_data, isoflop, planning, predict_loss
from distlaw.laws.compute import Architecture
from distlaw.laws import LAWS, PAPER_DISTILLATION

CHIN = LAWS["chinchilla"]
DC = LAWS["data_constrained"]
MUENNIGHOFF = DC.presets["muennighoff"]
BASE = ("E", "A", "B", "alpha", "beta")
VERDICT = ("reproduced?", lambda r: r.verdict("n/a"))


def _r2(observed, predicted) -> float:
    """sklearn.metrics.r2_score (their metric), written out: 1 - SS_res / SS_tot."""
    return float(1 - np.sum((observed - predicted) ** 2) / np.sum((observed - observed.mean()) ** 2))


def _columns(frame, spec):
    return {c: frame[c].to_numpy() for c in (*spec.input_columns, spec.target_column)}


def muennighoff(results: Results, n_boot: int) -> list[str]:
    runs = datasets.load("muennighoff2023")
    fit_set = runs[runs.in_fitset_182.astype(bool)]
    preset = DC.from_natural(MUENNIGHOFF)
    rows = []
    for (n, d, u), published in (((6.34e9, 242e9, 25e9), 2.2256440889984477),
                                 ((8.67e9, 178e9, 25e9), 2.2269634075087867)):
        value = float(predict_loss(DC, preset, n, d, u))
        rows.append(results.add(f"L(N={n:.3g}, D={d:.3g}, U={u:.3g}), their README", published, value, "1e-12 rel.",
                                abs(value / published - 1) <= 1e-12, fmt=".10g"))
    loss = fit_set.loss.to_numpy()
    r2_dc = _r2(loss, np.asarray(predict_loss(DC, preset, fit_set.params, fit_set.tokens, fit_set.unique_tokens)))
    chinchilla = CHIN.from_natural({k: MUENNIGHOFF[k] for k in BASE})
    r2_plain = _r2(loss, np.asarray(predict_loss(CHIN, chinchilla, fit_set.params, fit_set.tokens)))
    rows.append(results.add(f"R^2, data-constrained law, {len(fit_set)}-run fit set", 0.7722046084968408, r2_dc,
                            "1e-9", abs(r2_dc - 0.7722046084968408) <= 1e-9, fmt=".10g"))
    rows.append(results.add("R^2, Chinchilla form, same base coefficients", 0.4451684378759986, r2_plain, "1e-9",
                            abs(r2_plain - 0.4451684378759986) <= 1e-9, fmt=".10g"))

    # Their procedure for the decay constants: the five base coefficients fixed, Huber 1e-3 on log residuals.
    data = fit_data(DC, _columns(fit_set, DC))
    fixed = {k: MUENNIGHOFF[k] for k in BASE}
    local = fit(DC, data, np.asarray(preset)[None], delta=1e-3, fixed=fixed)
    best = fit(DC, data, delta=1e-3, fixed=fixed)
    for name in ("R_D", "R_N"):
        rows.append(results.add(f"{name}* (base fixed; L-BFGS-style local fit from the published point)",
                                MUENNIGHOFF[name], local.natural[name], "1% rel.",
                                abs(local.natural[name] / MUENNIGHOFF[name] - 1) <= 0.01, fmt=".5g"))
    for name in ("R_D", "R_N"):
        rows.append(results.add(f"{name}* (base fixed; distlaw's multi-start optimum)", MUENNIGHOFF[name],
                                best.natural[name], None, None, fmt=".5g",
                                note=f"objective {best.objective:.6g} vs {local.objective:.6g} at the local optimum"))

    # Single-epoch runs, Chinchilla form, with bootstrap intervals (no published values to compare).
    single = runs[runs.epochs == 1]
    chin_data = fit_data(CHIN, _columns(single, CHIN))
    point = fit(CHIN, chin_data, delta=1e-3)
    intervals = bootstrap(CHIN, chin_data, point, n_boot, delta=1e-3).intervals
    single_rows = [results.add(f"single-epoch {name}", None, point.natural[name], None, None,
                               interval=intervals[name], note="fitted here; no published value")
                   for name in CHIN.natural_names]
    interval = ("90% interval", lambda r: "[" + ", ".join(f"{v:.4g}" for v in r["interval"]) + "]")
    return [
        "Their law, their coefficients, their 182 runs (`in_fitset_182`); R^2 as `sklearn.metrics.r2_score` on the loss.",
        "",
        rows_table([("quantity", "quantity"), ("published", "published"), ("distlaw", "distlaw"),
                    ("tolerance", "tolerance"), VERDICT, ("note", "note")], rows),
        "",
        ("The decay constants sit in a flat valley of the objective with many local optima: started at the "
        "published point, the fit stays there (within 0.3%); distlaw's 1,024-start design finds a lower objective "
        "elsewhere in the valley. SOURCES.md records no starting grid for this step, so which optimum their "
        "L-BFGS reached depends on where it started."),
        "",
        (f"Single-epoch runs ({len(single)}), Chinchilla form, Huber 1e-3 on log residuals, {n_boot} bootstrap "
        "resamples:"),
        "",
        rows_table([("coefficient", "quantity"), ("distlaw", "distlaw"), interval], single_rows),
        "",
        ("Command: `distlaw fit muennighoff2023 --law data_constrained --huber-delta 1e-3 --where in_fitset_182 "
        "--fix E=... -o fit.json` (README, 'Published runs')."),
    ]


def gadre(results: Results) -> list[str]:
    runs = datasets.load("gadre2024")
    fit_set, targets = runs[runs.in_published_fit.astype(bool)], runs[runs.is_published_target.astype(bool)]
    published = {"rpj-open_lm_1b-32.0": 0.7103, "rpj-open_lm_7b-1.0": 0.7320}
    theirs = ScalingLaw("chinchilla", huber_delta=math.inf, residuals="linear", ties={"beta": "alpha"}).fit(fit_set)
    ours = ScalingLaw("chinchilla").fit(fit_set)  # distlaw's default: untied, Huber 1e-4 on log residuals
    rows = []
    for label, report, target in (("their protocol", theirs, True), ("distlaw default (untied, Huber 1e-4, logs)", ours, False)):
        errors = 100 * np.abs(report.predict(targets) - targets.loss.to_numpy()) / targets.loss.to_numpy()
        for name, error in zip(targets.name, errors, strict=True):
            if target:
                rows.append(results.add(f"{name}: relative error, % ({label})", published[name], float(error),
                                        "0.05 pp", abs(error - published[name]) <= 0.05, fmt=".4f"))
            else:
                rows.append(results.add(f"{name}: relative error, % ({label})", published[name], float(error), None,
                                        None, fmt=".4f", note="a different method, shown beside"))
    for name, value, published_value in (("A (their alpha)", theirs.params["A"], 166.2109784749555),
                                         ("exponent (their -b)", theirs.params["alpha"], 0.27285070026508734),
                                         ("E", theirs.params["E"], 1.8366483598543952)):
        rows.append(results.add(f"{name}, their protocol", published_value, value, "1e-4 rel.",
                                abs(value / published_value - 1) <= 1e-4, fmt=".6g"))
    unidentified = ", ".join(ours.record["unidentified"]) or "none"
    return [
        ("RedPajama, the 5-run fit set (`in_published_fit`), C4 eval loss, L = E + A N^-a + B D^-a (one exponent, "
        "their `powlaw_ours` with D = M N), least squares on the loss itself (`--residuals linear --huber-delta inf "
        "--tie beta=alpha`); targets `is_published_target`."),
        "",
        rows_table([("quantity", "quantity"), ("published", "published"), ("distlaw", "distlaw"),
                    ("tolerance", "tolerance"), VERDICT, ("note", "note")], rows),
        "",
        (f"distlaw's default on the same 5 runs fits 5 coefficients to 5 points; it flags as not identified: "
        f"{unidentified}."),
    ]


def _parametric_exponent(frame) -> tuple[float, float, bool]:
    """a implied by a Chinchilla-form fit: beta/(alpha+beta), and the slope of log N* over the
    table's budget range through planning.supervised_optimum with the 6ND compute model (equal
    to the closed form unless N* leaves the planner's [1e6, 1e17] at an end of the range: the
    third value says so)."""
    result = fit(CHIN, fit_data(CHIN, _columns(frame, CHIN)), delta=1e-3)
    closed_form = result.natural["beta"] / (result.natural["alpha"] + result.natural["beta"])
    laws = planning.PlanningLaws(LAWS["supervised"].from_natural({**result.natural, "gamma": 1.0}),
                                 LAWS["distillation"].from_natural(PAPER_DISTILLATION), Architecture(six_nd=True))
    budgets = np.array([frame.flops.min(), frame.flops.max()])
    optimum = planning.supervised_optimum(laws, budgets)
    n_star = np.asarray(optimum.params)
    slope = float(np.log(n_star[1] / n_star[0]) / np.log(budgets[1] / budgets[0]))
    return closed_form, slope, bool(np.any(np.asarray(optimum.on_bound)))


def porian(results: Results, n_boot: int, quick: bool) -> list[str]:
    runs = datasets.load("porian2024")
    reported = datasets.load("porian2024_fits").set_index("configuration")
    configurations = sorted(runs.configuration.unique())
    if quick:
        configurations = configurations[:3]
    rows = []
    for configuration in configurations:
        part = runs[runs.configuration == configuration]
        result = isoflop(part, bootstrap=n_boot)
        a = result.exponents["a"]["value"]
        published = float(reported.loc[configuration, "a_basic"])
        closed_form, through_planning, clipped = _parametric_exponent(part)
        rows.append(results.add(configuration, published, a, 0.01, abs(a - published) <= 0.01, fmt=".4f",
                                difference=a - published, interval=result.exponents["a"]["interval"],
                                parametric_beta_over_alpha_plus_beta=closed_form,
                                parametric_through_planning=through_planning,
                                note="N* on the planner's 1e6 bound at the smallest budget" if clipped else None))
    interval = ("90% interval (budgets resampled)", lambda r: "[" + ", ".join(
        "n/a" if v is None else f"{v:.3f}" for v in (r["interval"] or [None, None])) + "]")
    return [
        ("Per configuration (never pooled: configurations re-read the same runs under different parameter "
        "counts): `distlaw isoflop` (Akima argmin of log L over log N per budget, least-squares slope of log N* on "
        "log C) against `a_basic` of `porian2024_reported_fits.csv`. Beside it, the exponent a Chinchilla-form fit "
        "(Huber 1e-3) of the same points implies: beta/(alpha+beta), and the slope of N* over the table's budgets "
        "through `planning.supervised_optimum` with the 6ND compute model. A parametric fit is a different "
        "estimator; the gap is the point of showing it."),
        "",
        rows_table([("configuration", "quantity"), ("published a_basic", "published"), ("distlaw isoflop a", "distlaw"),
                    ("difference", "difference"), interval, VERDICT,
                    ("parametric beta/(alpha+beta)", "parametric_beta_over_alpha_plus_beta"),
                    ("parametric, through planning", "parametric_through_planning"), ("note", "note")], rows),
        "",
        "Command: `distlaw isoflop porian2024 --where \"configuration == 'rw/tuned/short/const/standard/val'\"`.",
    ]


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    n_boot = 16 if args.quick else 1000
    results = Results()
    md = ["## Real runs, with their authors' protocols", "", "Command: `python experiments/real_runs.py`.", ""]
    md += [results.begin("Muennighoff et al. (2023): the data-constrained law"), "", *muennighoff(results, n_boot), ""]
    md += [results.begin("Gadre et al. (2024): over-trained models from a 5-run fit"), "", *gadre(results), ""]
    md += [results.begin("Porian et al. (2024): compute-optimal exponents from isoFLOP minima"), "",
           *porian(results, 200 if args.quick else 1000, args.quick), ""]
    write_report(args.out, "real_runs", md, results)


if __name__ == "__main__":
    main()
