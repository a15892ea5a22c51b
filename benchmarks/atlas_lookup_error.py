"""Error and speed of atlas lookups (`distlaw.lookup`) against the exact laws.

Usage:
    python benchmarks/atlas_lookup_error.py [--atlas FOLDER] [--sweep sweeps/paper.toml]
                                            [--points 100000] [--seed 0]

Builds the atlas of the sweep in a temporary folder (or reads a finished one with --atlas),
draws points uniformly in log space inside its loss grid (seeded), and compares every column
interpolated by `AtlasLookup.lookup` (multilinear and cubic) with the laws evaluated
independently at the same points: L_T = L(N_T, D_T) and Ltilde_S = L(N_S, D_S) from the
supervised law and L_S from the distillation law (`distlaw.laws.predict_loss`, the fit's
coefficients as the manifest records them), the FLOPs from `distlaw.compute` (Eq. 9).
Prints the max and 99th-percentile relative error per column and method, the load time, the
cubic spline set-up, and the lookup rate (points per second, median of 3, after a warm-up).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np

import distlaw
from distlaw.atlas.evaluate import flops_column
from distlaw.laws.compute import SCENARIOS, Architecture, flops_from_forward, forward_flops
from distlaw.laws import LAWS, predict_loss
from distlaw.atlas.sweep import parse_compute  # the sweep file's own [compute] parser

METHODS = ("linear", "cubic")


def random_points(axes: dict, n: int, seed: int) -> dict:
    """n points uniform in log space over the box the axes span."""
    rng = np.random.default_rng(seed)
    return {name: np.exp(rng.uniform(np.log(a[0]), np.log(a[-1]), n)) for name, a in axes.items()}


def exact_columns(law: dict, arch: Architecture, points: dict) -> dict:
    """The atlas's columns at ``points``, from the laws directly (no grid); ``arch`` prices F(N)."""
    supervised, distillation = LAWS["supervised"], LAWS["distillation"]
    sup = supervised.from_natural(law["supervised"])
    dist = distillation.from_natural(law["params"])
    n_s, d_s = points["student_params"], points["student_tokens"]
    if "teacher_loss" in points:
        l_t = points["teacher_loss"]
    else:
        l_t = np.asarray(predict_loss(supervised, sup, points["teacher_params"], points["teacher_tokens"]))
    out = {"teacher_loss": l_t,
           "supervised_loss": np.asarray(predict_loss(supervised, sup, n_s, d_s)),
           "student_loss": np.asarray(predict_loss(distillation, dist, n_s, d_s, l_t, supervised=sup))}
    f_s = np.asarray(forward_flops(n_s, arch))
    for name, s in SCENARIOS.items():
        if "teacher_params" in points:
            f_t = np.asarray(forward_flops(points["teacher_params"], arch))
            out[flops_column(name)] = np.asarray(flops_from_forward(f_s, d_s, f_t, points["teacher_tokens"],
                                                                    s.delta_lgt, s.delta_pre))
        elif name == "best-case":
            out[flops_column(name)] = np.asarray(flops_from_forward(f_s, d_s, 0.0, 0.0, 0.0, 0.0))
    return out


def timed(fn, repeats=3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atlas", help="a finished atlas folder (default: build the sweep's in a temp folder)")
    parser.add_argument("--sweep", default=str(Path(__file__).parent.parent / "sweeps" / "paper.toml"))
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{platform.machine()} {platform.processor() or ''}, {jax.device_count()} {jax.default_backend()} "
          f"device(s), jax {jax.__version__}, NumPy {np.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.atlas:
            atlas = distlaw.Atlas(args.atlas)
        else:
            start = time.perf_counter()
            atlas = distlaw.build_atlas(args.sweep, output=Path(tmp) / "atlas", progress=False)
            print(f"built the atlas of {args.sweep} in {time.perf_counter() - start:.1f}s")
        start = time.perf_counter()
        table = atlas.lookup()
        print(f"loaded {table!r} in {time.perf_counter() - start:.2f}s")
    points = random_points(table.axes, args.points, args.seed)
    # The compute model the atlas was priced with: its sweep's [compute] table (the paper's by default).
    arch = Architecture(**parse_compute(f"{atlas.path}: the manifest's sweep", atlas.sweep.get("compute", {})))
    exact = exact_columns(atlas.law, arch, points)

    start = time.perf_counter()
    table.lookup(**{k: v[:1] for k, v in points.items()}, method="cubic")  # builds every column's spline
    print(f"cubic spline set-up, all {len(table.columns)} columns: {time.perf_counter() - start:.2f}s")
    print(f"\n{args.points:,} points uniform in log space, seed {args.seed}; relative error |lookup / exact - 1|")
    print(f"{'column':<28}" + "".join(f"{m + ' max':>14}{m + ' p99':>14}" for m in METHODS))
    frames = {m: table.lookup(**points, method=m) for m in METHODS}
    for column in table.columns:
        cells = ""
        for m in METHODS:
            error = np.abs(frames[m][column].to_numpy() / exact[column] - 1)
            cells += f"{error.max():>14.2e}{np.quantile(error, 0.99):>14.2e}"
        print(f"{column:<28}{cells}")

    print("\nlookup rate (median of 3; spline set-up excluded)")
    for m in METHODS:
        one = timed(lambda m=m: table.lookup(**points, method=m, columns=["student_loss"]))
        every = timed(lambda m=m: table.lookup(**points, method=m))
        print(f"  {m:<7} student_loss only: {args.points / one:>12,.0f} points/s ({one:.3f}s);   "
              f"all {len(table.columns)} columns: {args.points / every:>12,.0f} points/s ({every:.3f}s)")


if __name__ == "__main__":
    main()
