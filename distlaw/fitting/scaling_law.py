"""The fit job as one object: whatever ``distlaw fit`` does, a notebook does in a few lines.

    >>> from distlaw import ScalingLaw, FitResult
    >>> law = ScalingLaw("chinchilla", huber_delta=1e-3, ties={"beta": "alpha"})
    >>> result = law.fit("gadre2024", where="dataset == 'rpj'", holdout="params > 1e9", bootstrap=200)  # doctest: +SKIP
    >>> result.params, result.intervals, result.holdout                                              # doctest: +SKIP
    >>> result.save("fit.json"); FitResult.load("fit.json").predict(frame)                            # doctest: +SKIP

:class:`ScalingLaw` owns the law, the Huber delta, the starts, boxes, ties, fixed coefficients and
the supervised law of a distillation fit; :meth:`ScalingLaw.fit` takes run tables (paths, shipped
dataset names, or DataFrames, all validated the same way) and returns a :class:`FitResult`,
whose ``record`` is exactly the FIT.json that ``plan``, ``atlas`` and ``predict`` read. It is the
one result type of a fit: coefficients, status, intervals, groups, holdout errors, ``predict``,
``save`` and ``load``. Work runs in float64 inside distlaw's own scope; JAX's global settings
stay as the caller had them.

Bad input raises :class:`~distlaw.errors.DistlawError` subclasses naming the file, column, row or
argument; the CLI turns them into one line and exit code 2.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FitError, FitFileError, InputError
from ..io.datasets import DATASETS
from ..io.fitfile import finite_or_none, load_fit, supervised_coefficients, write_json
from ..io.progress import progress_callback
from ..io.runs import FORMATS, expression_columns, read_runs
from ..laws import user
from ..laws.catalog import DEFAULT_CI, DEFAULT_HUBER_DELTA, SUPERVISED_LAW, law_info
from ..laws.precision import float64
from ..laws.registry import LAWS, USER_LAWS, LawSpec, predict_loss
from ..version import __version__
from . import gradient, intervals, multistart, ridge, starts
from .derived import derived_quantities


@dataclasses.dataclass(frozen=True)
class ScalingLaw:
    """A law to fit, and how.

    Attributes:
      law: a built-in law's name (``distlaw.laws.catalog.LAW_NAMES``: ``chinchilla``,
        ``supervised``, ``distillation``, ``data_constrained``, ``kaplan``), a user's law as
        ``"PATH.py:FUNCTION"`` or a Python function (its boxes from ``bounds`` or its
        module's ``BOUNDS``; see :mod:`distlaw.laws.user`), or a ``LawSpec``.
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
      supervised: for a law that reads Ltilde_S (distillation), required: the supervised law, as
        a FIT.json path, ``"paper"``, a ``{name: value}`` mapping, or a table of supervised runs (a
        path or DataFrame) to fit first (the paper's procedure; recorded as ``supervised_fit``).
      chunk_rows: runs per chunk of the normal equations on a large table (default: sized from
        the device's memory; see :func:`distlaw.fitting.multistart.chunk_rows_for`).
      overestimate_weight: residuals where the law predicts a higher loss than observed count
        this many times (OLMo-core's asymmetric fit; 1: symmetric).
      priors: ``{name: (mean, sd)}``: Gaussian priors on coefficients, natural units; the
        objective gains sum (theta - mean)^2 / (2 sd^2).
      loss: ``rho(r)``, elementwise on the residuals (JAX-traceable), instead of the Huber loss.
      optimizer: an optax ``GradientTransformation`` (e.g. ``optax.adam(1e-2)``). Any of these
        four runs the fit through optax (``optax.lbfgs()`` unless given), with bounds kept by
        reparametrization; plain Huber least squares keeps the Levenberg-Marquardt solver.
    """

    law: object
    huber_delta: float = DEFAULT_HUBER_DELTA
    residuals: str = "log"
    max_iterations: int | None = None
    starts: str | int | None = None
    seed: int = 0
    fixed: Mapping[str, float] | None = None
    ties: Mapping[str, str] | None = None
    bounds: Mapping[str, tuple] | None = None
    supervised: object = None
    chunk_rows: int | None = None
    overestimate_weight: float = 1.0
    priors: Mapping[str, tuple] | None = None
    loss: object = None
    optimizer: object = None

    @float64
    def fit(
        self,
        runs,
        *,
        where: str | None = None,
        column_map: Mapping[str, str] | None = None,
        holdout: str | None = None,
        group_by: str | Sequence[str] | None = None,
        bootstrap: int = 0,
        ci: float = DEFAULT_CI,
        warm_start: str | Path | None = None,
        run_id: str | None = None,
        weights: str | None = None,
        progress: bool | None = None,
    ) -> FitResult:
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
          run_id: a column naming the training run of each row (a table of checkpoints holds
            several rows per run): the bootstrap then resamples whole runs (a cluster
            bootstrap), and the record counts runs (``n_runs``) as well as rows (``n_rows``).
          weights: a column of run weights w_i >= 0: the objective becomes sum_i w_i rho(r_i)
            (0 leaves a run out; the bootstrap draws runs uniformly and keeps their weights).
          progress: progress bars on stderr for the fit and the bootstrap (None: only when
            stderr is a terminal; True: always; False: never).
        Returns:
          a :class:`FitResult`.
        """
        spec = user.resolve(self.law, self.bounds)
        box = multistart.constraints(spec, self.fixed, self.ties, self.bounds)  # validate before any work
        supervised, supervised_fit = self._supervised_law(spec)
        sup_params = LAWS[SUPERVISED_LAW].from_natural(supervised) if supervised is not None else None
        if self.chunk_rows is not None and not (isinstance(self.chunk_rows, int) and self.chunk_rows >= 1):
            raise InputError(f"chunk_rows must be a whole number >= 1, got {self.chunk_rows!r}",
                             argument="chunk_rows")
        table = read_runs(runs, required=spec.input_columns + (spec.target_column,),
                          optional=spec.optional_columns, column_map=column_map, where=where,
                          keep=(run_id,) if run_id else (), columns=_columns_read(group_by, holdout),
                          weights=weights)
        notes = list(table.notes)
        start_points = self._start_points(spec, box, warm_start, notes)

        held = _holdout_mask(table.frame, holdout)
        train = table.frame if held is None else table.frame[~held]
        group_keys, parts = _groups(train, group_by, table.sources)
        _require_enough_runs(spec, box, [("", train), *(
            (", group " + ", ".join(f"{k}={v}" for k, v in key.items()), part)
            for key, part in zip(group_keys, parts, strict=True))], weights)
        problems = multistart.stack_data([
            multistart.fit_data(spec, part, supervised=sup_params, weights=part[weights].to_numpy() if weights else None)
            for part in [train, *parts]])
        clusters = _clusters([train, *parts], run_id, table.sources)
        options = gradient.ObjectiveOptions(self.overestimate_weight, self.priors, self.loss, self.optimizer)
        if options.general:  # checked before any work
            gradient.general_objective(box, box.objective(self.huber_delta, self.residuals), options)
        settings = {"fixed": self.fixed, "ties": self.ties, "bounds": box.bounds, "residuals": self.residuals,
                    "max_iterations": self.max_iterations, "delta": self.huber_delta, "chunk_rows": self.chunk_rows,
                    "options": options}

        # A law with a ridge, from distlaw's own design: the design walks the ridge coordinates,
        # and the law's coordinates polish its best optima (distlaw.fitting.ridge).
        ridge_design = None
        if (self.starts is None or str(self.starts).isdigit()) and ridge.applies(spec, self.fixed, self.ties, self.bounds):
            count = spec.default_starts if self.starts is None else int(self.starts)
            ridge_design = ridge.ridge_starts(spec, count, seed=self.seed)
            # Polished beside the ridge's optima: an earlier fit's optima and the published presets.
            start_points = np.concatenate([self._warm_points(spec, warm_start), starts.preset_points(spec)])
        t0 = time.perf_counter()
        if len(parts) > MANY_GROUPS:
            solutions = _fit_many_groups(spec, problems, start_points, self.seed, progress, settings)
        else:
            solutions = multistart.fit_many(spec, problems, start_points, progress=_bar("fit", progress),
                                            ridge_starts=ridge_design, **settings)
        timings = {"fit": time.perf_counter() - t0}
        if solutions[0].failed:
            raise FitError(f"every start of the {spec.name} fit failed (the objective is not finite anywhere tried)")

        record = self._record(solutions[0])
        # The run-to-run noise of the log loss, for prediction intervals (distlaw.fitting.intervals).
        record["residual_scale"] = multistart.log_residual_scale(box, solutions[0].params,
                                                                 multistart.select(problems, slice(0, 1)))
        if spec.info.origin is not None:  # a user's law: what predict, report and plan load again
            record["law_source"] = dict(spec.info.origin)
        record.update(starts=str(self.starts if self.starts is not None else "default"), seed=self.seed,
                      fixed=dict(box.fixed), **box.record(), sources=list(table.sources), notes=notes,
                      distlaw_version=__version__)
        if supervised is not None:
            record["supervised"] = supervised
        if supervised_fit is not None:
            record["supervised_fit"] = supervised_fit
        if held is not None:
            record["holdout"] = _holdout_errors(spec, solutions[0], table.frame[held], sup_params, holdout)
        if group_keys:
            record["groups"] = [{"key": key, **self._record(s)}
                                for key, s in zip(group_keys, solutions[1:], strict=True)]
        if weights:
            record["weights"] = weights
        record.update(options.record())
        if options.general:
            record["notes"].append("standard errors and identifiability flags are computed for Huber least "
                                   "squares only; this objective was minimized with " + record["optimizer"])
        if clusters is not None:
            record["run_id"] = run_id
            for entry, ids in zip([record, *record.get("groups", [])], clusters, strict=True):
                entry.update(n_rows=entry["n_runs"], n_runs=int(len(np.unique(ids[ids >= 0]))))
        replicates = [None] * len(solutions)
        if bootstrap:
            t1 = time.perf_counter()
            replicates = _add_bootstrap(record, spec, problems, solutions, bootstrap, ci, self.seed, progress,
                                        settings, _padded(clusters, problems))
            timings["bootstrap"] = time.perf_counter() - t1
        # What the data pin down where single coefficients trade off: the pooled fit's and each group's.
        for entry, solution, samples in zip([record, *record.get("groups", [])], solutions, replicates, strict=True):
            combinations = derived_quantities(spec, solution.params, box, solution.covariance, samples,
                                              record.get("ci"))
            if combinations:
                entry["derived"] = combinations
        return FitResult(record, timings)

    def _start_points(self, spec: LawSpec, box: multistart.Constraints, warm_start, notes: list) -> np.ndarray:
        """The starts of this fit (optimizer space): the design or file, plus an earlier fit's optima."""
        points = starts.resolve_starts(spec, self.starts, seed=self.seed)
        if self.starts is not None and not (self.starts == "paper" or str(self.starts).isdigit()):
            outside = np.flatnonzero(box.outside(points))
            if len(outside):
                notes.append(f"{len(outside)} of {len(points)} rows of {self.starts} lie outside the box "
                             f"(first: row {outside[0] + 1}); they were clipped into it")
        return np.concatenate([self._warm_points(spec, warm_start), points])

    def _warm_points(self, spec: LawSpec, warm_start) -> np.ndarray:
        """An earlier fit's optima (pooled and per group), optimizer space; none without one."""
        if warm_start is None:
            return np.zeros((0, len(spec.fields)))
        old = load_fit(str(warm_start))
        if old["law"] != spec.name:
            raise InputError(f"warm_start {warm_start}: a {old['law']} fit, not {spec.name}", argument="warm_start")
        previous = [old["params"]] + [g["params"] for g in old.get("groups", [])]
        return np.array([np.asarray(spec.from_natural(p), dtype=np.float64) for p in previous])

    def _supervised_law(self, spec: LawSpec) -> tuple[dict | None, dict | None]:
        """(supervised coefficients, the record of a supervised fit made first, if any)."""
        if not spec.needs_supervised:
            if self.supervised is not None:
                raise InputError(f"supervised applies to laws that read Ltilde_S (distillation), not {spec.name}",
                                 argument="supervised")
            return None, None
        source = self.supervised
        if source is None:
            raise InputError(f"supervised is required by the {spec.name} law: FIT.json|paper|SUPERVISED_RUNS, the "
                             "supervised law that gives each student's Ltilde_S (a fit of your own supervised runs, "
                             "a table of them to fit first, or `paper` for Table 6's)", argument="supervised")
        if isinstance(source, Mapping):
            return dict(source), None
        if isinstance(source, pd.DataFrame) or _is_run_table(source):
            first = ScalingLaw(SUPERVISED_LAW, huber_delta=self.huber_delta, seed=self.seed).fit(source)
            keep = ("params", "objective", "huber_delta", "n_runs", "on_bound", "unidentified", "sources")
            return first.params, {key: first.record[key] for key in keep}
        return supervised_coefficients(str(source)), None

    def _record(self, solution: multistart.Solution) -> dict:
        """The FIT.json fields of one problem's solution."""
        return {
            "law": solution.law,
            "params": solution.natural,
            "objective": solution.objective,
            # JSON has no infinity: plain least squares is recorded as null.
            "huber_delta": self.huber_delta if math.isfinite(self.huber_delta) else None,
            "residuals": self.residuals,
            "n_runs": solution.n_runs,
            "n_starts": solution.n_starts,
            "converged_fraction": solution.converged_fraction,
            "status_counts": solution.status_counts,
            "on_bound": list(solution.on_bound),
            "stopped_early": solution.stopped_early,
            "unidentified": list(solution.unidentified),
            # null: no finite standard error (a direction the data cannot see at all)
            "std_errors": finite_or_none(dict(solution.std_errors)),
            # A large table: the starts were screened on a subsample, the best few polished.
            **({"screening": {"runs": solution.screen_runs, "starts": solution.n_starts,
                              "polished": solution.polished}} if solution.screen_runs else {}),
            # A law with a ridge: this many starts walked it first (distlaw.fitting.ridge), and
            # status_counts / converged_fraction describe the polish of their best optima.
            **({"ridge_walk": {"starts": solution.ridge_starts,
                               "polished": solution.n_starts - solution.ridge_starts}} if solution.ridge_starts else {}),
        }


@dataclasses.dataclass
class FitResult:
    """A finished fit: its FIT.json ``record``, and what one does with it.

    Attributes:
      record: the FIT.json contents (see the README for its keys).
      timings: seconds spent fitting (and bootstrapping).
    """

    record: dict
    timings: dict = dataclasses.field(default_factory=dict)
    messages: list = dataclasses.field(default_factory=list)  # said on loading (a law file that changed)

    law = property(lambda self: self.record["law"])
    params = property(lambda self: self.record["params"])
    objective = property(lambda self: self.record.get("objective"))
    intervals = property(lambda self: self.record.get("intervals", {}))
    std_errors = property(lambda self: self.record.get("std_errors", {}))
    holdout = property(lambda self: self.record.get("holdout"))
    groups = property(lambda self: self.record.get("groups", []))
    on_bound = property(lambda self: self.record.get("on_bound", []))
    unidentified = property(lambda self: self.record.get("unidentified", []))
    stopped_early = property(lambda self: bool(self.record.get("stopped_early", False)))
    converged_fraction = property(lambda self: self.record.get("converged_fraction"))
    notes = property(lambda self: self.record.get("notes", []))

    @property
    def status(self) -> str:
        """``stopped_early`` (the best start hit the iteration limit still descending),
        ``on_bound`` / ``unidentified`` (the coefficients need reading with care) or ``ok``."""
        if self.stopped_early:
            return "stopped_early"
        if self.on_bound:
            return "on_bound"
        if self.unidentified:
            return "unidentified"
        return "ok"

    @float64
    def predict(self, runs, *, column_map: Mapping[str, str] | None = None, where: str | None = None) -> np.ndarray:
        """Predicted loss (nats per token) for run tables (paths, names, DataFrames) or for a
        tuple of arrays in the law's input order (N, D[, L_T])."""
        spec = user.resolve(self.law)
        if isinstance(runs, tuple):
            inputs = [np.asarray(x, dtype=np.float64) for x in runs]
        else:
            frame = read_runs(runs, required=spec.input_columns, column_map=column_map, where=where).frame
            inputs = [frame[c].to_numpy() for c in spec.input_columns]
        return self._predict_inputs(spec, inputs)

    @float64
    @float64
    def predictions(self, runs, *, column_map: Mapping[str, str] | None = None,
                    where: str | None = None, interval: float | None = None) -> pd.DataFrame:
        """The run tables (validated as ``distlaw predict`` reads them) with a ``predicted_loss`` column.

        With ``interval`` (a coverage such as 0.9; the fit must have bootstrap replicates),
        also ``confidence_lo``/``confidence_hi`` (where the law's value lies: the replicates'
        spread) and ``prediction_lo``/``prediction_hi`` (where a new run's observed loss lies:
        that spread and the run-to-run noise ``residual_scale``), nested around the point
        prediction; see :mod:`distlaw.fitting.intervals`. Nothing is refitted.
        """
        spec = user.resolve(self.law)
        if interval is not None:
            level = intervals.check_level(interval)
            names, values = intervals.replicate_samples(self.record)
            if self.record.get("residual_scale") is None:
                raise FitFileError("prediction intervals need the fit's residual_scale: refit with this distlaw")
        frame = read_runs(runs, required=spec.input_columns, column_map=column_map, where=where).frame.copy()
        inputs = [frame[c].to_numpy() for c in spec.input_columns]
        frame["predicted_loss"] = self._predict_inputs(spec, inputs)
        if interval is None:
            return frame
        sup = LAWS[SUPERVISED_LAW].from_natural(self.record["supervised"]) if spec.needs_supervised else None
        # [B, 1] coefficient columns broadcast against a chunk of rows: [B, rows] predictions.
        replicates = np.array([np.asarray(spec.from_natural(dict(zip(names, row, strict=True)))) for row in values])
        batched = spec.params_type(*(replicates[:, k:k + 1] for k in range(replicates.shape[1])))

        def replicate_log(rows):
            return np.log(np.asarray(predict_loss(spec, batched, *(x[rows] for x in inputs), supervised=sup)))

        bounds = intervals.bounds(np.log(frame["predicted_loss"].to_numpy()), replicate_log,
                                  float(self.record["residual_scale"]), level)
        for key, value in bounds.items():
            frame[key] = value
        return frame

    def _predict_inputs(self, spec: LawSpec, inputs: list) -> np.ndarray:
        sup = LAWS[SUPERVISED_LAW].from_natural(self.record["supervised"]) if spec.needs_supervised else None
        return np.asarray(predict_loss(spec, spec.from_natural(self.params), *inputs, supervised=sup))

    def save(self, path: str | Path) -> Path:
        """Write the FIT.json atomically (a reader never sees half a file)."""
        write_json(self.record, path)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> FitResult:
        """A FIT.json (validated: law, coefficients) or a preset name such as ``paper``.

        A user's law is built again from its file, or from the source stored in the fit when
        the file changed or is gone (``messages`` says which)."""
        record = load_fit(str(path))
        info = law_info(record["law"])
        if info.origin is None or record["law"] in USER_LAWS:
            return cls(record)
        _, note = user.spec_from_origin(info)
        return cls(record, messages=[note] if note else [])


# Above this many groups, every group starts from the pooled fit's distinct optima and a small
# design, all run to convergence, instead of from the whole start design (benchmarks/README.md).
MANY_GROUPS = 16
GROUP_DESIGN_STARTS = 32


def _fit_many_groups(spec: LawSpec, problems, start_points, seed: int, progress, settings: dict) -> list:
    """The pooled fit (problem 0) from every start, then all groups in one batched call, each
    from the pooled fit's distinct optima plus ``GROUP_DESIGN_STARTS`` design starts."""
    first = multistart.select(problems, slice(0, 1))
    pooled = multistart.fit_many(spec, first, start_points, progress=_bar("fit", progress), **settings)[0]
    warm = pooled.local_optima if pooled.local_optima is not None and len(pooled.local_optima) else pooled.params[None]
    group_starts = np.concatenate([warm, starts.design_starts(spec, GROUP_DESIGN_STARTS, seed=seed)])
    groups = multistart.fit_many(spec, multistart.select(problems, slice(1, None)), group_starts,
                                 progress=_bar("groups", progress), **settings)
    return [pooled, *groups]


def _require_enough_runs(spec: LawSpec, box, tables, weights: str | None) -> None:
    """Refuse an underdetermined fit, with fewer runs than free coefficients: a whole family of
    coefficients would pass through every run. (As many runs as coefficients is allowed: it
    fits exactly, and the identifiability flags say what that is worth.)"""
    needed = box.n_free
    for label, frame in tables:
        n_runs = int((frame[weights] > 0).sum()) if weights else len(frame)
        if n_runs < needed:
            raise InputError(f"{n_runs} run{'s' if n_runs != 1 else ''}{label} cannot determine the {spec.name} law's "
                             f"{box.n_free} free coefficients: it needs at least {needed} runs, or fixed or tied "
                             "coefficients (--fix, --tie)", argument="runs")


def _bar(label: str, progress: bool | None):
    return progress_callback(label, "starts", progress)


def _add_bootstrap(record: dict, spec: LawSpec, problems, solutions, resamples: int, ci: float, seed: int,
                   progress, settings: dict, clusters=None) -> list[dict]:
    """Bootstrap intervals for the pooled fit and every group's, all replicates in one batched call.

    Returns each problem's replicates (pooled first), ``{"names", "values"}`` in natural form;
    FIT.json keeps the pooled fit's alone."""
    per_problem = multistart.bootstrap_many(spec, problems, solutions, resamples, seed=seed, ci=ci,
                                            progress=_bar("bootstrap", progress), clusters=clusters, **settings)
    pooled = per_problem[0]
    record.update(intervals=pooled.intervals, ci=ci, bootstrap=resamples, bootstrap_failed=pooled.n_failed,
                  # The replicates themselves, so atlases can draw per-point quantiles from them.
                  bootstrap_samples={"names": list(spec.natural_names), "values": pooled.samples.tolist()})
    for group, result in zip(record.get("groups", []), per_problem[1:], strict=True):
        group["intervals"] = result.intervals
        group["bootstrap_failed"] = result.n_failed
    return [record["bootstrap_samples"], *({"names": list(spec.natural_names), "values": result.samples.tolist()}
                                           for result in per_problem[1:])]


def _columns_read(group_by, holdout: str | None) -> list[str] | None:
    """Columns a fit reads beyond the law's own (Parquet is read for these only), or None (all)
    when the holdout expression cannot be parsed for the names it uses."""
    names = [c.strip() for c in group_by.split(",")] if isinstance(group_by, str) else list(group_by or [])
    if holdout:
        used = expression_columns(holdout)
        if used is None:
            return None
        names += sorted(used)
    return names


def _clusters(parts: list[pd.DataFrame], run_id: str | None, sources) -> list[np.ndarray] | None:
    """Per part (the pooled training runs, then each group), an integer run index per row."""
    if not run_id:
        return None
    if run_id not in parts[0].columns:
        raise InputError(f"run_id: no column {run_id!r} in {', '.join(sources)}", argument="run_id")
    return [pd.factorize(part[run_id], use_na_sentinel=False)[0].astype(np.int64) for part in parts]


def _padded(clusters: list[np.ndarray] | None, problems) -> list[np.ndarray] | None:
    """Run indices padded with -1 to the stacked problems' length (padding rows belong to no run)."""
    if clusters is None:
        return None
    n = int(np.asarray(problems.weights).shape[-1])
    return [np.concatenate([ids, np.full(n - len(ids), -1, np.int64)]) for ids in clusters]


def _is_run_table(source) -> bool:
    """A path naming a run table or a folder of them (as opposed to a FIT.json or a preset)."""
    path = Path(str(source))
    return path.is_dir() or path.suffix.lower() in FORMATS or str(source) in DATASETS


def _holdout_mask(frame: pd.DataFrame, expression: str | None) -> np.ndarray | None:
    if not expression:
        return None
    try:
        mask = frame.eval(expression).to_numpy(dtype=bool)
    except Exception as err:  # noqa: BLE001 -- pandas' eval raises many kinds; all are bad input
        raise InputError(f"holdout {expression!r}: {err}", argument="holdout") from None
    if mask.all() or not mask.any():
        raise InputError(f"holdout {expression!r} must select some runs but not all "
                         f"(selects {int(mask.sum())} of {len(frame)})", argument="holdout")
    return mask


def _groups(train: pd.DataFrame, group_by, sources) -> tuple[list[dict], list[pd.DataFrame]]:
    if not group_by:
        return [], []
    columns = [c.strip() for c in group_by.split(",")] if isinstance(group_by, str) else list(group_by)
    missing = [c for c in columns if c not in train.columns]
    if missing:
        raise InputError(f"group_by: no column(s) {missing} in {', '.join(sources)}", argument="group_by")
    keys, parts = [], []
    for key, part in train.groupby(columns, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        keys.append({c: v.item() if hasattr(v, "item") else v for c, v in zip(columns, key, strict=True)})
        parts.append(part)
    return keys, parts


def _holdout_errors(spec: LawSpec, solution, held: pd.DataFrame, sup_params, expression: str) -> dict:
    inputs = [held[c].to_numpy() for c in spec.input_columns]
    predicted = np.asarray(predict_loss(spec, spec.params_type(*solution.params), *inputs, supervised=sup_params))
    rel = np.abs(predicted / held[spec.target_column].to_numpy() - 1)
    return {"expression": expression, "n": len(held),
            "max_abs_rel_error": float(rel.max()), "mean_abs_rel_error": float(rel.mean())}
