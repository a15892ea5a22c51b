"""Suggested runs against other designs at the same FLOP cap: which new runs pin the target down?

    python benchmarks/suggest_vs_designs.py [--draws 30] [--quick] [--case chinchilla] [--lower 10]

The Chinchilla case of issue 21: Epoch's law with 1% log-normal noise, 60 small isoFLOP runs
(budgets 6e17 to 6e19 FLOPs), and 6 new runs under 2e21 FLOPs in total, for the loss of 70B
parameters on 1.4T tokens. Designs, all within the cap and within distlaw's default per-run
limits (the table's range of params and tokens, the top widened 4x, tokens per parameter widened
2x either way; ``--lower K`` divides the bottom of the params and tokens limits by K for every
design, as ``distlaw suggest --min-params --min-tokens`` would):

- suggested: ``distlaw suggest`` (greedy linearized-variance design with exchanges);
- random: 6 runs drawn uniformly (in logs) from the allowed grid, redrawn until within the cap;
- cheapest: the 6 cheapest allowed runs;
- isoFLOP profile: one more profile of 6 runs at 2e21 / 6 FLOPs each, sizes spanning a decade
  either side of the law's compute-optimal size at that budget (clipped to the limits);
- D-optimal: greedy maximization of det(J^T J) over the allowed grid, within the cap.

For each: the target's linearized standard deviation (log loss) at the fitted law, and over
``--draws`` noise draws of the new runs, the refitted law's error at the target (log of
predicted over true loss): its root mean square, side by side.

The distillation case (``--case distillation``, or both): the paper's law, 240 runs of its
protocols, 6 new student runs under 1e21 FLOPs with the teachers in hand, for the loss of a
7.75B student on 155B tokens from the best teacher; the designs as above, the isoFLOP one a
student isoFLOP profile with that teacher (``--distillation-draws`` refits each).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd

from distlaw import ScalingLaw
from distlaw.laws import EPOCH_CHINCHILLA as C
from distlaw.planning.design import GRID_POINTS, Limits, _jacobians, suggest

TARGET = (7e10, 1.4e12)
CAP = 2e21
COUNT = 6
NOISE = 0.01


def truth(n, d):
    return C["E"] + C["A"] / np.asarray(n) ** C["alpha"] + C["B"] / np.asarray(d) ** C["beta"]


def small_table(seed: int = 0) -> pd.DataFrame:
    """60 isoFLOP runs at 10 budgets from 6e17 to 6e19 FLOPs (6 sizes each, 3 to 3,000 tokens per param)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.geomspace(6e17, 6e19, 10):
        n = np.geomspace(math.sqrt(c / 6 / 3000), math.sqrt(c / 6 / 3), 6)
        rows += [(size, c / (6 * size)) for size in n]
    n, d = np.array(rows).T
    return pd.DataFrame({"params": n, "tokens": d, "loss": truth(n, d) * np.exp(NOISE * rng.standard_normal(len(n)))})


def allowed_grid(table, lower: float = 1.0):
    """The grid ``suggest`` chooses from, with its default limits (the bottom ends of params and
    tokens divided by ``lower``)."""
    ratio = table["tokens"] / table["params"]
    n = np.geomspace(table["params"].min() / lower, 4 * table["params"].max(), GRID_POINTS)
    d = np.geomspace(table["tokens"].min() / lower, 4 * table["tokens"].max(), GRID_POINTS)
    n, d = (a.ravel() for a in np.meshgrid(n, d, indexing="ij"))
    keep = (d / n >= ratio.min() / 2) & (d / n <= ratio.max() * 2) & (6 * n * d <= CAP)
    return n[keep], d[keep]


def linearized_sd(fit, spec, table, n_new, d_new) -> float:
    theta = np.asarray(spec.from_natural(fit.params))
    n = np.concatenate([table["params"], n_new])
    d = np.concatenate([table["tokens"], d_new])
    j = _jacobians(spec, theta, {"params": n, "tokens": d})
    g = _jacobians(spec, theta, {"params": np.array([TARGET[0]]), "tokens": np.array([TARGET[1]])})[0]
    sigma = fit.record["residual_scale"]
    return float(math.sqrt(g @ np.linalg.solve(j.T @ j / sigma**2, g)))


