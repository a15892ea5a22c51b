"""Writing atlases as partitioned Parquet datasets: the one module that talks to pyarrow for them.

Layout of an atlas folder::

    loss/student_size_index=3/part-00000.parquet   # hive partitions, zstd, one declared schema
    plan/scenario=best-case/part-00000.parquet
    manifest.json                                  # files, rows, sha256 of each, the sweep, the law
    .distlaw-sweep.json                            # which sweep this folder belongs to (for resume)

Files appear atomically (a temporary name, then a rename), so a run killed at any moment leaves
only whole files; started again, it skips the chunks whose files exist and ends with the same
rows as an uninterrupted run. Device compute overlaps writing: while one chunk is compressed
and written on a background thread, the next is computed.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..version import __version__
from .evaluate import (LAW_LOSS_COLUMNS, flops_column, law_loss_rows, loss_chunk, loss_columns, loss_tables,
                       mesh_sharding)
from ..laws.compute import SCENARIOS
from ..errors import AtlasError
from ..io.files import atomic_path
from ..laws.precision import float64
from ..io.progress import progress_callback
from .sweep import Sweep

UNITS = {
    "student_params": "parameters (non-embedding)",
    "teacher_params": "parameters (non-embedding)",
    "student_tokens": "tokens",
    "teacher_tokens": "tokens",
    "teacher_loss": "nats per token",
    "supervised_loss": "nats per token",
    "student_loss": "nats per token",
    "budget": "FLOPs",
    "compute_optimal_params": "parameters (non-embedding)",
    "compute_optimal_tokens": "tokens",
    "compute_optimal_loss": "nats per token",
    **{flops_column(s): "FLOPs" for s in SCENARIOS},
    # law atlases
    "params": "parameters (non-embedding)", "tokens": "tokens", "tokens_per_param": "tokens per parameter",
    "loss": "nats per token", "training_flops": "FLOPs",
}
DESCRIPTIONS = {
    "supervised_loss": "Ltilde_S: the student's loss if trained supervised on the same tokens",
    "student_loss": "L_S: the distilled student's loss (Eq. 8)",
    "teacher_loss": "L_T: the teacher's loss (supervised law at N_T, D_T, or the grid value)",
    **{flops_column(s): f"total FLOPs in the {s} scenario (Eq. 9)" for s in SCENARIOS},
    "training_flops": "3 F(N) D: training FLOPs under the sweep's compute model",
}
# Rows per second of a full loss-atlas run on the 2-core development machine, used by --dry-run
# for its time estimate: the whole command on sweeps/large.toml, 33.5M rows in 2.50-2.56 s
# (benchmarks/README.md, 2026-12-07), less for small sweeps, whose start-up weighs more.
NOMINAL_ROWS_PER_SECOND = 1.3e7


WRITER_THREADS = 2  # parallel Parquet writers on a CPU backend (see write_loss_atlas; benchmarks/README.md)
ACCELERATOR_WRITER_THREADS = 8  # ... and behind a GPU/TPU, where evaluation leaves the host's cores free


def field(name: str, type_: pa.DataType | None = None) -> pa.Field:
    meta = {"unit": UNITS.get(name, "")}
    if name in DESCRIPTIONS:
        meta["description"] = DESCRIPTIONS[name]
    return pa.field(name, type_ or pa.float64(), nullable=name not in ("student_params", "budget", "params", "tokens"),
                    metadata=meta)


def loss_schema(teacher_sizes: bool, metadata: dict, quantiles=()) -> pa.Schema:
    columns = loss_columns(teacher_sizes, quantiles)
    fields = []
    for name in columns:
        f = field(name)
        if name.startswith("student_loss_p"):
            f = f.with_metadata({"unit": "nats per token",
                                 "description": "quantile of L_S over the fit's bootstrap replicates"})
        fields.append(f)
    return pa.schema(fields, metadata={"distlaw": json.dumps(metadata)})


REPLICATE_COLUMNS = ("student_loss_lo", "student_loss_hi", "student_tokens_lo", "student_tokens_hi",
                     "teacher_params_lo", "teacher_params_hi", "teacher_tokens_lo", "teacher_tokens_hi",
                     "p_distill_better")


def plan_schema(metadata: dict, replicates: bool = False) -> pa.Schema:
    split = pa.struct([("student", pa.float64()), ("logits", pa.float64()), ("pretraining", pa.float64())])
    fields = [field("student_params"), field("budget"), field("student_tokens"), field("teacher_params"),
              field("teacher_tokens"), field("teacher_loss"), field("student_loss"), field("supervised_loss"),
              field("on_bound", pa.list_(pa.string())), field("feasible", pa.bool_()),
              field("flops_split", split), field("compute_optimal_params"), field("compute_optimal_tokens"),
              field("compute_optimal_loss")]
    if replicates:  # a fit with bootstrap replicates: the plan under uncertainty (distlaw.planning.plans)
        fields += [field(name) for name in REPLICATE_COLUMNS]
    return pa.schema(fields, metadata={"distlaw": json.dumps(metadata)})


def parquet_options(schema: pa.Schema, repeated=()) -> dict:
    """How atlas files are written: zstd, and each column's encoding chosen by measurement.

    - Dictionaries for the ``repeated`` columns, the ones that take a few values all over a
      file: a table's axes, and what depends on a few of them (:func:`loss_repeated_columns`).
    - BYTE_STREAM_SPLIT for every other float column: computed values, nearly all distinct,
      whose bytes zstd compresses far better once split into planes (the exponent bytes apart
      from the mantissa bytes). A dictionary there only costs time.
    Measured on the 16.8M-row throughput sweep's loss atlas (benchmarks/README.md): 321 MB,
    against 424 MB with dictionaries for the axes and plain floats otherwise, in the same write
    time; pyarrow's default (a dictionary tried on every column) wrote 3.4x slower.
    BYTE_STREAM_SPLIT doubles are Parquet format 2.8 (2019): pyarrow, DuckDB and polars read
    them (checked), Spark from parquet-mr 1.12.
    """
    repeated = set(repeated)
    dictionary = [name for name in schema.names if name in repeated]
    split = {f.name: "BYTE_STREAM_SPLIT" for f in schema if f.type == pa.float64() and f.name not in repeated}
    return {"compression": "zstd", "use_dictionary": dictionary, "column_encoding": split}


def loss_repeated_columns(schema: pa.Schema) -> list[str]:
    """A loss atlas's columns with few distinct values: its axes, and the teacher's loss
    (a function of N_T and D_T alone, or the axis itself in an atlas over teacher loss)."""
    return [n for n in schema.names if n in ("student_params", "student_tokens", "teacher_params", "teacher_tokens",
                                              "teacher_loss")]


def _atomic_write(table: pa.Table, path: Path, repeated) -> str:
    """Write ``table`` to ``path`` atomically (see :func:`distlaw.files.atomic_path`); returns its sha256."""
    with atomic_path(path, sync=False) as tmp:
        pq.write_table(table, tmp, **parquet_options(table.schema, repeated))
        return _sha256(tmp)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _RowCounter:
    """Counts rows written and reports them to a :func:`distlaw.progress.progress_callback`."""

    def __init__(self, total: int, enabled: bool | None):
        self.total, self.done = total, 0
        self.report = progress_callback("loss atlas", "rows", enabled)

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.report is not None:
            self.report(self.done, self.total)


def loss_plan_sizes(sweep: Sweep) -> dict:
    """Rows and columns of each table of a sweep (for --dry-run and progress)."""
    out = {}
    if sweep.kind == "law":
        if sweep.loss_axes is not None:
            out["loss"] = (int(np.prod([len(a) for a in sweep.loss_axes.values()])), len(LAW_LOSS_COLUMNS))
        if sweep.plan_axes is not None:
            out["plan"] = (len(sweep.plan_axes["budget"]), len(LAW_PLAN_COLUMNS))
        return out
    if sweep.loss_axes is not None:
        rows = int(np.prod([len(a) for a in sweep.loss_axes.values()]))
        out["loss"] = (rows, len(loss_columns("teacher_params" in sweep.loss_axes, sweep.quantiles)))
    if sweep.plan_axes is not None:
        rows = int(np.prod([len(a) for a in sweep.plan_axes.values()])) * len(sweep.scenarios)
        out["plan"] = (rows, 14)
    return out


def chunk_rows(sweep: Sweep, rows_per_partition: int, samples=None) -> int:
    """Rows of one part file: the sweep's ``chunk_rows`` (at most a partition); with quantiles,
    small enough that replicates x rows stays near 2^26 values on the device.

    The files' row ranges follow from the sweep and the fit alone (``chunk_rows``, and the
    replicate count with quantiles: both in the folder's content hash), never from the devices
    or processes, so a run resumed on another machine writes exactly the missing rows.
    """
    chunk = min(sweep.chunk_rows, rows_per_partition)
    if sweep.quantiles:
        chunk = min(chunk, max(1024, (1 << 26) // len(samples)))
    return chunk


def writer_count(backend: str) -> int:
    """Parallel Parquet writers: on a CPU backend the evaluation competes with the writers for the
    same cores (2 writers measured best on 2 cores); on an accelerator the host's cores are all
    the writers'."""
    limit = WRITER_THREADS if backend == "cpu" else ACCELERATOR_WRITER_THREADS
    return max(1, min(limit, os.cpu_count() or 1))


