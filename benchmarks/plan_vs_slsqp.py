"""distlaw's batched planner against a SciPy SLSQP loop (the paper's method) on 10,000 problems.

Usage:
    python benchmarks/plan_vs_slsqp.py [--problems 10000] [--sample 40]

Problems: student sizes log-uniform in [2e8, 3e10], budgets log-uniform in [1e19, 1e25], the
four scenarios in turn; the paper's coefficients. distlaw solves all of them in one batch
(compile time reported separately); SLSQP (5 starts per problem, JAX-compiled value and
gradient, ftol 1e-12) runs on a random sample and is scaled to the full set. Prints both
times, the ratio and the largest loss difference (distlaw minus SLSQP) over the sample.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# The SciPy oracles live in tests/reference.py (test code, not part of the installed package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import argparse
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
from reference import slsqp_allocate

from distlaw import planning
from distlaw.laws.compute import SCENARIOS
from distlaw.laws import LAWS, PAPER_DISTILLATION, PAPER_SUPERVISED


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=40)
    args = parser.parse_args()
    laws = planning.PlanningLaws(LAWS["supervised"].from_natural(PAPER_SUPERVISED),
                                 LAWS["distillation"].from_natural(PAPER_DISTILLATION))
    rng = np.random.default_rng(0)
    n = args.problems
    n_s = 10 ** rng.uniform(np.log10(2e8), np.log10(3e10), n)
    budget = 10 ** rng.uniform(19, 25, n)
    scenarios = [list(SCENARIOS.values())[i % 4] for i in range(n)]
    d_lgt = np.array([s.delta_lgt for s in scenarios])
    d_pre = np.array([s.delta_pre for s in scenarios])

    t = time.perf_counter()
    jax.block_until_ready(planning.allocate(laws, n_s, budget, d_lgt, d_pre))
    first = time.perf_counter() - t
    t = time.perf_counter()
    ours = jax.block_until_ready(planning.allocate(laws, n_s, budget, d_lgt, d_pre))
    run = time.perf_counter() - t

    sample = rng.choice(n, size=min(args.sample, n), replace=False)
    t = time.perf_counter()
    theirs = np.array([slsqp_allocate(laws, n_s[i], budget[i], d_lgt[i], d_pre[i])[0] for i in sample])
    slsqp_sample = time.perf_counter() - t
    slsqp_full = slsqp_sample * n / len(sample)
    diff = np.asarray(ours.student_loss)[sample] - theirs

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} on "
          f"{jax.devices()[0].platform}, {time.strftime('%Y-%m-%d')}")
    print(f"{n} problems (N_S 2e8-3e10, C 1e19-1e25, 4 scenarios)")
    print(f"distlaw batch:  compile {first - run:.2f}s, run {run:.2f}s ({n / run:,.0f} problems/s)")
    print(f"SciPy SLSQP:    {slsqp_sample:.1f}s for {len(sample)} problems x 5 starts -> {slsqp_full:,.0f}s for {n} (scaled)")
    print(f"speed-up: {slsqp_full / run:,.0f}x")
    print(f"loss difference distlaw - SLSQP over the sample: max {diff.max():+.2e}, min {diff.min():+.2e} nats "
          f"({np.sum(diff < -1e-9)} problems where distlaw is lower by > 1e-9)")


if __name__ == "__main__":
    main()
