"""Atlases as one call, and a reader for finished ones: ``distlaw atlas`` and its Python twin.

    >>> import distlaw
    >>> atlas = distlaw.build_atlas("sweeps/paper.toml")                       # doctest: +SKIP
    >>> atlas = distlaw.Atlas("sweeps/atlas-paper")                            # doctest: +SKIP
    >>> atlas.to_pandas("plan", filter=("scenario", "==", "best-case"))        # doctest: +SKIP

:func:`build_atlas` writes the tables a sweep defines (loss, plan, contours; see
:mod:`distlaw.atlas_io`) and returns the :class:`Atlas`; :class:`Atlas` reads a finished atlas
folder: its manifest, the fit it came from, and each table as Arrow or pandas, from exactly the
files its manifest lists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from pathlib import Path

from ..errors import AtlasError, FitFileError, InputError, SweepError
from ..io.fitfile import finite_or_none
from ..laws.catalog import DISTILLATION_LAW
from ..laws.precision import float64
from .lookup import AtlasLookup


def join_processes(index: int = 0, count: int = 1, distributed: bool = False,
                   coordinator: str | None = None) -> tuple[int, int]:
    """(index, count) of this process among the atlas writers.

    ``distributed`` joins a ``jax.distributed`` cluster and takes its place there: with a
    ``coordinator`` HOST:PORT (``index`` and ``count`` then give this process's id and the
    number of processes), or detected from the environment (SLURM, Cloud TPU, ...). Otherwise
    ``index``/``count`` split the work among independent processes (a job array) without any
    coordination. Call it before any JAX computation.
    """
    if count < 1 or not 0 <= index < count:
        raise InputError(f"process index must be in [0, process count), got {index} of {count}")
    if distributed:
        import jax

        if coordinator:
            jax.distributed.initialize(coordinator_address=coordinator, num_processes=count, process_id=index)
        else:
            jax.distributed.initialize()
        return jax.process_index(), jax.process_count()
    return index, count


def atlas_sizes(sweep) -> dict[str, tuple[int, int]]:
    """``{table: (rows, columns)}`` a sweep (a path or :class:`~distlaw.atlas.sweep.Sweep`) would write."""
    from .write import loss_plan_sizes

    return loss_plan_sizes(_as_sweep(sweep))


def atlas_estimate(sweep, output: str | Path | None = None) -> dict:
    """What a sweep would write, before writing it (``distlaw atlas --dry-run``).

    Returns ``{"output": folder, "tables": {table: {"rows", "columns", "max_bytes", "seconds"}}}``:
    ``max_bytes`` bounds the size before compression (8 bytes a value; zstd typically halves
    it), ``seconds`` is the time at the nominal rate measured on 2 CPU cores
    (``NOMINAL_ROWS_PER_SECOND``, benchmarks/README.md).
    """
    from .write import NOMINAL_ROWS_PER_SECOND

    sweep = _as_sweep(sweep, output)
    tables = {name: {"rows": rows, "columns": columns, "max_bytes": rows * columns * 8,
                     "seconds": rows / NOMINAL_ROWS_PER_SECOND}
              for name, (rows, columns) in atlas_sizes(sweep).items()}
    return {"output": sweep.output, "tables": tables}


def bootstrap_samples(record: dict, source: str):
    """A distillation fit's bootstrap replicates in optimizer form, ``[B, 9]`` (for quantiles)."""
    import numpy as np

    from ..laws.registry import LAWS

    stored = record.get("bootstrap_samples")
    if not stored:
        raise FitFileError(f"{source}: quantiles need a fit made with bootstrap resamples "
                           "(no bootstrap_samples in it)")
    spec = LAWS[DISTILLATION_LAW]
    return np.array([np.asarray(spec.from_natural(dict(zip(stored["names"], row, strict=True))), dtype=np.float64)
                     for row in stored["values"]])