@float64
def write_loss_atlas(sweep: Sweep, laws, metadata: dict, progress: bool | None = None, samples=None,
                     process: tuple[int, int] = (0, 1)) -> list[dict]:
    """Evaluate and write the loss atlas of ``sweep``; returns the manifest entries of its files.

    With ``sweep.quantiles``, ``samples`` holds the bootstrap replicates (see :func:`chunk_rows`).
    ``process = (index, count)`` splits the work over processes (hosts): process i writes the
    partitions k with k % count == i, on its own local devices, and nothing needs merging
    afterwards. Chunks are computed on the device while earlier ones are encoded and written.
    """
    import jax
    import jax.numpy as jnp

    axes = sweep.loss_axes
    names = list(axes)
    inner = tuple(jnp.asarray(axes[n]) for n in names[1:])
    rows_per_partition = int(np.prod([len(axes[n]) for n in names[1:]]))
    sharding = mesh_sharding(jax.local_devices())
    n_devices = len(jax.local_devices()) if sharding is not None else 1
    if sharding is not None:
        replicated = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
    chunk = chunk_rows(sweep, rows_per_partition, samples)
    if sweep.quantiles:
        samples = jnp.asarray(samples)
    # The devices split a chunk evenly: compute a few rows past its end (dropped when written).
    compute_rows = math.ceil(chunk / n_devices) * n_devices
    schema = loss_schema("teacher_params" in axes, metadata, sweep.quantiles)
    repeated = loss_repeated_columns(schema)
    root = sweep.output / "loss"
    index, count = process
    partitions = [k for k in range(len(axes["student_params"])) if k % count == index]
    tasks = [(k, c) for k in partitions for c in range(math.ceil(rows_per_partition / chunk))]
    bar = _RowCounter(rows_per_partition * len(partitions), progress)
    entries = []

    def path_of(k, c):
        return root / f"student_size_index={k}" / f"part-{c:05d}.parquet"

    def rows_in(c):
        return min(chunk, rows_per_partition - c * chunk)

    def write(k, c, columns):
        n = rows_in(c)
        table = pa.Table.from_arrays([_float_column(columns[name][:n]) for name in schema.names], schema=schema)
        digest = _atomic_write(table, path_of(k, c), repeated)
        # The caller's dict too: no view of the chunk's memory outlives the write (the table's
        # go with this frame), so the next chunk may reuse it.
        columns.clear()
        return digest

    # Parquet encoding and zstd release the GIL: several writers encode chunks in parallel while
    # the device computes the next one. Memory stays bounded: at most ``writers`` chunks wait
    # on the host, plus the one being computed and one written chunk whose memory the next
    # computation takes over (``recycled``).
    writers = writer_count(jax.default_backend())
    pending = collections.deque()  # (path, rows, future, chunk output) of the writes in flight, oldest first
    written = []  # chunk outputs whose files are written: their memory holds the next chunks' rows
    tables = {}  # {k: loss_tables of partition k}, for the partition being computed only

    def finish_oldest():
        path, rows, future, result = pending.popleft()
        entries.append(_entry(sweep.output, path, rows, future.result()))
        bar.advance(rows)
        written.append(result)

    with ThreadPoolExecutor(max_workers=writers) as pool:
        for k, c in tasks:
            path = path_of(k, c)
            if path.exists():  # resumed: this chunk was written by an earlier run
                rows = _existing_part_rows(path, rows_in(c), metadata["content_hash"])
                entries.append(_entry(sweep.output, path, rows, _sha256(path)))
                bar.advance(rows)
                continue
            if k not in tables:
                tables = {k: loss_tables(laws, float(axes["student_params"][k]), inner)}
                if sharding is not None:  # every device reads the whole tables
                    tables[k] = jax.device_put(tables[k], replicated)
            result = loss_chunk(laws, tables[k], c * chunk, samples, written.pop() if written else None,
                                size=compute_rows, aligned=compute_rows == chunk, sharding=sharding,
                                quantiles=sweep.quantiles)  # asynchronous
            while len(pending) >= writers:
                finish_oldest()
            host = {name: np.asarray(result[name]) for name in schema.names}
            pending.append((path, rows_in(c), pool.submit(write, k, c, host), result))
        while pending:
            finish_oldest()
    return sorted(entries, key=lambda e: e["path"])


