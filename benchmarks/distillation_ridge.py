"""The distillation fit on its ridge (issue 22, section 1): distlaw's default fit against SciPy's best.

    python benchmarks/distillation_ridge.py [--tables paper-narrow,paper-wide,perturbed-narrow,perturbed-wide]
                                            [--scipy-starts 64] [--max-iterations 400] [--bootstrap B]
                                            [--profile V1,V2,...]

Tables drawn from the paper's distillation law (``distillation_table``, noise 0.3%, supervised law
fixed at Table 6) with the paper's coefficients or perturbed ones (alpha' 0.38, beta' 0.55,
gamma' 0.9, c0 2.2, c1 150, f1 0.2, d1 1.1): "wide" is the whole 700-run design (teacher
losses 1.9-2.9, students 143M-7.75B), "narrow" 328 of its runs with students 143M-1.8B and
teacher losses 1.9-2.75 (issue 22's real-sized table). For each, side by side in one process:

- SciPy ``least_squares`` (TRF, ``loss="huber"``, ``f_scale=1e-4``: the same summed Huber loss of
  log residuals, in the same box and optimizer coordinates), the best of ``--scipy-starts``
  random starts (log A', log B' in [0, 25], exponents in [0.05, 1.5], c0 in [0, 4], c1 in
  [0, 1000], f1 in [0.01, 2], log d1 in [-1, 1]), max_nfev 3000, tolerances 1e-15;
- ``ScalingLaw("distillation", supervised="paper").fit(table)``, the default settings, its time
  (JAX compilation included), objective relative to SciPy's best, ``stopped_early``, the
  coefficients it flags, and the effective exponents alpha' gamma', beta' gamma' with their
  sandwich standard errors (FIT.json ``derived``);
- SciPy started from distlaw's optimum: where it cannot go lower, distlaw's point is a local
  minimum, and the gap to the best is a matter of which basin the starts reach;
- with ``--bootstrap B``, the same fit with B bootstrap resamples (seed 0): the 90% percentile
  intervals of alpha' gamma' and beta' gamma' over the replicates (FIT.json
  ``bootstrap_samples``, so an older distlaw without ``derived`` gives them too);
- with ``--profile V1,V2,...``, the profile of the objective in alpha' gamma': the fit with
  alpha' gamma' fixed at each value (the law's ridge coordinates, where it is a coordinate:
  ``distlaw.laws.registry.RIDGES``; 2,048 ridge starts, up to 2,000 iterations), printed as
  n (J_profile - J) / J. With the Huber loss in its linear regime (delta 1e-4 against 0.3%
  noise) the objective is a Laplace negative log-likelihood times delta times the mean
  absolute residual, so that number is the profile's rise in log-likelihood: values below
  1.92 lie inside a 95% profile-likelihood interval.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # SciPy's best chance (before numpy loads OpenBLAS)

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
from reference import _compiled_log_fit
from scipy.optimize import least_squares

from distlaw import ScalingLaw, fitting
from distlaw.laws import LAWS, PAPER_DISTILLATION, PAPER_SUPERVISED
from distlaw.laws.synthetic import distillation_table

PERTURBED = {**PAPER_DISTILLATION, "alpha": 0.38, "beta": 0.55, "gamma": 0.9, "c0": 2.2, "c1": 150.0, "f1": 0.2,
             "d1": 1.1}
RANDOM_LOW = np.array([0, 0, 0.05, 0.05, 0.05, 0, 0, 0.01, -1.0])
RANDOM_HIGH = np.array([25, 25, 1.5, 1.5, 1.5, 4, 1000, 2, 1.0])


def table(kind: str, seed: int = 0):
    """``paper-narrow``, ``paper-wide``, ``perturbed-narrow`` or ``perturbed-wide``."""
    coefficients = PERTURBED if kind.startswith("perturbed") else PAPER_DISTILLATION
    frame = distillation_table(700, noise=0.003, seed=seed, distillation=coefficients)
    if kind.endswith("narrow"):
        frame = frame[(frame.student_params >= 1.4e8) & (frame.student_params <= 1.9e9)
                      & (frame.teacher_loss >= 1.9) & (frame.teacher_loss <= 2.75)]
        frame = frame.sample(min(328, len(frame)), random_state=0)
    return frame.reset_index(drop=True)


def scipy_fit(residuals, jacobian, x0, lower, upper):
    return least_squares(residuals, np.clip(x0, lower, upper), jac=jacobian, method="trf", loss="huber",
                         f_scale=1e-4, bounds=(lower, upper), x_scale="jac", ftol=1e-15, xtol=1e-15, gtol=1e-15,
                         max_nfev=3000)


def profile_rises(data, objective: float, values, n_runs: int) -> list[float]:
    """n (J - objective) / objective for the fits with alpha' gamma' fixed at each of ``values``."""
    from distlaw.fitting import multistart, ridge
    from distlaw.laws.registry import RIDGES

    problems = multistart.stack_data([data])
    starts = ridge.ridge_starts(LAWS["distillation"], 2048, seed=0)
    rises = []
    for value in values:
        solution = multistart.fit_many(RIDGES["distillation"], problems, starts, delta=1e-4,
                                       fixed={"alpha_gamma": value}, identify=False, max_iterations=2000)[0]
        rises.append(n_runs * (solution.objective - objective) / objective)
    return rises


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default="paper-narrow,paper-wide,perturbed-narrow,perturbed-wide")
    parser.add_argument("--scipy-starts", type=int, default=64)
    parser.add_argument("--max-iterations", type=int, default=None, help="distlaw's (default: its own)")
    parser.add_argument("--bootstrap", type=int, default=0, help="resamples for intervals of the effective exponents")
    parser.add_argument("--profile", default="", help="alpha' gamma' values to profile the objective at")
    args = parser.parse_args()
    spec = LAWS["distillation"]
    supervised = LAWS["supervised"].from_natural(PAPER_SUPERVISED)
    box = fitting.constraints(spec)
    lower, upper = np.asarray(box.lower), np.asarray(box.upper)
    values, jacobians = _compiled_log_fit("distillation")
    print(f"distillation ridge, {time.strftime('%Y-%m-%d')}; SciPy best of {args.scipy_starts} random starts")
    for kind in args.tables.split(","):
        frame = table(kind)
        data = fitting.fit_data(spec, frame, supervised=supervised)
        log_inputs = tuple(np.asarray(a) for a in data.log_inputs)
        log_obs = np.asarray(data.log_obs)

        def residuals(z, log_inputs=log_inputs, log_obs=log_obs):
            return np.asarray(values(z, log_inputs)) - log_obs

        def jacobian(z, log_inputs=log_inputs):
            return np.asarray(jacobians(z, log_inputs))

        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        best = min((scipy_fit(residuals, jacobian, RANDOM_LOW + (RANDOM_HIGH - RANDOM_LOW) * rng.random(9), lower, upper)
                    for _ in range(args.scipy_starts)), key=lambda r: r.cost)
        scipy_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        fit = ScalingLaw("distillation", supervised="paper", max_iterations=args.max_iterations).fit(frame)
        seconds = time.perf_counter() - t0
        record = fit.record
        from_ours = scipy_fit(residuals, jacobian, np.asarray(spec.from_natural(record["params"])), lower, upper)
        derived = record.get("derived", {})
        effective = "  ".join(
            f"{name} {entry['value']:.4f}" + (f" +- {entry['std_error']:.2g}" if entry.get("std_error") else " +- inf")
            for name, entry in derived.items())
        print(f"{kind}: {len(frame)} runs, teacher losses {frame.teacher_loss.min():.2f}-{frame.teacher_loss.max():.2f}; "
              f"SciPy best {best.cost:.8e} ({scipy_seconds:.1f} s)\n"
              f"   distlaw {seconds:.1f} s, objective {record['objective']:.8e} "
              f"({(record['objective'] - best.cost) / best.cost:+.2e} vs SciPy's best), stopped_early "
              f"{record['stopped_early']}; SciPy from distlaw's optimum {(from_ours.cost - best.cost) / best.cost:+.2e}\n"
              f"   {effective}; gamma' {record['params']['gamma']:.3f}, c1 {record['params']['c1']:.4g}; "
              f"unidentified {', '.join(record['unidentified']) or '-'}; on a bound {', '.join(record['on_bound']) or '-'}")
        if args.bootstrap:
            t0 = time.perf_counter()
            boot = ScalingLaw("distillation", supervised="paper", max_iterations=args.max_iterations).fit(
                frame, bootstrap=args.bootstrap, ci=0.9)
            samples = boot.record["bootstrap_samples"]
            columns = dict(zip(samples["names"], np.asarray(samples["values"], dtype=float).T, strict=True))
            intervals = "  ".join(
                f"{name} 90% [{np.nanquantile(columns[x] * columns['gamma'], 0.05):.4f}, "
                f"{np.nanquantile(columns[x] * columns['gamma'], 0.95):.4f}]"
                for name, x in (("alpha' gamma'", "alpha"), ("beta' gamma'", "beta")))
            print(f"   bootstrap {args.bootstrap} ({time.perf_counter() - t0:.1f} s): {intervals}")
        if args.profile:
            values = [float(v) for v in args.profile.split(",")]
            rises = profile_rises(data, record["objective"], values, len(frame))
            print("   profile of alpha' gamma' (n dJ/J; < 1.92 inside a 95% profile interval): "
                  + ", ".join(f"{v:g}: {rise:.2f}" for v, rise in zip(values, rises, strict=True)))


if __name__ == "__main__":
    main()
