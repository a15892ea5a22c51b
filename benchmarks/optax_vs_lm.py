"""The optax path against the Levenberg-Marquardt solver on the same Huber objective.

    python benchmarks/optax_vs_lm.py [--quick]

On the shipped Muennighoff et al. table (295 runs) and a synthetic Chinchilla table (240 runs),
Chinchilla form, delta 1e-3, distlaw's default 512-start design for both: ``ScalingLaw`` with
the default solver (Levenberg-Marquardt) and with ``optimizer=optax.lbfgs()`` (the optax path:
reparametrized box, batched L-BFGS with a zoom line search), in one process, side by side. The
first call includes JAX's compilation, the second does not (the same optimizer object, so the
same program). Then the asymmetric objective (``overestimate_weight=2``), which only the optax
path fits. Prints seconds, the objectives and their relative gap.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import optax

from distlaw import ScalingLaw, datasets
from distlaw.laws import EPOCH_CHINCHILLA
from distlaw.laws.synthetic import chinchilla_table

DELTA = 1e-3


def timed(function):
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 starts, one table (a smoke test)")
    args = parser.parse_args()
    starts = 64 if args.quick else None
    tables = {"Muennighoff et al. 2023 (295 runs)": datasets.load("muennighoff2023")}
    if not args.quick:
        tables["synthetic Chinchilla (240 runs)"] = chinchilla_table(EPOCH_CHINCHILLA, 240, noise=0.02, seed=1)
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; {time.strftime('%Y-%m-%d')}; "
          f"objective: summed Huber(delta={DELTA:g}) of log residuals, Chinchilla form, "
          f"{starts or 512} starts (distlaw's design)")
    lbfgs = optax.lbfgs()
    for name, frame in tables.items():
        print(f"\n=== {name} ===")
        print(f"{'solver':<34}{'1st call s':>11}{'2nd call s':>11}{'objective':>24}{'rel. gap':>11}")
        rows = {}
        for label, law in (("Levenberg-Marquardt (default)", ScalingLaw("chinchilla", huber_delta=DELTA,
                                                                         starts=starts)),
                           ("optax.lbfgs() (optimizer=)", ScalingLaw("chinchilla", huber_delta=DELTA, starts=starts,
                                                                      optimizer=lbfgs))):
            first, _ = timed(lambda law=law: law.fit(frame))
            second, result = timed(lambda law=law: law.fit(frame))
            rows[label] = (first, second, result)
        reference = rows["Levenberg-Marquardt (default)"][2].objective
        for label, (first, second, result) in rows.items():
            gap = (result.objective - reference) / reference
            print(f"{label:<34}{first:>11.2f}{second:>11.2f}{result.objective:>24.17g}{gap:>+11.1e}")
        lm_second, optax_second = rows["Levenberg-Marquardt (default)"][1], rows["optax.lbfgs() (optimizer=)"][1]
        print(f"optax / LM, after compilation: {optax_second / lm_second:.1f}x")
        asym = ScalingLaw("chinchilla", huber_delta=DELTA, starts=starts, overestimate_weight=2.0)
        first, _ = timed(lambda: asym.fit(frame))
        second, result = timed(lambda: asym.fit(frame))
        symmetric = rows["Levenberg-Marquardt (default)"][2]
        print(f"{'overestimate_weight=2 (optax)':<34}{first:>11.2f}{second:>11.2f}{result.objective:>24.17g}"
              f"   mean prediction {np.mean(result.predict(frame)):.4f} vs {np.mean(symmetric.predict(frame)):.4f} "
              "symmetric")


if __name__ == "__main__":
    main()
