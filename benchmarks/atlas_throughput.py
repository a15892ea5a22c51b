"""Rows per second of a full loss-atlas run against the I/O limit and the obvious NumPy way.

Usage:
    python benchmarks/atlas_throughput.py [SWEEP.toml]     (default: sweeps/throughput.toml, 16.8M rows)

Three ways to produce the identical loss-atlas dataset (same rows, schema, partitions and
Parquet settings: `distlaw.atlas.write.parquet_options`):
  distlaw   `distlaw.atlas.write.write_loss_atlas`: JAX chunks, writing overlapped with compute
            (compiled beforehand: compile time printed separately);
  pyarrow   writing the precomputed tables alone with pyarrow: the I/O limit, given the same
            writer threads as distlaw (and, as the issue first measured it, with one thread),
            in a fresh process of its own (tables read first, not timed), median of 3;
  numpy     evaluating each partition with NumPy, then writing it with pyarrow, partitions
            side by side on as many threads (the obvious way); its evaluation time alone too.
And the whole command, `distlaw atlas SWEEP -o DIR` in a fresh process (start-up, JAX import,
reading the fit, compiled programs from a warm persistent cache, evaluation and writing), wall
time, median of 3 after one run that fills the cache.

Every timed way starts with the disk's dirty pages flushed (``os.sync()``): none pays for writing
back an earlier one's files.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from distlaw.atlas.evaluate import numpy_loss_rows
from distlaw.atlas.write import (
    atlas_metadata,
    loss_repeated_columns,
    loss_schema,
    parquet_options,
    write_loss_atlas,
)
from distlaw.laws.compute import Architecture
from distlaw.io.fitfile import load_fit
from distlaw.planning.plans import load_planning_laws
from distlaw.atlas.sweep import load_sweep


def main() -> None:
    sweep_path = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[1] / "sweeps" / "throughput.toml")
    work = Path(tempfile.mkdtemp(prefix="distlaw-atlas-bench-"))
    sweep = load_sweep(sweep_path, output=work / "warm")
    record = load_fit(sweep.law, law="distillation")
    laws = load_planning_laws(sweep.law, Architecture())
    metadata = atlas_metadata(sweep, {"params": record["params"], "supervised": record["supervised"]})
    axes = sweep.loss_axes
    rows = int(np.prod([len(a) for a in axes.values()]))

    t = time.perf_counter()
    write_loss_atlas(sweep, laws, metadata, progress=False)  # compiles
    first = time.perf_counter() - t
    sweep = load_sweep(sweep_path, output=work / "distlaw")
    os.sync()
    t = time.perf_counter()
    write_loss_atlas(sweep, laws, metadata, progress=False)
    ours = time.perf_counter() - t

    # distlaw's evaluation alone: the same chunks to host memory, nothing written.
    import jax.numpy as jnp

    from distlaw.atlas.evaluate import loss_chunk, loss_tables

    inner_device = tuple(jnp.asarray(axes[n]) for n in list(axes)[1:])
    per_partition = rows // len(axes["student_params"])
    loss_chunk(laws, loss_tables(laws, 1e9, inner_device), 0, size=per_partition, aligned=True)["student_loss"].block_until_ready()
    t = time.perf_counter()
    for n_s in axes["student_params"]:
        out = loss_chunk(laws, loss_tables(laws, float(n_s), inner_device), 0, size=per_partition, aligned=True)
        {k: np.asarray(v) for k, v in out.items()}
    ours_eval = time.perf_counter() - t

    files = sorted((work / "distlaw" / "loss").rglob("*.parquet"))
    writers = writer_threads()
    # The I/O limit in a fresh process, as the whole command runs: inside this one (after the
    # compilations, the in-process run and 3 GB of tables read back) the same writes measured
    # 1.72-1.85 s against 1.20-1.24 s in a fresh process (2026-12-07): the baseline gets its best chance.
    limit = subprocess.run([sys.executable, __file__, "--pyarrow-limit", str(work / "distlaw"), str(work),
                            str(writers)], check=True, capture_output=True, text=True)
    arrow_one_thread, arrow_only = (float(v) for v in limit.stdout.split())

    schema = loss_schema("teacher_params" in axes, metadata)
    inner = [axes[n] for n in list(axes)[1:]]
    evaluations = []

    def numpy_partition(k):
        t_eval = time.perf_counter()
        columns = numpy_loss_rows(laws, float(axes["student_params"][k]), inner)
        evaluations.append(time.perf_counter() - t_eval)
        table = pa.Table.from_arrays([pa.array(columns[name]) for name in schema.names], schema=schema)
        target = work / "numpy" / "loss" / f"student_size_index={k}" / "part-00000.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, **parquet_options(table.schema, loss_repeated_columns(table.schema)))

    os.sync()
    t = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:  # NumPy and pyarrow release the GIL: partitions side by side
        list(pool.map(numpy_partition, range(len(axes["student_params"]))))
    numpy_total = time.perf_counter() - t
    evaluate = sum(evaluations)

    # Same rows, whichever way they were made.
    worst = 0.0
    for k in range(len(axes["student_params"])):
        part = f"student_size_index={k}"
        ours_part = pa.concat_tables(pq.read_table(f) for f in sorted((work / "distlaw" / "loss" / part).glob("*.parquet")))
        numpy_part = pq.read_table(work / "numpy" / "loss" / part / "part-00000.parquet")
        worst = max(worst, max(float(np.max(np.abs(ours_part[c].to_numpy() / numpy_part[c].to_numpy() - 1)))
                               for c in schema.names))

    for folder in ("numpy", "warm"):
        shutil.rmtree(work / folder, ignore_errors=True)
    command = whole_command(sweep_path, work)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} on "
          f"{jax.devices()[0].platform} x{len(jax.devices())}, {time.strftime('%Y-%m-%d')}")
    print(f"sweep: {sweep_path}: {rows:,} rows x {len(schema.names)} columns, {len(files)} files, "
          f"{sum(f.stat().st_size for f in files) / 1e6:.0f} MB; {writers} writer threads")
    print(f"{'way':<40}{'seconds':>9}{'M rows/s':>10}{'vs pyarrow, 1 thread':>22}{f'vs pyarrow, {writers} threads':>22}")
    for name, seconds in (("distlaw atlas, whole command", command),
                          ("distlaw atlas (JAX, overlapped)", ours),
                          ("pyarrow-only write, 1 thread", arrow_one_thread),
                          (f"pyarrow-only write, {writers} threads (I/O limit)", arrow_only),
                          (f"numpy evaluate + pyarrow write, {writers} threads", numpy_total),
                          ("distlaw evaluate alone", ours_eval), ("numpy evaluate alone (CPU seconds)", evaluate)):
        print(f"{name:<40}{seconds:>9.2f}{rows / seconds / 1e6:>10.2f}{arrow_one_thread / seconds:>21.2f}x"
              f"{arrow_only / seconds:>21.2f}x")
    print(f"distlaw compile + first run: {first:.2f}s; largest relative difference distlaw vs numpy rows: {worst:.1e}")
    if sweep.plan_axes is not None:
        print("note: this sweep has a [plan] table, which the whole command also solves and writes (the other "
              "ways write the loss atlas alone): compare whole commands on a loss-only sweep")
    shutil.rmtree(work, ignore_errors=True)


def pyarrow_limit(source: Path, work: Path, writers: int, repeats: int = 3) -> tuple[float, float]:
    """Median seconds of pyarrow alone writing the files of ``source`` again (read into memory
    first, not timed), on one thread, then on ``writers`` threads side by side, with distlaw's
    Parquet settings (:func:`distlaw.atlas.write.parquet_options`)."""
    files = sorted((source / "loss").rglob("*.parquet"))
    tables = [(f.relative_to(source), pq.read_table(f)) for f in files]

    def write_one(item, folder):
        rel, table = item
        target = work / folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, **parquet_options(table.schema, loss_repeated_columns(table.schema)))

    out = []
    for threads in (1, writers):
        times = []
        for i in range(repeats):
            folder = f"pyarrow-{threads}-{i}"
            os.sync()
            t = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda item: write_one(item, folder), tables))
            times.append(time.perf_counter() - t)
            shutil.rmtree(work / folder)
        out.append(statistics.median(times))
    return out[0], out[1]


def writer_threads() -> int:
    """The parallel writers distlaw uses on this backend (the pyarrow-only write gets as many)."""
    from distlaw.atlas.write import writer_count

    return writer_count(jax.default_backend())


def whole_command(sweep_path: str, work: Path, repeats: int = 3) -> float:
    """Median wall time of ``distlaw atlas SWEEP -o DIR`` in a fresh process, warm compilation cache."""
    env = {**os.environ, "DISTLAW_CACHE_DIR": str(work / "cache")}
    times = []
    for i in range(repeats + 1):  # the first run fills the persistent cache
        out = work / f"command-{i}"
        os.sync()
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "distlaw", "atlas", sweep_path, "-o", str(out)], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        shutil.rmtree(out)
    return statistics.median(times[1:])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--pyarrow-limit":  # the baseline's own fresh process
        one, many = pyarrow_limit(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
        print(one, many)
    else:
        main()