def _float_column(values: np.ndarray) -> pa.Array:
    """A float64 Arrow array over the memory of ``values`` (no copy).

    Not ``pa.array``: its first call imports pandas, 0.16 s of a 1.8 s atlas command (measured).
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])


def _existing_part_rows(path: Path, expected_rows: int, content_hash: str) -> int:
    """Rows of a part file an earlier run wrote, after checking it is this sweep's and whole.

    Files are written atomically, so a part that cannot be read, holds another sweep's rows or
    a different row count was damaged or put there from outside: refused (with what to do),
    never merged into this atlas.
    """
    try:
        meta = pq.read_metadata(path)
        origin = json.loads(meta.metadata[b"distlaw"])["content_hash"]
    except Exception as err:  # noqa: BLE001 (any unreadable file is the same user-facing problem)
        raise AtlasError(f"{path}: a damaged part file ({type(err).__name__}: {err}); delete it and rerun "
                         "to recompute it") from None
    if origin != content_hash:
        raise AtlasError(f"{path}: a part file of a different sweep or law; delete the folder or choose "
                         "another --output")
    if meta.num_rows != expected_rows:
        raise AtlasError(f"{path}: holds {meta.num_rows} rows where this sweep puts {expected_rows}; "
                         "delete it and rerun to recompute it")
    return meta.num_rows


def _entry(root: Path, path: Path, rows: int, digest: str) -> dict:
    return {"path": str(path.relative_to(root)), "rows": rows, "sha256": digest}


@float64
def write_plan_atlas(sweep: Sweep, laws, metadata: dict, replicates=None) -> list[dict]:
    """Solve and write the plan atlas: one partition per scenario (one file each). With the
    fit's bootstrap ``replicates``, every row gains the 90% percentiles and ``p_distill_better``
    of :func:`distlaw.planning.plans.plan_records`."""
    from ..laws.compute import SCENARIOS as NAMED
    from ..laws.compute import with_logit_cost, with_students
    from ..planning.optimize import plan_table
    from ..planning.plans import add_replicate_columns

    schema = plan_schema(metadata, replicates is not None)
    entries = []
    for name in sweep.scenarios:
        path = sweep.output / "plan" / f"scenario={name}" / "part-00000.parquet"
        if path.exists():
            rows = pq.read_metadata(path).num_rows
            entries.append(_entry(sweep.output, path, rows, _sha256(path)))
            continue
        scenario = None if name == "supervised" else with_logit_cost(with_students(NAMED[name], sweep.students),
                                                                         sweep.logit_cost)
        rows = plan_table(laws, sweep.plan_axes["student_params"], sweep.plan_axes["budget"], [scenario])
        if replicates is not None:
            add_replicate_columns(rows, laws, replicates, sweep.plan_axes["student_params"], sweep.plan_axes["budget"],
                                  [scenario], 0.9)
        columns = {f.name: [row.get(f.name) for row in rows] for f in schema}
        table = pa.Table.from_pydict(columns, schema=schema)
        entries.append(_entry(sweep.output, path, len(rows), _atomic_write(table, path, ("student_params", "budget"))))
    return entries


LAW_PLAN_COLUMNS = ("budget", "params", "tokens", "tokens_per_param", "loss", "on_bound")


def write_law_loss(sweep: Sweep, spec, params, metadata: dict, process: tuple[int, int] = (0, 1)) -> list[dict]:
    """The loss table of a law atlas: partition k holds size ``params[k]`` against every token
    count, in parts of at most ``chunk_rows`` rows; finished parts are kept (resume)."""
    from ..laws.compute import forward_flops

    axes = sweep.loss_axes
    tokens = axes["tokens"]
    schema = pa.schema([field(name) for name in LAW_LOSS_COLUMNS], metadata={"distlaw": json.dumps(metadata)})
    arch = sweep.architecture()
    chunk = min(sweep.chunk_rows, len(tokens))
    index, count = process
    entries = []
    for k in (k for k in range(len(axes["params"])) if k % count == index):
        n = float(axes["params"][k])
        rows = None
        for c in range(math.ceil(len(tokens) / chunk)):
            path = sweep.output / "loss" / f"params_index={k}" / f"part-{c:05d}.parquet"
            size = min(chunk, len(tokens) - c * chunk)
            if path.exists():  # resumed
                entries.append(_entry(sweep.output, path, _existing_part_rows(path, size, metadata["content_hash"]),
                                      _sha256(path)))
                continue
            if rows is None:
                rows = law_loss_rows(spec, params, n, tokens)
                rows["training_flops"] = 3.0 * float(forward_flops(n, arch)) * rows["tokens"]
            part = slice(c * chunk, c * chunk + size)
            table = pa.Table.from_arrays([_float_column(rows[name][part]) for name in LAW_LOSS_COLUMNS], schema=schema)
            entries.append(_entry(sweep.output, path, size, _atomic_write(table, path, ("params",))))
    return sorted(entries, key=lambda e: e["path"])


def write_law_plan(sweep: Sweep, spec, params, metadata: dict) -> list[dict]:
    """The plan table of a law atlas: the compute-optimal N*, D*, L* for every budget."""
    from ..planning.optimize import compute_optimal

    path = sweep.output / "plan" / "part-00000.parquet"
    if path.exists():
        rows = _existing_part_rows(path, len(sweep.plan_axes["budget"]), metadata["content_hash"])
        return [_entry(sweep.output, path, rows, _sha256(path))]
    budgets = sweep.plan_axes["budget"]
    best = compute_optimal(spec, params, budgets, sweep.architecture())
    n, d, loss = (np.asarray(a, dtype=np.float64) for a in best[:3])
    schema = pa.schema([*(field(name) for name in LAW_PLAN_COLUMNS[:-1]), field("on_bound", pa.bool_())],
                       metadata={"distlaw": json.dumps(metadata)})
    table = pa.Table.from_arrays([_float_column(budgets), _float_column(n), _float_column(d), _float_column(d / n),
                                  _float_column(loss), pa.array(np.asarray(best.on_bound), pa.bool_())], schema=schema)
    return [_entry(sweep.output, path, len(budgets), _atomic_write(table, path, ()))]


def contour_schema(metadata: dict) -> pa.Schema:
    return pa.schema([pa.field("level", pa.float64(), metadata={"unit": "nats per token"}),
                      pa.field("path", pa.int32(), metadata={"description": "line piece within the level"}),
                      pa.field("point", pa.int32(), metadata={"description": "order along the line"}),
                      pa.field("x", pa.float64(), metadata={"unit": "FLOPs", "description": "budget"}),
                      pa.field("y", pa.float64(), metadata={"unit": "parameters (non-embedding)",
                                                             "description": "student_params"})],
                     metadata={"distlaw": json.dumps(metadata)})


def write_contours(sweep: Sweep, metadata: dict, levels_step: float = 0.05) -> list[dict]:
    """Iso-loss lines of the plan atlas's student loss over (budget, student size), per scenario."""
    from .evaluate import iso_loss_lines

    schema = contour_schema(metadata)
    plan = pq.read_table(sweep.output / "plan").to_pandas()
    entries = []
    n_s, budgets = sweep.plan_axes["student_params"], sweep.plan_axes["budget"]
    if len(n_s) < 2 or len(budgets) < 2:
        return entries  # iso-loss lines need a 2-D grid (the caller says so)
    for name in sweep.scenarios:
        part = plan[plan["scenario"].astype(str) == name]
        grid = part.pivot_table(index="student_params", columns="budget", values="student_loss")
        grid = grid.reindex(index=n_s, columns=budgets).to_numpy()
        finite = grid[np.isfinite(grid)]
        if finite.size == 0:
            continue
        levels = np.arange(np.ceil(finite.min() / levels_step), np.floor(finite.max() / levels_step) + 1) * levels_step
        lines = iso_loss_lines(budgets, n_s, grid, np.round(levels, 6))
        columns = {"level": [], "path": [], "point": [], "x": [], "y": []}
        for level, path, xs, ys in lines:
            columns["level"] += [level] * len(xs)
            columns["path"] += [path] * len(xs)
            columns["point"] += list(range(len(xs)))
            columns["x"] += xs.tolist()
            columns["y"] += ys.tolist()
        path = sweep.output / "contours" / f"scenario={name}" / "part-00000.parquet"
        table = pa.Table.from_pydict(columns, schema=schema)
        entries.append(_entry(sweep.output, path, table.num_rows, _atomic_write(table, path, ("level", "path"))))
    return entries