def designs(fit, spec, table, seed: int = 0, lower: float = 1.0) -> dict:
    n, d = allowed_grid(table, lower)
    cost = 6 * n * d
    out = {}
    limits = Limits(min_params=table["params"].min() / lower, min_tokens=table["tokens"].min() / lower)
    suggested = suggest(fit, table, [f"params={TARGET[0]},tokens={TARGET[1]}"], COUNT, CAP, limits=limits)
    out["suggested"] = (suggested.runs["params"].to_numpy(), suggested.runs["tokens"].to_numpy())
    rng = np.random.default_rng(seed)
    while True:
        pick = rng.choice(len(n), COUNT, replace=False)
        if cost[pick].sum() <= CAP:
            break
    out["random"] = (n[pick], d[pick])
    cheapest = np.argsort(cost)[:COUNT]
    out["cheapest"] = (n[cheapest], d[cheapest])
    budget = CAP / COUNT
    from distlaw.laws.compute import Architecture
    from distlaw.planning.optimize import compute_optimal

    best = compute_optimal(spec, spec.from_natural(fit.params), np.array([budget]), Architecture(six_nd=True))
    sizes = float(best.params[0]) * np.geomspace(0.1, 10, COUNT)
    ratio = table["tokens"] / table["params"]
    sizes = np.clip(sizes, math.sqrt(budget / 6 / (ratio.max() * 2)), math.sqrt(budget / 6 / (ratio.min() / 2)))
    out["isoFLOP profile"] = (sizes, budget / (6 * sizes))
    # D-optimal: greedy log det of the information matrix, within the cap.
    theta = np.asarray(spec.from_natural(fit.params))
    information = _jacobians(spec, theta, {"params": table["params"].to_numpy(), "tokens": table["tokens"].to_numpy()})
    information = information.T @ information
    jac = _jacobians(spec, theta, {"params": n, "tokens": d})
    chosen = []
    for k in range(COUNT):
        room = CAP - cost[chosen].sum() - cost.min() * (COUNT - k - 1)
        inverse = np.linalg.inv(information)
        gain = np.where(cost <= room, np.log1p(np.einsum("ck,kl,cl->c", jac, inverse, jac)), -np.inf)
        best_index = int(np.argmax(gain))
        chosen.append(best_index)
        information = information + np.outer(jac[best_index], jac[best_index])
    out["D-optimal"] = (n[chosen], d[chosen])
    return out


DIST_TARGET = {"student_params": 7.75e9, "student_tokens": 1.55e11}  # 20 tokens per parameter
DIST_CAP = 1e21
DIST_NOISE = 0.003


