"""Paper-scale fitting in one call, for a machine with an accelerator.

    python benchmarks/gpu_paper_scale.py [--width 16384] [--quick]

Runs the work the paper did on its grids: the 216,000-start distillation grid on a 700-run
table of the paper's design, the 9,600-start supervised grid on a 240-run table, and 4,096
bootstrap resamples of a 240-run Chinchilla-form fit; and a SciPy L-BFGS-B loop over a random
sample of the same starts, scaled to the full grid. Prints one table (best objective, compile
and run seconds, SciPy's scaled seconds, ratio). ``--quick`` shrinks every size by 10x, to
check the script on a CPU before spending device time.

On the device machine: ``bash benchmarks/gpu_check.sh`` runs it after the atlas checks (see
benchmarks/README.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# The SciPy oracles live in tests/reference.py (test code, not part of the installed package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
from reference import scipy_multistart

from distlaw import fitting
from distlaw.fitting import solver, starts
from distlaw.laws import EPOCH_CHINCHILLA, LAWS, PAPER_SUPERVISED
from distlaw.laws.synthetic import chinchilla_table, distillation_table


def columns(frame):
    return {c: frame[c].to_numpy() for c in frame.columns if frame[c].dtype.kind == "f"}


def timed_fit(spec, data, grid, delta, config):
    t = time.perf_counter()
    fitting.fit(spec, data, grid[: config.width], delta=delta, config=config)  # compile
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    result = fitting.fit(spec, data, grid, delta=delta, config=config)
    return result, compile_s, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=16384, help="lanes advanced together")
    parser.add_argument("--quick", action="store_true", help="10x smaller everything, width 512 (CPU check)")
    parser.add_argument("--scipy-sample", type=int, default=300)
    args = parser.parse_args()
    shrink = 10 if args.quick else 1
    width = 512 if args.quick else args.width  # wide pools only pay on an accelerator
    print(f"devices: {jax.devices()}")
    config = solver.SolverConfig(width=width, screen_iterations=30, keep=0.05, min_keep=16)
    rows = []

    sup = LAWS["supervised"]
    dist = LAWS["distillation"]
    sup_params = sup.from_natural(PAPER_SUPERVISED)
    jobs = [
        ("distillation, paper grid", dist, fitting.fit_data(dist, columns(distillation_table(700, seed=0)),
                                                            supervised=sup_params), 1e-4),
        ("supervised, paper grid", sup, fitting.fit_data(sup, columns(chinchilla_table(PAPER_SUPERVISED, 240,
                                                                                        noise=0.01))), 1e-4),
    ]
    rng = np.random.default_rng(0)
    for name, spec, data, delta in jobs:
        grid = starts.paper_starts(spec)[::shrink]
        result, compile_s, run_s = timed_fit(spec, data, grid, delta, config)
        sample = grid[rng.choice(len(grid), min(args.scipy_sample, len(grid)), replace=False)]
        t = time.perf_counter()
        scipy_best, _, _ = scipy_multistart(spec.name, data, sample, delta)
        scipy_s = (time.perf_counter() - t) * len(grid) / len(sample)
        rows.append((name, len(grid), result.objective, compile_s, run_s, scipy_s, scipy_best))

    chin = LAWS["chinchilla"]
    data = fitting.fit_data(chin, columns(chinchilla_table(EPOCH_CHINCHILLA, 240, noise=0.02, seed=1)))
    point = fitting.fit(chin, data, delta=1e-3)
    n_boot = 4096 // shrink
    t = time.perf_counter()
    fitting.bootstrap(chin, data, point, 64, delta=1e-3)
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    fitting.bootstrap(chin, data, point, n_boot, delta=1e-3)
    rows.append((f"bootstrap x{n_boot}, chinchilla", n_boot * 6, point.objective, compile_s,
                 time.perf_counter() - t, float("nan"), float("nan")))

    print(f"\n{'job':<34}{'starts':>9}{'best objective':>20}{'compile s':>11}{'run s':>9}"
          f"{'SciPy s (scaled)':>18}{'ratio':>8}{'SciPy best (sample)':>22}")
    for name, n, objective, compile_s, run_s, scipy_s, scipy_best in rows:
        print(f"{name:<34}{n:>9}{objective:>20.12g}{compile_s:>11.1f}{run_s:>9.1f}{scipy_s:>18.1f}"
              f"{scipy_s / run_s:>7.1f}x{scipy_best:>22.12g}")


if __name__ == "__main__":
    main()