def prepare_folder(sweep: Sweep, metadata: dict, process: tuple[int, int] = (0, 1)) -> None:
    """Claim the output folder for this sweep, or refuse one that holds a different sweep.

    A sole writer also removes temporary files left by a run killed mid-write (readers skip
    them anyway: hidden names); with several processes one of them could be another's live file.
    """
    sweep.output.mkdir(parents=True, exist_ok=True)
    marker = sweep.output / ".distlaw-sweep.json"
    if marker.exists():
        held = json.loads(marker.read_text())
        if held.get("content_hash") != metadata["content_hash"]:
            raise AtlasError(f"{sweep.output}: holds an atlas of a different sweep or law "
                             "(remove it or choose another --output)")
    else:
        _write_json(marker, {"content_hash": metadata["content_hash"], "sweep": str(sweep.path)})
    if process[1] == 1:
        for stray in sweep.output.rglob(".part-*.tmp"):
            stray.unlink()


def _manifest_name(index: int, count: int) -> str:
    return "manifest.json" if count == 1 else f"manifest.process-{index}-of-{count}.json"


def write_manifest(sweep: Sweep, metadata: dict, tables: dict, process: tuple[int, int] = (0, 1)) -> Path:
    """Write this process's manifest: every file with the rows it actually holds and its sha256."""
    partitioning = ({"loss": ["params_index"], "plan": []} if sweep.kind == "law"
                    else {"loss": ["student_size_index"], "plan": ["scenario"], "contours": ["scenario"]})
    manifest = {**metadata, "tables": {
        name: {"rows": sum(e["rows"] for e in entries), "files": entries, "partitioning": partitioning[name]}
        for name, entries in tables.items()}}
    path = sweep.output / _manifest_name(*process)
    _write_json(path, manifest)
    # Manifests of an earlier run split over another number of processes describe an older
    # layout of the same files; once this one is written, a reader must not pick them up.
    count = process[1]
    for old in sweep.output.glob("manifest.process-*-of-*.json"):
        if count == 1 or not old.name.endswith(f"-of-{count}.json"):
            old.unlink(missing_ok=True)
    return path


def _write_json(path: Path, obj) -> None:
    from ..io.fitfile import write_json

    write_json(obj, path)


def atlas_metadata(sweep: Sweep, law_record: dict) -> dict:
    """What every file and the manifest say about their origin; ``content_hash`` identifies it."""
    body = {"sweep": sweep.definition, "law": law_record, "distlaw_version": __version__}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {**body, "content_hash": digest}