@float64
def build_atlas(
    sweep,
    *,
    output: str | Path | None = None,
    progress: bool | None = None,
    process: tuple[int, int] = (0, 1),
) -> Atlas:
    """Evaluate and write the atlas a sweep defines; returns the finished :class:`Atlas`.

    Args:
      sweep: a sweep file (TOML) path or a :class:`~distlaw.sweep.Sweep`.
      output: folder to write (default: the sweep's ``output``).
      progress: a progress bar on stderr (None: only on a terminal).
      process: (index, count) from :func:`join_processes` when several processes share the
        work; each writes its own partitions and ``manifest.process-I-of-N.json``.
    Raises:
      SweepError, FitFileError, AtlasError (a folder holding another sweep's atlas).
    """
    sweep = _as_sweep(sweep, output)
    law = _check_law(sweep)  # every mistake in the law or the grids is named before the folder exists
    with _writer_lock(sweep.output, process):
        if sweep.kind == "law":
            return _build_law_atlas(sweep, law, process)
        return _build_distillation_atlas(sweep, law, progress, process)


def _check_law(sweep) -> dict:
    """Load the sweep's law and check it against the grids (the teacher losses), writing nothing;
    returns what the atlas is built from: ``record`` (the fit), and ``spec`` (a law atlas) or
    ``laws`` and ``samples`` (a distillation atlas)."""
    from ..io.fitfile import load_fit
    from ..planning.plans import load_planning_laws

    record = load_fit(sweep.law, law=DISTILLATION_LAW)
    if sweep.kind == "law":
        from ..laws.user import resolve

        return {"record": record, "spec": resolve(record["law"])}
    laws = load_planning_laws(sweep.law, sweep.architecture(), where=f"{sweep.path}: key 'law' =")
    _check_teacher_losses(sweep, laws)
    samples = bootstrap_samples(record, sweep.law) if sweep.quantiles else None
    return {"record": record, "laws": laws, "samples": samples}


@contextlib.contextmanager
def _writer_lock(folder: Path, process: tuple[int, int]):
    """Hold the folder for this writer (one lock per process index of a shared run): a second
    ``distlaw atlas`` on the same folder is refused at once, not left to race on its files."""
    from filelock import FileLock, Timeout

    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f".distlaw-atlas.process-{process[0]}-of-{process[1]}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise AtlasError(f"{folder}: another distlaw atlas is writing this folder now; wait for it to finish "
                         "(a later run resumes where it stopped) or choose another --output") from None
    try:
        yield
    finally:
        lock.release()


def _build_distillation_atlas(sweep, law: dict, progress, process) -> Atlas:
    from .write import atlas_metadata, prepare_folder, write_contours, write_loss_atlas, write_manifest, write_plan_atlas

    record, laws, samples = law["record"], law["laws"], law["samples"]
    metadata = atlas_metadata(sweep, {"law": DISTILLATION_LAW, "params": record["params"],
                                      "supervised": record["supervised"], "source": sweep.law,
                                      "bootstrap_resamples": None if samples is None else len(samples)})
    prepare_folder(sweep, metadata, process)
    start = time.perf_counter()
    tables, notes = {}, []
    if sweep.loss_axes is not None:
        tables["loss"] = write_loss_atlas(sweep, laws, metadata, progress=progress, samples=samples, process=process)
    if sweep.plan_axes is not None and process[0] == 0:  # small: the first process writes it
        from ..planning.plans import replicate_laws

        replicates = None if sweep.law == "paper" else replicate_laws(sweep.law)
        tables["plan"] = write_plan_atlas(sweep, laws, metadata, replicates)
        tables["contours"] = write_contours(sweep, metadata)
        if not tables["contours"]:
            notes.append("no iso-loss contours: they need at least 2 student sizes and 2 budgets in [plan]")
    manifest = write_manifest(sweep, metadata, tables, process)
    return Atlas(sweep.output, manifest_path=manifest, notes=tuple(notes), seconds=time.perf_counter() - start)


def _build_law_atlas(sweep, law: dict, process) -> Atlas:
    """A law atlas (a fit of a law of params and tokens): its loss grid and its plans."""
    from .write import atlas_metadata, prepare_folder, write_law_loss, write_law_plan, write_manifest

    record, spec = law["record"], law["spec"]
    params = spec.from_natural(record["params"])
    law_record = {"kind": "law", "law": record["law"], "params": record["params"], "source": sweep.law}
    if "law_source" in record:
        law_record["law_source"] = record["law_source"]
    metadata = atlas_metadata(sweep, law_record)
    prepare_folder(sweep, metadata, process)
    start = time.perf_counter()
    tables = {}
    if sweep.loss_axes is not None:
        tables["loss"] = write_law_loss(sweep, spec, params, metadata, process)
    if sweep.plan_axes is not None and process[0] == 0:
        tables["plan"] = write_law_plan(sweep, spec, params, metadata)
    manifest = write_manifest(sweep, metadata, tables, process)
    return Atlas(sweep.output, manifest_path=manifest, seconds=time.perf_counter() - start)


