"""Large tables of runs: distlaw's whole `fit` command against SciPy's least_squares, side by side.

    python benchmarks/large_tables.py [--sizes 1e4,1e5,1e6,1e7] [--work DIR] [--scipy-threads 1]

For each size, a Chinchilla-form table is drawn from Epoch's coefficients (log-uniform N in
[5e7, 5e9], D in [1e9, 2e11], 1% log-normal noise, and 0.02% of the runs "diverged": their loss
tripled), written once as Parquet. Then, each in a fresh process, timed as a whole (interpreter
start, imports, reading, fitting, writing):

- distlaw: `distlaw fit TABLE --law chinchilla --huber-delta 1e-4 -o FIT.json` (its default
  512-start design: on tables above 16,384 runs, screened on a stratified subsample, the best
  distinct optima polished on the whole table in chunks);
- SciPy: `scipy.optimize.least_squares(method="trf", loss="huber", f_scale=1e-4)` on the same
  log residuals and box, analytic Jacobian, from ONE good start (Epoch's published
  coefficients: the answer's neighbourhood, which a user would not know), reading the same
  Parquet columns with pandas.

Printed per size: wall seconds, peak resident memory (the child's own ru_maxrss, from wait4),
the objective (summed Huber of log residuals, the same function for both), and the ratios.
Compile time is part of distlaw's whole command (no persistent cache: DISTLAW_CACHE_DIR is
empty), as a first run on a new machine pays it; `--warm` keeps a cache between runs.
OPENBLAS_NUM_THREADS=1 is set for SciPy unless `--scipy-threads 0` (measured faster here on
2 cores; benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EPOCH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
DELTA = 1e-4

SCIPY = r"""
import json, sys, time
import numpy as np, pandas as pd
from scipy.optimize import least_squares
frame = pd.read_parquet(sys.argv[1], columns=["params", "tokens", "loss"])
log_n, log_d, log_l = (np.log(frame[c].to_numpy()) for c in ("params", "tokens", "loss"))
delta = float(sys.argv[2])

def residuals(z):  # z = log E, log A, log B, alpha, beta; log Lhat - log L
    e, a, b = np.exp(z[0]), np.exp(z[1] - z[3] * log_n), np.exp(z[2] - z[4] * log_d)
    return np.log(e + a + b) - log_l

def jacobian(z):
    e, a, b = np.exp(z[0]), np.exp(z[1] - z[3] * log_n), np.exp(z[2] - z[4] * log_d)
    total = e + a + b
    return np.stack([np.full_like(total, e) / total, a / total, b / total, -a * log_n / total,
                     -b * log_d / total], axis=1)

start = np.array([np.log(1.8172), np.log(482.01), np.log(2085.43), 0.3478, 0.3658])
lower = [np.log(1e-6)] * 3 + [0.0, 0.0]
upper = [np.inf] * 3 + [5.0, 5.0]
out = least_squares(residuals, start, jac=jacobian, method="trf", loss="huber", f_scale=delta,
                    bounds=(lower, upper), x_scale="jac")
print(json.dumps({"objective": float(out.cost), "nfev": int(out.nfev), "status": int(out.status)}))
"""


def draw_table(n: int, path: Path, seed: int = 0) -> None:
    """The table of ``n`` runs (Parquet), drawn in blocks so memory stays small."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    schema = pa.schema([("params", pa.float64()), ("tokens", pa.float64()), ("loss", pa.float64())])
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, n, 1_000_000):
            m = min(1_000_000, n - start)
            big_n = np.exp(rng.uniform(np.log(5e7), np.log(5e9), m))
            big_d = np.exp(rng.uniform(np.log(1e9), np.log(2e11), m))
            loss = EPOCH["E"] + EPOCH["A"] / big_n ** EPOCH["alpha"] + EPOCH["B"] / big_d ** EPOCH["beta"]
            loss *= np.exp(0.01 * rng.standard_normal(m))
            diverged = rng.random(m) < 2e-4
            loss[diverged] *= 3.0
            writer.write_table(pa.table({"params": big_n, "tokens": big_d, "loss": loss}, schema=schema))
    tmp.replace(path)


def run(command: list[str], env: dict) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one child process, measured by wait4."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode()
    if child.returncode:
        raise RuntimeError(f"{command[:3]} failed ({child.returncode}):\n{text[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e4,1e5,1e6,1e7")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "distlaw-large-tables"))
    parser.add_argument("--scipy-threads", type=int, default=1, help="OPENBLAS_NUM_THREADS for SciPy (0: unset)")
    parser.add_argument("--warm", action="store_true", help="keep distlaw's compilation cache between runs")
    parser.add_argument("--skip-scipy-above", type=float, default=float("inf"),
                        help="run SciPy only up to this many runs")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    import jax
    import platform

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} "
          f"({jax.default_backend()}), {time.strftime('%Y-%m-%d')}")
    print(f"{'runs':>10} {'distlaw s':>10} {'MB':>7} {'objective':>14} | {'scipy s':>8} {'MB':>7} "
          f"{'objective':>14} | {'time ratio':>10} {'objective diff':>14}")
    base_env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    distlaw_env = {**base_env, "DISTLAW_CACHE_DIR": str(work / "cache") if args.warm else ""}
    scipy_env = dict(base_env)
    if args.scipy_threads:
        scipy_env.update(OPENBLAS_NUM_THREADS=str(args.scipy_threads), OMP_NUM_THREADS=str(args.scipy_threads))
    for n in (int(float(s)) for s in args.sizes.split(",")):
        table = work / f"runs-{n}.parquet"
        if not table.exists():
            draw_table(n, table)
        fit_file = work / f"fit-{n}.json"
        seconds, rss, _ = run([sys.executable, "-m", "distlaw", "fit", str(table), "--law", "chinchilla",
                               "--huber-delta", str(DELTA), "-o", str(fit_file)], distlaw_env)
        record = json.loads(fit_file.read_text())
        line = f"{n:>10,} {seconds:>10.2f} {rss:>7.0f} {record['objective']:>14.8g} |"
        if n <= args.skip_scipy_above:
            s_seconds, s_rss, text = run([sys.executable, "-c", SCIPY, str(table), str(DELTA)], scipy_env)
            scipy = json.loads(text.strip().splitlines()[-1])
            diff = (record["objective"] - scipy["objective"]) / scipy["objective"]
            line += (f" {s_seconds:>8.2f} {s_rss:>7.0f} {scipy['objective']:>14.8g} | {seconds / s_seconds:>9.2f}x "
                     f"{diff:>+14.2e}")
        print(line + (f"   (screened on {record['screening']['runs']} runs, polished {record['screening']['polished']})"
                      if "screening" in record else ""), flush=True)


if __name__ == "__main__":
    main()
