"""distlaw's batched box-constrained Levenberg-Marquardt against SciPy's multi-start L-BFGS-B.

Usage:
    python benchmarks/fit_vs_scipy.py [TABLE.csv] [--repeats 3] [--quick] [--skip-cli]

Two tables by default: the real Muennighoff et al. (2023) table shipped with distlaw (295 runs,
the mis-decoded run 4b284b12bc4opt2 dropped) and the synthetic 240-run Chinchilla-form table
(Besiroglu et al.'s coefficients, 2% log noise, seed 1). A TABLE argument (columns params,
tokens, loss) replaces both. For each table, side by side in one process, Chinchilla form,
Huber delta 1e-3, in distlaw's default box (``fitting.constraints``) for both:

1. one fit: distlaw's default design and Hoffmann et al.'s 4,500-start grid in process (first
   call with compilation, second call), SciPy L-BFGS-B over the same grid in the same box, the
   ratio and the objective difference; then whole `distlaw fit` commands (start-up included),
   median of --repeats, with a cold (fresh, empty) and a warm persistent compilation cache;
2. 1,000 bootstrap resamples: whole `--bootstrap 1000` commands (cold and warm), in process,
   and SciPy L-BFGS-B on the same resamples (the multinomial draw of distlaw's bootstrap, seed
   0) from the same 6 starts per replicate, with how often SciPy ends lower than distlaw;
3. once, the 700-run distillation fit (paper design, supervised law from the paper) with its
   weak-to-strong holdout, cold and warm, and with --bootstrap 256.

--quick shrinks everything (every 10th grid start, 100 resamples, 1 repeat, no cold runs, a
256-start distillation fit with 16 resamples) to smoke-test the script.

SciPy gets its best chance: OPENBLAS_NUM_THREADS=1 (several times faster here than OpenBLAS's
default threading for these tiny vectors) and an analytic gradient.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy loads OpenBLAS

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The SciPy oracles live in tests/reference.py (test code, not part of the installed package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np
import scipy
from reference import chinchilla_value_and_grad, scipy_multistart

from distlaw import datasets, fitting
from distlaw.fitting import starts
from distlaw.laws import EPOCH_CHINCHILLA, LAWS
from distlaw.io.runs import read_runs, write_table
from distlaw.laws.synthetic import chinchilla_table, distillation_table

DELTA = 1e-3  # Hoffmann et al.'s and Epoch's delta
SCIPY_BOOT_BUDGET_S = 120.0  # beyond this (projected), SciPy's bootstrap runs on a sample of 100, scaled
SPEC = LAWS["chinchilla"]


def tables(arg: str | None, work: Path) -> list[tuple[str, Path]]:
    if arg:
        return [(arg, Path(arg))]
    real = datasets.load("muennighoff2023")
    real = real[real.run_name != "4b284b12bc4opt2"]  # mis-decoded in the source
    real_path = work / "muennighoff2023.csv"
    real[["params", "tokens", "loss"]].to_csv(real_path, index=False)
    synthetic_path = work / "chinchilla_synthetic.csv"
    write_table(chinchilla_table(EPOCH_CHINCHILLA, 240, noise=0.02, seed=1), synthetic_path)
    return [("Muennighoff et al. 2023 (real, shipped)", real_path),
            ("synthetic Chinchilla form (Epoch coefficients, 2% noise, seed 1)", synthetic_path)]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run_cli(args, cache: Path) -> float:
    env = {**os.environ, "DISTLAW_CACHE_DIR": str(cache)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "distlaw", *args], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def import_jax_seconds() -> float:
    """Wall time of `python -c "import jax"` in a fresh process (the floor of any JAX command)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import jax"], check=True)
    return time.perf_counter() - t


def cold_and_warm(args, work: Path, repeats: int, quick: bool) -> tuple[float | None, float, Path]:
    """Median wall times of the command with fresh empty caches, then with the last one warm.

    In --quick mode the cold run is a single unreported priming run. Returns the warm cache too."""
    colds, cache = [], None
    for _ in range(1 if quick else repeats):
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
        colds.append(run_cli(args, cache))
    warms = [run_cli(args, cache) for _ in range(repeats)]
    return (None if quick else statistics.median(colds)), statistics.median(warms), cache


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def rel(a: float, b: float) -> float:
    return (a - b) / abs(b)