def _check_teacher_losses(sweep, laws) -> None:
    """A teacher's loss must exceed the supervised law's irreducible E: no model reaches E."""
    from ..planning.plans import require_reachable_teacher_loss

    if sweep.loss_axes is not None and "teacher_loss" in sweep.loss_axes:
        require_reachable_teacher_loss(laws, float(min(sweep.loss_axes["teacher_loss"])),
                                       f"{sweep.path}: key 'loss.teacher_loss' =", error=SweepError)


def _as_sweep(sweep, output=None):
    from .sweep import Sweep, load_sweep

    if isinstance(sweep, Sweep):
        return sweep if output is None else dataclasses.replace(sweep, output=Path(output))
    return load_sweep(sweep, output=output)


class Atlas:
    """A finished atlas folder: its manifest, the law it came from, and its tables.

    ``Atlas(path)`` reads ``manifest.json``, or the ``manifest.process-I-of-N.json`` of every
    process of a shared run (all N must be there). Tables are read from the files the manifest
    lists, so a leftover or foreign file in the folder is never read.

    Attributes:
      path: the folder.
      manifest: the manifest (a shared run's tables merged; with ``manifest_path``, that one
        manifest: what :func:`build_atlas` returns to one process of a shared run).
      notes: what the run that built it had to say (empty when opened from disk).
      seconds: how long that run took (None when opened from disk).
    """

    def __init__(self, path: str | Path, *, manifest_path: Path | None = None, notes: tuple = (),
                 seconds: float | None = None):
        self.path = Path(path)
        # A process of a shared run sees its own share (its manifest) until all have finished.
        self.manifest = _load_json(manifest_path) if manifest_path is not None else _read_manifest(self.path)
        self.manifest_path = manifest_path
        self.notes, self.seconds = notes, seconds

    def __repr__(self) -> str:
        tables = ", ".join(f"{name}: {self.rows(name):,} rows" for name in self.tables)
        return f"Atlas({str(self.path)!r}; {tables})"

    @property
    def tables(self) -> list[str]:
        """Names of the tables written (``loss``, ``plan``, ``contours``)."""
        return list(self.manifest["tables"])

    @property
    def law(self) -> dict:
        """The fit the atlas evaluates: law name, coefficients, supervised law, source file."""
        return self.manifest["law"]

    def require_distillation(self, what: str) -> None:
        """AtlasError unless this is a distillation atlas (``what`` names the reader that needs one)."""
        if self.law.get("kind") == "law":
            raise AtlasError(f"{self.path}: an atlas of the {self.law['law']} law (params x tokens) has no student or "
                             f"teacher axes for {what}; read it with distlaw.Atlas({str(self.path)!r})"
                             ".to_pandas('loss') or ('plan')")

    @property
    def sweep(self) -> dict:
        """The sweep definition, as written in the sweep file."""
        return self.manifest["sweep"]

    def rows(self, table: str) -> int:
        return self._table(table)["rows"]

    def files(self, table: str) -> list[Path]:
        """The Parquet files of ``table``, as the manifest lists them."""
        return [self.path / entry["path"] for entry in self._table(table)["files"]]

    def dataset(self, table: str):
        """``table`` as a ``pyarrow.dataset.Dataset`` (hive partitions become columns)."""
        import pyarrow.dataset as ds

        files = [str(f) for f in self.files(table)]
        missing = [f for f in files if not Path(f).exists()]
        if missing:
            raise AtlasError(f"{self.path}: {len(missing)} file(s) of table {table!r} listed in the manifest "
                             f"are missing (first: {missing[0]})")
        return ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(self.path / table))

    def to_arrow(self, table: str, columns: list[str] | None = None, filter=None):
        """``table`` as a ``pyarrow.Table``; ``filter`` is a pyarrow expression or a
        ``(column, op, value)`` tuple (or a list of them, all must hold), as in pandas' ``read_parquet``."""
        import pyarrow.parquet as pq

        dataset = self.dataset(table)
        expression = pq.filters_to_expression(_as_filters(filter)) if filter is not None and not _is_expression(filter) else filter
        return dataset.to_table(columns=columns, filter=expression)

    def to_pandas(self, table: str, columns: list[str] | None = None, filter=None):
        """``table`` as a pandas DataFrame (see :meth:`to_arrow`)."""
        frame = self.to_arrow(table, columns, filter).to_pandas()
        for name in ("scenario",):
            if name in frame and str(frame[name].dtype) == "category":
                frame[name] = frame[name].astype(str)
        return frame

    def lookup(self, columns: list[str] | None = None):
        """The loss table loaded as dense grids, for lookups anywhere inside them
        (:class:`distlaw.lookup.AtlasLookup`; ``columns`` limits what is loaded)."""

        return AtlasLookup(self, columns=columns)

    def _table(self, table: str) -> dict:
        if table not in self.manifest["tables"]:
            raise AtlasError(f"{self.path}: no {table!r} table (tables: {', '.join(self.tables) or 'none'})")
        return self.manifest["tables"][table]


