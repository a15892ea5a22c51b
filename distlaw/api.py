"""The fit job as one object: whatever ``distlaw fit`` does, a notebook does in a few lines.

    >>> from distlaw import ScalingLaw, FitReport
    >>> law = ScalingLaw("chinchilla", huber_delta=1e-3, ties={"beta": "alpha"})
    >>> report = law.fit("gadre2024", where="dataset == 'rpj'", holdout="params > 1e9", bootstrap=200)
    >>> report.params, report.intervals, report.holdout            # doctest: +SKIP
    >>> report.save("fit.json"); FitReport.load("fit.json").predict(frame)   # doctest: +SKIP

:class:`ScalingLaw` owns the law, the Huber delta, the starts, boxes, ties, fixed coefficients and
the supervised law of a distillation fit; :meth:`ScalingLaw.fit` takes run tables (paths, shipped
dataset names, or DataFrames, all validated the same way) and returns a :class:`FitReport`,
whose ``record`` is exactly the FIT.json that ``plan``, ``atlas`` and ``predict`` read.
Bad input raises ``ValueError`` (:class:`distlaw.runs.RunTableError` for tables) naming the
file, column, row or option; the CLI turns it into one line and exit code 2.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .errors import InputError


@dataclasses.dataclass(frozen=True)
class ScalingLaw:
    """A law to fit, and how.

    Attributes:
      law: ``chinchilla``, ``supervised`` or ``distillation``.
      huber_delta: Huber delta on the residuals (the paper's 1e-4; Hoffmann et al. 1e-3;
        ``math.inf``: plain least squares).
      residuals: ``"log"`` (log Lhat - log L, the paper's) or ``"linear"`` (Lhat - L, what
        ``scipy.optimize.curve_fit`` on the loss minimizes, as Gadre et al. fitted).
      max_iterations: iteration limit of a start (default 400); the record's ``stopped_early``
        says when the best start reached it still descending.
      starts: ``None`` (distlaw's design), ``"paper"``, a count, or a CSV of starts.
      seed: seed of the start design and of the bootstrap.
      fixed: ``{name: value}`` held constant (natural form).
      ties: ``{name: other}``: one shared value.
      bounds: ``{name: (lo, hi)}`` overriding the default boxes (``None`` for an open side).
      supervised: distillation only, required: the supervised law giving Ltilde_S, as a FIT.json
        path, ``"paper"``, a ``{name: value}`` mapping, or a table of supervised runs (a path or
        DataFrame) to fit first (the paper's procedure; recorded as ``supervised_fit``).
    """

    law: str
    huber_delta: float = 1e-4
    residuals: str = "log"
    max_iterations: int | None = None
    starts: str | int | None = None
    seed: int = 0
    fixed: Mapping[str, float] | None = None
    ties: Mapping[str, str] | None = None
    bounds: Mapping[str, tuple] | None = None
    supervised: object = None

    def fit(
        self,
        runs,
        *,
        where: str | None = None,
        column_map: Mapping[str, str] | None = None,
        holdout: str | None = None,
        group_by: str | Sequence[str] | None = None,
        bootstrap: int = 0,
        ci: float = 0.9,
        warm_start: str | Path | None = None,
        progress: bool | None = None,
    ) -> FitReport:
        """Fit the law to ``runs``; optionally hold runs out, fit groups, bootstrap intervals.

        Args:
          runs: a path, a shipped dataset name, a DataFrame, or a list of them.
          where: keep the rows matching a pandas query.
          column_map: ``{canonical: source}`` column renames.
          holdout: a pandas expression selecting runs to hold out; their relative error is reported.
          group_by: column(s); every group is fitted too, in the same batched call.
          bootstrap: resamples for percentile intervals (0: none).
          ci: interval coverage.
          warm_start: an earlier FIT.json whose coefficients join the starts.
          progress: progress bars on stderr for the fit and the bootstrap (None: only when
            stderr is a terminal; True: always; False: never).
        Returns:
          a :class:`FitReport`.
        """
        import time

        from . import fitting, starts
        from .fitfile import load_fit
        from .laws import LAWS, get_law
        from .runs import read_runs

        spec = get_law(self.law)
        from .progress import progress_callback

        def bar(label):
            return progress_callback(label, "starts", progress)

        box = fitting.constraints(spec, self.fixed, self.ties, self.bounds)  # validate before any work
        supervised, supervised_fit = self._supervised_law(spec)
        sup_params = LAWS["supervised"].from_natural(supervised) if supervised is not None else None
        required = spec.input_columns + (spec.target_column,)
        optional = ("teacher_params", "teacher_tokens") if spec.name == "distillation" else ()
        table = read_runs(runs, required=required, optional=optional, column_map=column_map, where=where)
        frame = table.frame
        notes = list(table.notes)

        start_points = starts.resolve_starts(spec, self.starts, seed=self.seed)
        if self.starts is not None and not (self.starts == "paper" or str(self.starts).isdigit()):
            outside = np.flatnonzero(box.outside(start_points))
            if len(outside):
                notes.append(f"{len(outside)} of {len(start_points)} rows of {self.starts} lie outside the box "
                             f"(first: row {outside[0] + 1}); they were clipped into it")
        if warm_start is not None:
            old = load_fit(str(warm_start))
            if old["law"] != spec.name:
                raise InputError(f"--warm-start {warm_start}: a {old['law']} fit, not {spec.name}")
            previous = [old["params"]] + [g["params"] for g in old.get("groups", [])]
            warm = np.array([np.asarray(spec.from_natural(p), dtype=np.float64) for p in previous])
            start_points = np.concatenate([warm, start_points])

        held = _holdout_mask(frame, holdout)
        train = frame if held is None else frame[~held]
        group_keys, parts = _groups(train, group_by, table.sources)
        problems = fitting.stack_data([fitting.fit_data(spec, part, supervised=sup_params)
                                       for part in [train, *parts]])
        constraint_kwargs = {"fixed": self.fixed, "ties": self.ties, "bounds": box.bounds,
                             "residuals": self.residuals, "max_iterations": self.max_iterations}
        t0 = time.perf_counter()
        fits = fitting.fit_many(spec, problems, start_points, delta=self.huber_delta, progress=bar("fit"),
                                **constraint_kwargs)
        elapsed = time.perf_counter() - t0
        best = fits[0]
        if best.failed:
            raise InputError(f"every start of the {spec.name} fit failed (the objective is not finite anywhere tried)")
        record = self._record(best)
        record.update(starts=str(self.starts if self.starts is not None else "default"), seed=self.seed,
                      fixed=dict(box.fixed), **box.record(), sources=list(table.sources), notes=notes,
                      distlaw_version=__version__)
        if supervised is not None:
            record["supervised"] = supervised
        if supervised_fit is not None:
            record["supervised_fit"] = supervised_fit
        if held is not None:
            record["holdout"] = _holdout_errors(spec, best, frame[held], sup_params, holdout)
        if group_keys:
            record["groups"] = [{"key": key, **self._record(f)} for key, f in zip(group_keys, fits[1:], strict=True)]
        timings = {"fit": elapsed}
        if bootstrap:
            t1 = time.perf_counter()
            # The pooled fit and every group's, all replicates in one batched call.
            per_problem = fitting.bootstrap_many(spec, problems, fits, bootstrap, seed=self.seed, ci=ci,
                                                 delta=self.huber_delta, progress=bar("bootstrap"),
                                                 **constraint_kwargs)
            pooled = per_problem[0]
            record.update(intervals=pooled.intervals, ci=ci, bootstrap=bootstrap, bootstrap_failed=pooled.n_failed,
                          # The replicates themselves, so atlases can draw per-point quantiles from them.
                          bootstrap_samples={"names": list(spec.natural_names), "values": pooled.samples.tolist()})
            for group, result in zip(record.get("groups", []), per_problem[1:], strict=True):
                group["intervals"] = result.intervals
                group["bootstrap_failed"] = result.n_failed
            timings["bootstrap"] = time.perf_counter() - t1
        return FitReport(record, timings)

    def _supervised_law(self, spec) -> tuple[dict | None, dict | None]:
        """(supervised coefficients, the record of a supervised fit made first, if any)."""
        from .fitfile import supervised_coefficients

        if spec.name != "distillation":
            if self.supervised is not None:
                raise InputError("--supervised applies to --law distillation only")
            return None, None
        source = self.supervised
        if source is None:
            raise InputError("--law distillation needs --supervised FIT.json|paper|SUPERVISED_RUNS: the supervised "
                             "law that gives each student's Ltilde_S (a fit of your own supervised runs, a table of "
                             "them to fit first, or `paper` for Table 6's)")
        if isinstance(source, Mapping):
            return dict(source), None
        if isinstance(source, pd.DataFrame) or _is_run_table(source):
            first = ScalingLaw("supervised", huber_delta=self.huber_delta, seed=self.seed).fit(source)
            keep = ("params", "objective", "huber_delta", "n_runs", "on_bound", "unidentified", "sources")
            return first.params, {key: first.record[key] for key in keep}
        return supervised_coefficients(str(source)), None

    def _record(self, fit) -> dict:
        return {
            "law": fit.law,
            "params": fit.natural,
            "objective": fit.objective,
            # JSON has no infinity: plain least squares is recorded as null.
            "huber_delta": self.huber_delta if math.isfinite(self.huber_delta) else None,
            "residuals": self.residuals,
            "n_runs": fit.n_runs,
            "n_starts": fit.n_starts,
            "converged_fraction": fit.converged_fraction,
            "status_counts": fit.status_counts,
            "on_bound": list(fit.on_bound),
            "stopped_early": fit.stopped_early,
            "unidentified": list(fit.unidentified),
            # null: no finite standard error (a direction the data cannot see at all)
            "std_errors": {name: value if np.isfinite(value) else None for name, value in fit.std_errors.items()},
        }


@dataclasses.dataclass
class FitReport:
    """A finished fit: its FIT.json ``record``, and what one does with it.

    Attributes:
      record: the FIT.json contents (see the README for its keys).
      timings: seconds spent fitting (and bootstrapping).
    """

    record: dict
    timings: dict = dataclasses.field(default_factory=dict)

    law = property(lambda self: self.record["law"])
    params = property(lambda self: self.record["params"])
    objective = property(lambda self: self.record.get("objective"))
    intervals = property(lambda self: self.record.get("intervals", {}))
    holdout = property(lambda self: self.record.get("holdout"))
    groups = property(lambda self: self.record.get("groups", []))
    on_bound = property(lambda self: self.record.get("on_bound", []))
    unidentified = property(lambda self: self.record.get("unidentified", []))
    notes = property(lambda self: self.record.get("notes", []))

    def predict(self, runs, *, column_map: Mapping[str, str] | None = None) -> np.ndarray:
        """Predicted loss (nats per token) for run tables (paths, names, DataFrames) or for a
        tuple of arrays in the law's input order (N, D[, L_T])."""
        from .laws import LAWS, get_law, predict_loss, require_x64
        from .runs import read_runs

        require_x64()
        spec = get_law(self.law)
        if isinstance(runs, tuple):
            inputs = [np.asarray(x, dtype=np.float64) for x in runs]
        else:
            frame = read_runs(runs, required=spec.input_columns, column_map=column_map).frame
            inputs = [frame[c].to_numpy() for c in spec.input_columns]
        sup = LAWS["supervised"].from_natural(self.record["supervised"]) if spec.name == "distillation" else None
        return np.asarray(predict_loss(spec, spec.from_natural(self.params), *inputs, supervised=sup))

    def save(self, path: str | Path) -> Path:
        """Write the FIT.json atomically (a reader never sees half a file)."""
        from .fitfile import write_json

        write_json(self.record, path)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> FitReport:
        """A FIT.json (validated: law, coefficients) or a preset name such as ``paper``."""
        from .fitfile import load_fit

        return cls(load_fit(str(path)))


def _is_run_table(source) -> bool:
    """A path naming a run table or a folder of them (as opposed to a FIT.json or a preset)."""
    from .datasets import DATASETS
    from .runs import FORMATS

    path = Path(str(source))
    return path.is_dir() or path.suffix.lower() in FORMATS or str(source) in DATASETS


def _holdout_mask(frame: pd.DataFrame, expression: str | None) -> np.ndarray | None:
    if not expression:
        return None
    try:
        mask = frame.eval(expression).to_numpy(dtype=bool)
    except Exception as err:  # noqa: BLE001 -- pandas' eval raises many kinds; all are bad input
        raise InputError(f"--holdout {expression!r}: {err}") from None
    if mask.all() or not mask.any():
        raise InputError(f"--holdout {expression!r} must select some runs but not all "
                         f"(selects {int(mask.sum())} of {len(frame)})")
    return mask


def _groups(train: pd.DataFrame, group_by, sources) -> tuple[list[dict], list[pd.DataFrame]]:
    if not group_by:
        return [], []
    columns = [c.strip() for c in group_by.split(",")] if isinstance(group_by, str) else list(group_by)
    missing = [c for c in columns if c not in train.columns]
    if missing:
        raise InputError(f"--group-by: no column(s) {missing} in {', '.join(sources)}")
    keys, parts = [], []
    for key, part in train.groupby(columns, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        keys.append({c: v.item() if hasattr(v, "item") else v for c, v in zip(columns, key, strict=True)})
        parts.append(part)
    return keys, parts


def _holdout_errors(spec, fit, held: pd.DataFrame, sup_params, expression) -> dict:
    from .laws import predict_loss

    inputs = [held[c].to_numpy() for c in spec.input_columns]
    predicted = np.asarray(predict_loss(spec, spec.params_type(*fit.params), *inputs, supervised=sup_params))
    rel = np.abs(predicted / held[spec.target_column].to_numpy() - 1)
    return {"expression": expression, "n": len(held),
            "max_abs_rel_error": float(rel.max()), "mean_abs_rel_error": float(rel.mean())}