def scipy_tight(data: fitting.FitData, starts_: np.ndarray, box) -> float:
    """Best objective of L-BFGS-B from ``starts_`` with tolerances tight enough to reach the optimum.

    SciPy's defaults (ftol 2.2e-9 relative, gtol 1e-5) stop warm-started replicates in the narrow
    valley of this objective before they converge; ftol 1e-15, gtol 1e-12 let them finish.
    """
    from scipy.optimize import minimize

    arrays = [np.asarray(a) for a in (*data.log_inputs, data.log_obs, data.weights)]
    bounds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
              for lo, hi in zip(box.lower, box.upper, strict=True)]
    best = np.inf
    for start in np.clip(box.reduce(starts_), box.lower, box.upper):
        with np.errstate(all="ignore"):
            result = minimize(chinchilla_value_and_grad, start, args=(*arrays, DELTA), jac=True,
                              method="L-BFGS-B", bounds=bounds,
                              options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
        if np.isfinite(result.fun):
            best = min(best, float(result.fun))
    return best


def compare(ours: np.ndarray, theirs: np.ndarray) -> tuple[np.ndarray, str]:
    diff = (ours - theirs) / np.abs(theirs)
    return diff, (f"SciPy lower by > 1e-9 in {int((diff > 1e-9).sum())} of {len(diff)}, distlaw lower by "
                  f"> 1e-9 in {int((diff < -1e-9).sum())}; max {diff.max():+.2e}, "
                  f"median {np.median(diff):+.2e}, min {diff.min():+.2e}")


def bench_table(label: str, path: Path, work: Path, args) -> None:
    frame = read_runs([path], required=("params", "tokens", "loss")).frame
    data = fitting.fit_data(SPEC, {c: frame[c].to_numpy() for c in ("params", "tokens", "loss")})
    box = fitting.constraints(SPEC)
    grid = starts.paper_starts(SPEC)
    grid_flag = "paper"
    if args.quick:
        grid = grid[::10]
        grid_file = work / "grid_every_10th.csv"
        starts.starts_to_frame(SPEC, grid).to_csv(grid_file, index=False)
        grid_flag = str(grid_file)
    n_runs = len(frame)
    print(f"\n=== {label}: {path.name}, {n_runs} runs ===")

    # 1a. In process: first call (compilation included) and second call.
    rows = {}
    for name, how in (("default design", None), (f"grid {len(grid):,}", grid)):
        first, _ = timed(lambda how=how: fitting.fit(SPEC, data, how, delta=DELTA))
        second, result = timed(lambda how=how: fitting.fit(SPEC, data, how, delta=DELTA))
        rows[name] = (result.n_starts, first, second, result)
    # 1b. SciPy L-BFGS-B over the same grid, same box.
    scipy_time, (scipy_best, _, scipy_values) = timed(
        lambda: scipy_multistart("chinchilla", data, grid, DELTA, box=box))
    scipy_share = float(np.mean(scipy_values <= scipy_best * (1 + 1e-6)))

    print(f"\n1. one fit, Chinchilla form, delta {DELTA:g}, default box; in process")
    print(f"{'method':<28}{'starts':>7}{'best objective':>24}{'1st call s':>12}{'2nd call s':>12}"
          f"{'SciPy/2nd':>11}{'(distlaw-SciPy)/SciPy':>24}")
    print(f"{'SciPy L-BFGS-B loop':<28}{len(grid):>7}{scipy_best:>24.17g}{'':>12}{scipy_time:>12.2f}"
          f"{'1.0x':>11}{'':>24}")
    for name, (n, first, second, result) in rows.items():
        print(f"{'distlaw ' + name:<28}{n:>7}{result.objective:>24.17g}{first:>12.2f}{second:>12.2f}"
              f"{scipy_time / second:>10.1f}x{rel(result.objective, scipy_best):>+24.2e}")
    print(f"    SciPy starts within 1e-6 of its best: {scipy_share:.1%}; distlaw statuses (grid): "
          f"{rows[f'grid {len(grid):,}'][3].status_counts}")
    point = rows["default design"][3]

    # 1c. Whole commands.
    base = ["fit", str(path), "--law", "chinchilla", "--huber-delta", str(DELTA)]
    if not args.skip_cli:
        print(f"\n   whole command `distlaw fit TABLE --law chinchilla --huber-delta 1e-3 [...]`, "
              f"median of {args.repeats}")
        print(f"{'command':<34}{'cold cache s':>14}{'warm cache s':>14}{'SciPy loop / command':>24}")
        grid_name = f"--starts {'GRID/10' if args.quick else 'paper'}"
        import_jax = statistics.median(import_jax_seconds() for _ in range(max(args.repeats, 3)))
        for name, extra in (("default starts", []), (grid_name, ["--starts", grid_flag])):
            cold, warm, _ = cold_and_warm([*base, *extra, "-o", str(work / "fit.json")], work, args.repeats,
                                          args.quick)
            ratio = (f"{scipy_time / cold:.1f}x cold, " if cold else "") + f"{scipy_time / warm:.1f}x warm"
            print(f"{name:<34}{fmt(cold):>14}{fmt(warm):>14}{ratio:>24}")
            if name == "default starts":  # the small-fit latency target is against importing JAX
                label, vs_cold = '  / `python -c "import jax"`', f"{cold / import_jax:.2f}x" if cold else "-"
                print(f"{label:<34}{vs_cold:>14}{warm / import_jax:>13.2f}x{import_jax:>19.2f} s import")

    # 2. Bootstrap.
    n_boot = args.resamples
    print(f"\n2. bootstrap, {n_boot:,} resamples (6 starts each: the point fit's distinct optima[:4] "
          f"+ 2 design starts)")
    if not args.skip_cli:
        cold, warm, _ = cold_and_warm([*base, "--bootstrap", str(n_boot), "-o", str(work / "boot.json")],
                                      work, args.repeats, args.quick)
        print(f"   whole command `... --bootstrap {n_boot}` (point fit included), median of "
              f"{args.repeats}: cold cache {fmt(cold)} s, warm cache {fmt(warm)} s")
    boot_first, _ = timed(lambda: fitting.bootstrap(SPEC, data, point, n_boot, delta=DELTA))
    boot_time, boot = timed(lambda: fitting.bootstrap(SPEC, data, point, n_boot, delta=DELTA))

    # The same resamples and starts as bootstrap_many (seed 0): one multinomial draw of n_boot
    # count vectors, the point fit's distinct optima (at most 4) and the last 2 design starts.
    rng = np.random.default_rng(0)
    counts = rng.multinomial(n_runs, np.full(n_runs, 1 / n_runs), size=n_boot).astype(np.float64)
    warm_starts = point.local_optima if point.local_optima is not None and len(point.local_optima) \
        else point.params[None]
    boot_starts = np.concatenate([warm_starts[:4], starts.design_starts(SPEC, 2, seed=0)[-2:]])

    # distlaw's objective of each replicate, at the coefficients it returned (samples keep the
    # replicates' order; a failed replicate is left out of them, so then nothing lines up).
    distlaw_values = None
    if boot.n_failed:
        print(f"   note: {boot.n_failed} replicate(s) failed in distlaw: no per-replicate comparison")
    else:
        theta = np.array([SPEC.from_natural(dict(zip(SPEC.natural_names, row, strict=True)))
                          for row in boot.samples], dtype=np.float64)
        shared = fitting.FitData((None,) * len(data.log_inputs), None, 0)
        values_at = jax.jit(jax.vmap(box.objective(DELTA), in_axes=(0, shared)))
        distlaw_values = np.asarray(values_at(jnp.asarray(box.reduce(theta)),
                                              fitting.FitData(data.log_inputs, data.log_obs, counts)))

    order = np.random.default_rng(1).permutation(n_boot)
    scipy_values, t0 = {}, time.perf_counter()
    for i, r in enumerate(order):
        if i == min(100, n_boot) and (time.perf_counter() - t0) * n_boot / i > SCIPY_BOOT_BUDGET_S:
            break
        replicate = fitting.FitData(data.log_inputs, data.log_obs, counts[r])
        scipy_values[r] = scipy_multistart("chinchilla", replicate, boot_starts, DELTA, box=box)[0]
    scipy_measured = time.perf_counter() - t0
    done = np.array(sorted(scipy_values))
    scipy_boot = scipy_measured * n_boot / len(done)
    print(f"   in process: distlaw bootstrap first call {boot_first:.2f} s (compilation included), "
          f"second call {boot_time:.2f} s")
    how = "all" if len(done) == n_boot else f"a random sample of {len(done)} (scaled to {n_boot:,})"
    print(f"   SciPy L-BFGS-B, same resamples, same 6 starts each, same box, {how}: {scipy_measured:.1f} s "
          f"measured, {scipy_boot:.1f} s for {n_boot:,}; SciPy / distlaw = {scipy_boot / boot_time:.1f}x")
    if distlaw_values is not None:
        diff, line = compare(distlaw_values[done], np.array([scipy_values[r] for r in done]))
        print(f"   per replicate, (distlaw - SciPy) / SciPy: {line}")
        for r in done[diff > 1e-9][:5]:
            print(f"     replicate {r}: distlaw {distlaw_values[r]:.17g}, SciPy {scipy_values[r]:.17g}")
        # SciPy's default tolerances stop early (see scipy_tight); the same comparison when it finishes.
        sample = order[: min(args.tight_sample, n_boot)]
        t0 = time.perf_counter()
        tight = np.array([scipy_tight(fitting.FitData(data.log_inputs, data.log_obs, counts[r]),
                                      boot_starts, box) for r in sample])
        tight_time = (time.perf_counter() - t0) * n_boot / len(sample)
        diff, line = compare(distlaw_values[sample], tight)
        print(f"   SciPy with ftol 1e-15, gtol 1e-12 on a random sample of {len(sample)} replicates: "
              f"{tight_time:.1f} s scaled to {n_boot:,} ({tight_time / boot_time:.1f}x distlaw); {line}")
        for r, d in zip(sample[diff > 1e-9][:5], diff[diff > 1e-9][:5], strict=False):
            print(f"     replicate {r}: distlaw {distlaw_values[r]:.17g}, "
                  f"relative excess over SciPy {d:+.2e}")


def bench_distillation(work: Path, args) -> None:
    path = work / "distillation.csv"
    write_table(distillation_table(700, seed=0), path)
    extra = ["--starts", "256"] if args.quick else []
    n_boot = 16 if args.quick else 256
    cmd = ["fit", str(path), "--law", "distillation", "--supervised", "paper", *extra,
           "--holdout", "student_loss <= 2.3", "-o", str(work / "dist.json")]
    print(f"\n3. distillation, 700 synthetic runs of the paper's design, "
          f"{'256 starts (--quick)' if args.quick else 'default 2,048 starts'}, "
          f"--holdout 'student_loss <= 2.3'")
    cold, warm, cache = cold_and_warm(cmd, work, 1, args.quick)
    record = json.loads((work / "dist.json").read_text())
    boot = run_cli([*cmd, "--bootstrap", str(n_boot)], cache)
    holdout = record["holdout"]
    print(f"   whole command: cold cache {fmt(cold)} s, warm cache {warm:.2f} s; with --bootstrap {n_boot} "
          f"(warm) {boot:.2f} s")
    print(f"   objective {record['objective']:.10g}; held-out max relative error "
          f"{holdout['max_abs_rel_error']:.3%} (mean {holdout['mean_abs_rel_error']:.3%}) "
          f"over {holdout['n']} runs")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("table", nargs="?",
                        help="a run table (params, tokens, loss); replaces the two default tables")
    parser.add_argument("--repeats", type=int, default=3, help="whole commands: median of this many")
    parser.add_argument("--quick", action="store_true", help="shrink everything (smoke test)")
    parser.add_argument("--skip-cli", action="store_true", help="in-process measurements only")
    args = parser.parse_args()
    args.resamples = 100 if args.quick else 1000
    if args.quick:
        args.repeats = 1
    args.tight_sample = 20 if args.quick else 100

    work = Path(tempfile.mkdtemp(prefix="distlaw-bench-"))
    print(f"machine: {platform.machine()}, {cpu_name()}, {os.cpu_count()} cores; jax {jax.__version__} on "
          f"{jax.devices()[0].platform}, SciPy {scipy.__version__}, NumPy {np.__version__}; "
          f"{time.strftime('%Y-%m-%d')}{'; --quick' if args.quick else ''}")
    print(f"objective: summed Huber(delta={DELTA:g}) of log residuals; box (distlaw's default, for distlaw "
          f"and SciPy alike): {fitting.constraints(SPEC).bounds}")
    try:
        for label, path in tables(args.table, work):
            bench_table(label, path, work, args)
        if not args.skip_cli:
            bench_distillation(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