def _is_expression(value) -> bool:
    import pyarrow.compute as pc

    return isinstance(value, pc.Expression)


def _as_filters(value):
    if isinstance(value, tuple):
        return [value]
    return list(value)


def _read_manifest(folder: Path) -> dict:
    if not folder.is_dir():
        raise AtlasError(f"{folder}: no such folder")
    single = folder / "manifest.json"
    if single.exists():
        return _load_json(single)
    parts = sorted(folder.glob("manifest.process-*-of-*.json"))
    if not parts:
        raise AtlasError(f"{folder}: not a finished atlas (no manifest.json: the run was interrupted, "
                         "or this is not an atlas folder)")
    count = int(parts[0].stem.rsplit("-of-", 1)[1])
    expected = {folder / f"manifest.process-{i}-of-{count}.json" for i in range(count)}
    missing = sorted(expected - set(parts))
    if missing:
        raise AtlasError(f"{folder}: a {count}-process atlas with {len(missing)} process(es) unfinished "
                         f"(no {missing[0].name})")
    manifests = [_load_json(p) for p in sorted(expected)]
    merged = {**manifests[0], "tables": {}}
    for manifest in manifests:
        for name, table in manifest["tables"].items():
            into = merged["tables"].setdefault(name, {**table, "rows": 0, "files": []})
            into["rows"] += table["rows"]
            into["files"] += table["files"]
    return merged


def _load_json(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise AtlasError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tables"), dict):
        raise AtlasError(f"{path}: not an atlas manifest (no 'tables')")
    return manifest


def query_records(atlas, *, student_params, student_tokens, teacher_params=None, teacher_tokens=None,
                  teacher_loss=None, columns: list[str] | None = None, method: str = "cubic") -> list[dict]:
    """``distlaw query``: the cartesian product of the value lists given, looked up; JSON-ready rows.

    Each argument is a list of values (None: not given); every combination is one point, the
    last axis varying fastest. Non-finite results come back as None.
    """
    import numpy as np

    given = {"student_params": student_params, "student_tokens": student_tokens, "teacher_params": teacher_params,
             "teacher_tokens": teacher_tokens, "teacher_loss": teacher_loss}
    given = {name: np.asarray(values, dtype=np.float64) for name, values in given.items() if values is not None}
    if columns is not None:
        # Load only what is asked: the paper atlas's 2.1M points cost 16 MB and a read per column.
        asked, columns = columns, [c for c in columns if c not in given]
        if not columns:
            raise InputError(f"columns {', '.join(asked) or '(none)'}: only the query's own axes; name a column "
                             "to look up (or none for all)")
    table = Atlas(atlas).lookup(columns=columns)
    mesh = np.meshgrid(*given.values(), indexing="ij")
    frame = table.lookup(**{name: m.ravel() for name, m in zip(given, mesh, strict=True)}, method=method)
    return [finite_or_none({k: float(v) for k, v in row.items()}) for row in frame.to_dict(orient="records")]