def distillation_case(draws: int) -> None:
    """The paper's distillation law: 240 runs of the paper's protocols (noise 0.3%), supervised law
    fixed at Table 6; 6 new student runs under 1e21 FLOPs (6 N_S D_S + the teacher's logits
    2 N_T D_S) for the loss of a 7.75B student on 155B tokens from the table's best teacher."""
    from distlaw.laws import LAWS, PAPER_DISTILLATION, PAPER_SUPERVISED, predict_loss
    from distlaw.laws.synthetic import distillation_table
    from distlaw.planning.design import _flops

    spec, sup = LAWS["distillation"], LAWS["supervised"]
    table = distillation_table(240, noise=DIST_NOISE, seed=1)
    law = ScalingLaw("distillation", supervised="paper", huber_delta=1e-4)
    fit = law.fit(table, bootstrap=48)  # the replicates feed the bootstrap criterion
    teachers = table.drop_duplicates("teacher_loss").sort_values("teacher_loss")
    best_teacher = teachers.iloc[0]
    target = {**DIST_TARGET, "teacher_loss": float(best_teacher["teacher_loss"])}
    target_text = ",".join(f"{k}={v}" for k, v in target.items())
    sup_params = sup.from_natural(PAPER_SUPERVISED)
    dist_params = spec.from_natural(PAPER_DISTILLATION)

    def true_loss(n, d, l_t):
        return np.asarray(predict_loss(spec, dist_params, n, d, l_t, supervised=sup_params))

    theta = np.asarray(spec.from_natural(fit.params))
    sup_vector = np.asarray(sup_params)
    sigma = fit.record["residual_scale"]

    def jac(columns):
        return _jacobians(spec, theta, columns, sup_vector)

    def sd(new: dict) -> float:
        columns = {c: np.concatenate([table[c].to_numpy(), new[c]]) for c in spec.input_columns}
        j = jac(columns)
        g = jac({c: np.array([target[c]]) for c in spec.input_columns})[0]
        return float(math.sqrt(g @ np.linalg.pinv(j.T @ j / sigma**2, rcond=1e-13) @ g))

    suggested = suggest(fit, table, [target_text], COUNT, DIST_CAP, criterion="linearized")
    designs = {"suggested": {c: suggested.runs[c].to_numpy() for c in spec.input_columns}}
    ensemble = suggest(fit, table, [target_text], COUNT, DIST_CAP, criterion="bootstrap")
    designs["suggested, bootstrap criterion"] = {c: ensemble.runs[c].to_numpy() for c in spec.input_columns}
    # The grid suggest chooses from (its default limits), for the other designs.
    ratio = table["student_tokens"] / table["student_params"]
    axis_n = np.geomspace(table["student_params"].min(), 4 * table["student_params"].max(), 32)
    axis_d = np.geomspace(table["student_tokens"].min(), 4 * table["student_tokens"].max(), 32)
    mesh = np.meshgrid(axis_n, axis_d, np.arange(len(teachers)), indexing="ij")
    grid = {"student_params": mesh[0].ravel(), "student_tokens": mesh[1].ravel(),
            "teacher_loss": teachers["teacher_loss"].to_numpy()[mesh[2].ravel()]}
    cost = _flops(grid, "student_params", "student_tokens", teachers["teacher_params"].to_numpy()[mesh[2].ravel()])
    keep = ((grid["student_tokens"] / grid["student_params"] >= ratio.min() / 2)
            & (grid["student_tokens"] / grid["student_params"] <= ratio.max() * 2) & (cost <= DIST_CAP))
    grid, cost = {c: v[keep] for c, v in grid.items()}, cost[keep]
    rng = np.random.default_rng(0)
    while True:
        pick = rng.choice(len(cost), COUNT, replace=False)
        if cost[pick].sum() <= DIST_CAP:
            break
    designs["random"] = {c: v[pick] for c, v in grid.items()}
    cheapest = np.argsort(cost)[:COUNT]
    designs["cheapest"] = {c: v[cheapest] for c, v in grid.items()}
    # A student isoFLOP profile with the best teacher: 6 sizes at a sixth of the cap each.
    n_t = float(best_teacher["teacher_params"])
    # Sizes whose tokens at a sixth of the cap keep tokens per parameter within suggest's limits.
    candidates = np.geomspace(table["student_params"].min(), 4 * table["student_params"].max(), 400)
    per_param = (DIST_CAP / COUNT) / (6 * candidates + 2 * n_t) / candidates
    allowed = candidates[(per_param >= ratio.min() / 2) & (per_param <= ratio.max() * 2)]
    sizes = np.geomspace(allowed.min(), allowed.max(), COUNT)
    tokens = (DIST_CAP / COUNT) / (6 * sizes + 2 * n_t)
    designs["student isoFLOP profile"] = {"student_params": sizes, "student_tokens": tokens,
                                          "teacher_loss": np.full(COUNT, best_teacher["teacher_loss"])}
    information = jac({c: table[c].to_numpy() for c in spec.input_columns})
    information = information.T @ information
    j_grid = jac(grid)
    chosen = []
    for k in range(COUNT):
        room = DIST_CAP - cost[chosen].sum() - cost.min() * (COUNT - k - 1)
        inverse = np.linalg.pinv(information, rcond=1e-13)
        gain = np.where(cost <= room, np.log1p(np.einsum("ck,kl,cl->c", j_grid, inverse, j_grid)), -np.inf)
        best_index = int(np.argmax(gain))
        chosen.append(best_index)
        information = information + np.outer(j_grid[best_index], j_grid[best_index])
    designs["D-optimal"] = {c: v[chosen] for c, v in grid.items()}
    print(f"\nDistillation case: 240 runs of the paper's protocols (noise {DIST_NOISE:.1%}), the paper's "
          f"supervised law; {COUNT} new student runs under {DIST_CAP:.0e} FLOPs (logits included); target "
          f"L_S at N_S={target['student_params']:.3g}, D_S={target['student_tokens']:.3g}, "
          f"L_T={target['teacher_loss']:.4f}; {draws} noise draws, each design refitted")
    true_log = math.log(float(true_loss(*(np.array([target[c]]) for c in spec.input_columns))[0]))
    rows = []
    for name, new in designs.items():
        teacher_of = teachers.set_index("teacher_loss")
        errors = []
        for draw in range(draws):
            rng = np.random.default_rng(3000 + draw)
            frame = pd.DataFrame(new)
            frame["teacher_params"] = teacher_of.loc[frame["teacher_loss"], "teacher_params"].to_numpy()
            frame["teacher_tokens"] = teacher_of.loc[frame["teacher_loss"], "teacher_tokens"].to_numpy()
            frame["student_loss"] = true_loss(frame["student_params"], frame["student_tokens"],
                                              frame["teacher_loss"]) * np.exp(DIST_NOISE * rng.standard_normal(len(frame)))
            refit = law.fit(pd.concat([table, frame], ignore_index=True))
            predicted = refit.predict(tuple(np.array([target[c]]) for c in spec.input_columns))[0]
            errors.append(math.log(float(predicted)) - true_log)
        flops = float(_flops(new, "student_params", "student_tokens",
                             teacher_of.loc[new["teacher_loss"], "teacher_params"].to_numpy()).sum())
        rows.append((name, sd(new), float(np.sqrt(np.mean(np.square(errors)))), flops))
    base = next(s for name, s, *_ in rows if name == "student isoFLOP profile")
    print(f"{'design':<32}{'linearized sd':>15}{'vs isoFLOP':>12}{'refit RMS error':>17}{'FLOPs':>11}")
    for name, s, rms, flops in rows:
        print(f"{name:<32}{s:>15.5f}{s / base:>11.2f}x{rms:>17.5f}{flops:>11.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="3 draws (a smoke test)")
    parser.add_argument("--case", choices=["chinchilla", "distillation", "both"], default="both")
    parser.add_argument("--distillation-draws", type=int, default=10, help="draws of the (slower) distillation case")
    parser.add_argument("--lower", type=float, default=1.0,
                        help="divide the bottom of every design's params and tokens limits by this (suggest's "
                             "--min-params/--min-tokens): smaller runs are cheap and lengthen the lever arm")
    args = parser.parse_args()
    draws = 3 if args.quick else args.draws
    if args.case == "distillation":
        distillation_case(2 if args.quick else args.distillation_draws)
        return
    from distlaw.laws import LAWS

    spec = LAWS["chinchilla"]
    table = small_table()
    law = ScalingLaw("chinchilla", huber_delta=1e-3, starts=256)
    fit = law.fit(table)
    print(f"Chinchilla case, {time.strftime('%Y-%m-%d')}: 60 isoFLOP runs (6e17-6e19 FLOPs), Epoch's law, "
          f"{NOISE:.0%} noise; {COUNT} new runs under {CAP:.0e} FLOPs; target loss at N={TARGET[0]:.0e}, "
          f"D={TARGET[1]:.1e}; {draws} noise draws of the new runs, each design refitted; limits: params "
          f"{table['params'].min() / args.lower:.3g}-{4 * table['params'].max():.3g}, tokens "
          f"{table['tokens'].min() / args.lower:.3g}-{4 * table['tokens'].max():.3g}")
    true_log = math.log(float(truth(*TARGET)))
    rows = []
    for name, (n_new, d_new) in designs(fit, spec, table, lower=args.lower).items():
        sd = linearized_sd(fit, spec, table, n_new, d_new)
        errors = []
        for draw in range(draws):
            rng = np.random.default_rng(1000 + draw)
            new = pd.DataFrame({"params": n_new, "tokens": d_new,
                                "loss": truth(n_new, d_new) * np.exp(NOISE * rng.standard_normal(len(n_new)))})
            refit = law.fit(pd.concat([table, new], ignore_index=True))
            errors.append(math.log(float(refit.predict((np.array([TARGET[0]]), np.array([TARGET[1]])))[0])) - true_log)
        rows.append((name, sd, float(np.sqrt(np.mean(np.square(errors)))), float((6 * n_new * d_new).sum())))
    base_sd = next(sd for name, sd, *_ in rows if name == "isoFLOP profile")
    print(f"{'design':<18}{'linearized sd':>15}{'vs isoFLOP':>12}{'refit RMS error':>17}{'FLOPs':>11}")
    for name, sd, rms, flops in rows:
        print(f"{name:<18}{sd:>15.5f}{sd / base_sd:>11.2f}x{rms:>17.5f}{flops:>11.3g}")
    before = linearized_sd(fit, spec, table, np.array([]), np.array([]))
    print(f"(no new runs: linearized sd {before:.5f})")
    if args.case == "both":
        distillation_case(2 if args.quick else args.distillation_draws)


if __name__ == "__main__":
    main()
