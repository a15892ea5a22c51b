"""Fitting laws to run tables: summed Huber loss of log residuals, in a box, many starts, in batch.

Objective (Appendix F of the paper; Hoffmann et al. 2022):

    J(theta) = sum_i w_i Huber_delta(log Lhat(theta; x_i) - log L_i)

with Huber_delta(r) = r^2 / 2 for |r| <= delta, delta (|r| - delta / 2) otherwise. A sum, not a
mean, as the paper wrote it. ``residuals="linear"`` uses Lhat - L instead (the residuals of
``scipy.optimize.curve_fit`` on the loss, as Gadre et al. fitted), and ``delta=math.inf`` makes
the Huber loss plain least squares. The weights w_i are 1 for a plain fit, resample counts for a
bootstrap replicate, and 0 for the padding that makes groups of different sizes one batch.

Constraints. Every coefficient lives in a box (``LawSpec.bounds``, overridable); coefficients
can be held fixed (``fixed``) or tied to another (``ties``: ``{"beta": "alpha"}`` fits one
shared exponent). The solver sees only the free coordinates z; :class:`Constraints` maps z to
the law's full optimizer-space vector theta and back.

Every fit, bootstrap and group fit goes through :func:`distlaw.fitting.solver.minimize_starts`;
they differ only in which problems (data sets) and starts they stack. The public functions run
in float64 inside their own scope (:mod:`distlaw.laws.precision`): the Huber region of
delta = 1e-4 is below the resolution of a float32 log loss.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import gradient, intervals, programs, ridge, solver
from ..errors import FitError, InputError
from ..laws.catalog import DEFAULT_HUBER_DELTA, RESIDUALS
from ..laws.registry import RIDGES, LawSpec, lookup
from ..laws.precision import float64
from ..laws.forms import supervised_log_loss
from .starts import design_starts, preset_points

CONVERGED_RTOL = 1e-6  # a start "reached the best optimum" within this relative objective
_ON_BOUND_RTOL = 1e-7  # a coefficient this close to a bound (relative, optimizer space) sits on it


class FitData(NamedTuple):
    """One data set (or a stack of them, with a leading axis) in the form the objective reads.

    Attributes:
      log_inputs: tuple of arrays, the law's inputs as natural logs (see ``LawSpec``).
      log_obs: natural log of the observed loss.
      weights: per-run weights (resample counts; 0 for padding).
      rows: in a stack, the row of ``log_inputs`` and ``log_obs`` each problem reads (problem
        p: inputs of row ``rows[p]``, weights of row p), so problems that differ only in their
        weights (bootstrap replicates) share one copy of the table; None: row p.
    """

    log_inputs: tuple
    log_obs: jnp.ndarray
    weights: jnp.ndarray
    rows: object = None


class HuberObjective(NamedTuple):
    """Summed Huber loss of log residuals over the free coordinates z; hashable, so compiled
    solver rounds are reused.

    ``source[j]`` is the index in z that the law's optimizer field j takes its value from, or
    -1 when the field is fixed at ``fixed_values[j]``; tied fields share an index. The default
    (empty ``source``) makes z the full optimizer-space vector.
    """

    law: str
    delta: float
    source: tuple = ()
    fixed_values: tuple = ()
    linear: bool = False  # residuals Lhat - L (nats) instead of log Lhat - log L

    def expand(self, z):
        """Free coordinates z -> the law's full optimizer-space vector theta."""
        if not self.source:
            return z
        fields = [z[k] if k >= 0 else jnp.asarray(v, z.dtype)
                  for k, v in zip(self.source, self.fixed_values, strict=True)]
        return jnp.stack(fields)

    def residuals(self, z, data: FitData):
        """log Lhat - log L (or Lhat - L) for every run (padding included, at weight 0)."""
        spec = lookup(self.law)
        log_fit = spec.log_loss(spec.params_type(*self.expand(z)), *data.log_inputs)
        if self.linear:
            return jnp.exp(log_fit) - jnp.exp(data.log_obs)
        return log_fit - data.log_obs

    def __call__(self, z, data: FitData):
        residual = jnp.where(data.weights > 0, self.residuals(z, data), 0.0)  # weight 0: absent
        return jnp.sum(data.weights * solver.huber(residual, self.delta))


class Covariance(NamedTuple):
    """The Huber sandwich at an optimum, over the free optimizer coordinates.

    Attributes:
      matrix: [F, F] covariance (pseudo-inverse: finite even where H is singular).
      blind: [M, F] unit directions H cannot see; a combination that moves along one of them
        has no finite variance, whatever ``matrix`` says.
    """

    matrix: np.ndarray
    blind: np.ndarray


@dataclasses.dataclass(frozen=True)
class Constraints:
    """Boxes, fixed and tied coefficients of one law, resolved to the solver's free coordinates.

    Attributes:
      spec: the law.
      bounds: ``{natural name: (lo, hi)}``, ``None`` for an open side (every coefficient).
      fixed: ``{natural name: value}`` held constant.
      ties: ``{natural name: natural name}``; the key takes the value of the (free) target.
      source: per optimizer field, its index in z, or -1 if fixed.
      fixed_values: per optimizer field, the optimizer-space value when fixed (else 0).
      lower, upper: box of z in optimizer space (logs for scale constants; -inf/inf for open).
    """

    spec: LawSpec
    bounds: Mapping[str, tuple]
    fixed: Mapping[str, float]
    ties: Mapping[str, str]
    source: tuple
    fixed_values: tuple
    lower: np.ndarray
    upper: np.ndarray

    @property
    def n_free(self) -> int:
        return len(self.lower)

    def free_names(self) -> list[str]:
        """Natural name of each free coordinate (the first field mapped to it)."""
        names = self.spec.natural_names
        return [names[self.source.index(k)] for k in range(self.n_free)]

    def objective(self, delta: float, residuals: str = "log") -> HuberObjective:
        if residuals not in RESIDUALS:
            raise InputError(f"residuals {residuals!r}: choose one of {', '.join(RESIDUALS)}", argument="residuals")
        if not delta > 0:
            raise InputError(f"huber_delta must be > 0 (inf for least squares), got {delta}", argument="huber_delta")
        return HuberObjective(self.spec.name, float(delta), self.source, self.fixed_values, residuals == "linear")

    def reduce(self, theta: np.ndarray) -> np.ndarray:
        """Full optimizer-space rows [S, P] -> free coordinates [S, K] (a tied pair takes its first field's value)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        first = [self.source.index(k) for k in range(self.n_free)]
        return theta[:, first]

    def expand(self, z: np.ndarray) -> np.ndarray:
        """Free coordinates [S, K] -> full optimizer-space rows [S, P] (NumPy)."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        source = np.asarray(self.source)
        full = np.broadcast_to(np.asarray(self.fixed_values, dtype=np.float64), (len(z), len(source))).copy()
        free = source >= 0
        full[:, free] = z[:, source[free]]
        return full

    def outside(self, theta: np.ndarray) -> np.ndarray:
        """Which rows of full optimizer-space starts lie outside the box (before clipping)."""
        z = self.reduce(theta)
        return np.any((z < self.lower) | (z > self.upper), axis=1)

    def on_bound(self, z: np.ndarray) -> tuple[str, ...]:
        """Natural names (tied partners included) of free coordinates sitting on a bound."""
        z = np.asarray(z, dtype=np.float64)
        hits = set()
        for k in range(self.n_free):
            for edge in (self.lower[k], self.upper[k]):
                if np.isfinite(edge) and abs(z[k] - edge) <= _ON_BOUND_RTOL * max(1.0, abs(edge)):
                    hits.add(k)
        return tuple(name for name, k in zip(self.spec.natural_names, self.source, strict=True) if k in hits)

    def record(self) -> dict:
        """The JSON-ready description FIT.json keeps: bounds, ties (fixed is recorded apart)."""
        return {"bounds": {name: list(box) for name, box in self.bounds.items()}, "ties": dict(self.ties)}


def constraints(spec: LawSpec, fixed: Mapping[str, float] | None = None, ties: Mapping[str, str] | None = None,
                bounds: Mapping[str, tuple] | None = None) -> Constraints:
    """Resolve boxes, fixed and tied coefficients of ``spec`` (natural names and values).

    ``bounds`` overrides the law's default box per coefficient, ``(lo, hi)`` with ``None`` for
    an open side. Scale constants (E, A, B, d1) are fitted as logs, so their lower bound must be
    >= 0 (0 or ``None`` leaves log space open). A tie ``{"beta": "alpha"}`` fits one value for
    both, inside the intersection of their boxes; both must be of the same kind (both logs or
    both plain) and neither fixed. Every mistake raises ``ValueError`` naming the coefficient.
    """
    names = spec.natural_names
    is_log = {name: field.startswith("log_") for name, field in zip(names, spec.fields, strict=True)}

    def known(name: str, what: str) -> None:
        if name not in names:
            argument = what if what in ("bounds", "ties") else None
            raise InputError(f"{what} {name!r}: law {spec.name!r} has coefficients {list(names)}", argument=argument)

    box = {name: tuple(spec.bounds[name]) for name in names}
    for name, (lo, hi) in (bounds or {}).items():
        known(name, "bounds")
        if lo is not None and hi is not None and not lo < hi:
            raise InputError(f"bounds {name}: lower bound {lo:g} must be below upper bound {hi:g}", argument="bounds")
        if is_log[name] and lo is not None and lo < 0:
            raise InputError(f"bounds {name}: {name} is positive (fitted as a log); its lower bound must be >= 0", argument="bounds")
        if is_log[name] and hi is not None and hi <= 0:
            raise InputError(f"bounds {name}: {name} is positive (fitted as a log); its upper bound must be > 0", argument="bounds")
        box[name] = (lo, hi)
    fixed = dict(fixed or {})
    ties = dict(ties or {})
    for name, value in fixed.items():
        known(name, "cannot fix")
        if is_log[name] and value <= 0:
            raise InputError(f"fixed {name} must be > 0, got {value}", argument="fixed")
    for name, target in ties.items():
        known(name, "ties")
        known(target, "ties")
        if name == target or target in ties:
            raise InputError(f"ties {name}={target}: tie a coefficient to a different, untied one", argument="ties")
        if name in fixed or target in fixed:
            raise InputError(f"ties {name}={target}: a fixed coefficient cannot be tied", argument="ties")
        if is_log[name] != is_log[target]:
            raise InputError(f"ties {name}={target}: one is a positive scale constant, the other is not", argument="ties")

    def to_optimizer(name, value, side):
        if value is None or (is_log[name] and value == 0):
            return -math.inf if side == "lo" else math.inf
        return math.log(value) if is_log[name] else float(value)

    # Free, untied coefficients get a slot of z each, in field order; a tied one shares its
    # target's slot, whose box becomes the intersection of the two.
    slot = {}
    lower, upper = [], []
    for name in names:
        if name not in fixed and name not in ties:
            slot[name] = len(lower)
            lower.append(to_optimizer(name, box[name][0], "lo"))
            upper.append(to_optimizer(name, box[name][1], "hi"))
    for name, target in ties.items():
        k = slot[name] = slot[target]
        lower[k] = max(lower[k], to_optimizer(name, box[name][0], "lo"))
        upper[k] = min(upper[k], to_optimizer(name, box[name][1], "hi"))
        if not lower[k] < upper[k]:
            raise InputError(f"ties {name}={target}: their boxes do not overlap", argument="ties")
    source = tuple(slot.get(name, -1) for name in names)
    fixed_values = tuple(to_optimizer(name, fixed[name], "lo") if name in fixed else 0.0 for name in names)
    return Constraints(spec, box, fixed, ties, source, fixed_values,
                       np.array(lower, dtype=np.float64), np.array(upper, dtype=np.float64))


@dataclasses.dataclass(frozen=True)
class Solution:
    """The best optimum of one problem, and how the starts fared.

    Attributes:
      law: law name.
      params: optimizer-space coefficients (the law's ``params_type`` field order).
      natural: published-form coefficients ``{name: value}``.
      objective: summed Huber loss at ``params``.
      n_runs: runs with positive weight.
      n_starts: starts tried.
      converged_fraction: share of starts ending within 1e-6 relative of the best objective
        (starts dropped by screening count as not converged).
      status_counts: ``{status name: count}`` over the starts.
      on_bound: coefficients that end on a bound of their box.
      unidentified: coefficients the data cannot pin down (see :func:`identifiability`).
      std_errors: approximate standard errors in optimizer space (logs for scale constants),
        ``{name: value}``, from the Huber sandwich at the optimum; empty when not computed.
      covariance: the sandwich covariance of the free coordinates (:class:`Covariance`), or None.
      local_optima: distinct optima found (optimizer space), best first; bootstrap warm starts.
      failed: every start failed (non-finite objective); then params are NaN.
      screen_runs: on a large table, the runs of the subsample every start was screened on
        (0: the starts ran on the whole table); see :func:`fit_many`.
      polished: on a large table, the distinct candidates polished on the whole table.
      ridge_starts: starts walked in the law's ridge coordinates first (:mod:`distlaw.fitting.ridge`;
        0: none); ``status_counts`` and ``converged_fraction`` then describe the polish of their
        best optima in the law's coordinates.
      stopped_early: the best start ended at the iteration limit, still descending: the optimum
        reported is where it stopped (``SolverConfig.max_iterations``; ``max_iterations=`` of
        :class:`distlaw.ScalingLaw`, ``--max-iterations`` on the command line, raise it).
    """

    law: str
    params: np.ndarray
    natural: dict
    objective: float
    n_runs: int
    n_starts: int
    converged_fraction: float
    status_counts: dict
    on_bound: tuple = ()
    unidentified: tuple = ()
    std_errors: dict = dataclasses.field(default_factory=dict)
    covariance: Covariance | None = None
    local_optima: np.ndarray | None = None
    failed: bool = False
    stopped_early: bool = False
    screen_runs: int = 0
    polished: int = 0
    ridge_starts: int = 0


@float64
def fit_data(spec: LawSpec, columns: Mapping[str, np.ndarray], supervised=None, weights=None) -> FitData:
    """Build :class:`FitData` from a mapping of canonical columns (natural units).

    For the distillation law, ``supervised`` (SupervisedParams, optimizer form) gives
    log Ltilde_S = log L(N_S, D_S), appended as the law's last input.
    """
    # NumPy here: data preparation runs once, and eager JAX ops would each compile.
    log_inputs = [np.log(np.asarray(columns[c], dtype=np.float64)) for c in spec.input_columns]
    if spec.needs_supervised:
        if supervised is None:
            raise InputError(f"supervised is required by the {spec.name} law (coefficients for Ltilde_S)",
                             argument="supervised")
        log_inputs.append(np.asarray(_supervised_log_loss(supervised, log_inputs[0], log_inputs[1])))
    log_obs = np.log(np.asarray(columns[spec.target_column], dtype=np.float64))
    w = np.ones_like(log_obs) if weights is None else np.asarray(weights, dtype=np.float64)
    return FitData(tuple(log_inputs), log_obs, w)


_supervised_log_loss = jax.jit(supervised_log_loss)


def stack_data(problems: Sequence[FitData]) -> FitData:
    """Stack data sets of different lengths into one batch, padding with zero-weight runs.

    Padding repeats each set's first run (a valid input, so the law stays finite) at weight 0.
    """
    n_max = max(int(p.log_obs.shape[0]) for p in problems)

    def pad(a):
        a = np.asarray(a)
        return np.concatenate([a, np.broadcast_to(a[:1], (n_max - a.shape[0],))])

    return FitData(
        log_inputs=tuple(np.stack([pad(p.log_inputs[i]) for p in problems])
                         for i in range(len(problems[0].log_inputs))),
        log_obs=np.stack([pad(p.log_obs) for p in problems]),
        weights=np.stack([np.concatenate([p.weights, np.zeros(n_max - p.weights.shape[0])])
                          for p in problems]),
    )  # fmt: skip


@float64
def fit_many(
    spec: LawSpec,
    problems: FitData,
    starts: np.ndarray | Sequence[np.ndarray],
    *,
    delta: float = DEFAULT_HUBER_DELTA,
    residuals: str = "log",
    fixed: Mapping[str, float] | None = None,
    ties: Mapping[str, str] | None = None,
    bounds: Mapping[str, tuple] | None = None,
    config: solver.SolverConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    identify: bool = True,
    max_iterations: int | None = None,
    chunk_rows: int | None = None,
    options: gradient.ObjectiveOptions | None = None,
    ridge_starts: np.ndarray | None = None,
) -> list[Solution]:
    """Fit every problem of a stacked :class:`FitData` in one batched call.

    ``ridge_starts`` (a law with a ridge, :mod:`distlaw.fitting.ridge`): starts in its ridge
    coordinates; the fit walks the ridge from them first, then polishes their best optima (and
    ``starts``) in the law's coordinates. Ignored where the ridge stage does not apply.

    ``starts`` (full optimizer-space rows) is one ``[S, P]`` array shared by all problems, or
    a list with one per problem; starts outside the box are clipped into it. A problem whose
    starts all fail comes back with ``failed=True`` (see :func:`fit` for the single-fit error).

    Tables of more than ``LARGE_TABLE_RUNS`` runs (with the default ``config``) screen the
    starts on a stratified subsample and polish the best few distinct optima on the whole
    table in chunks of ``chunk_rows`` runs (default: sized from memory, :func:`chunk_rows_for`);
    see :func:`_fit_large`. Smaller tables run every start on the whole table.

    ``options`` other than plain Huber least squares (an overestimate weight, priors, a loss,
    an optimizer) run through optax (:mod:`distlaw.fitting.gradient`) instead of the
    Levenberg-Marquardt solver; standard errors are then not computed (the sandwich is the
    Huber M-estimator's). With optax's default L-BFGS, the starts are the Huber fit's distinct
    optima (from ``starts``, by the LM solver) and ``SEEDED_DESIGN_STARTS`` design starts; an
    optimizer the caller passes starts from ``starts`` themselves.
    """
    box = constraints(spec, fixed, ties, bounds)
    n_problems = int(np.asarray(problems.weights).shape[0])
    if isinstance(starts, np.ndarray) and starts.ndim == 2:
        starts = [starts] * n_problems
    reduced = [box.reduce(s) for s in starts]
    start_problem = np.concatenate([np.full(len(s), q) for q, s in enumerate(reduced)])
    objective = box.objective(delta, residuals)
    if max_iterations is not None and max_iterations < 1:
        raise InputError(f"max_iterations must be >= 1, got {max_iterations}", argument="max_iterations")
    n_runs = int(np.asarray(problems.weights).shape[-1])
    general = options is not None and options.general
    if ridge_starts is not None and not general and ridge.applies(spec, fixed, ties, bounds):
        return _fit_along_ridge(spec, problems, starts, ridge_starts, box, delta=delta, residuals=residuals,
                                fixed=fixed, ties=ties, bounds=bounds, config=config, progress=progress,
                                identify=identify, max_iterations=max_iterations, chunk_rows=chunk_rows)
    if general:
        if options.optimizer is None and config is None:
            # The objective differs from Huber least squares only by an asymmetric weight, priors
            # or the loss: its optima lie near the Huber fit's. Start L-BFGS from those optima
            # and a small design rather than screening the whole start set with it (Muennighoff's
            # table, overestimate_weight=2: 2.25 s -> 0.37 s, the same optimum; bootstrap
            # replicates, which pass their own config, already start from the point fit).
            seeds = fit_many(spec, problems, starts, delta=delta, residuals=residuals, fixed=fixed, ties=ties,
                             bounds=bounds, identify=False, max_iterations=max_iterations)
            design = box.reduce(design_starts(spec, SEEDED_DESIGN_STARTS, seed=1))
            reduced = [np.concatenate([box.reduce(s.local_optima) if s.local_optima is not None and len(s.local_optima)
                                       else box.reduce(s.params[None]), design]) for s in seeds]
            start_problem = np.concatenate([np.full(len(s), q) for q, s in enumerate(reduced)])
        return _fit_general(box, objective, problems, reduced, start_problem, options, max_iterations, progress)
    if config is None and n_runs > LARGE_TABLE_RUNS:
        return _fit_large(box, objective, problems, reduced, max_iterations, progress, identify, chunk_rows)
    config = config or default_config(len(start_problem) // max(n_problems, 1), box.n_free)
    if max_iterations is not None:
        config = config._replace(max_iterations=int(max_iterations))
    if identify and not config.chunk:  # the Jacobian at the optimum compiles while the solver runs
        programs.prepare(_residuals_and_jacobian, "jacobian", (np.zeros(box.n_free), _take(problems, 0)),
                         objective=objective)
        programs.prepare(_log_residuals, "residuals", (np.zeros(box.n_free), _take(problems, 0)),
                         objective=box.objective(math.inf, "log"))  # for log_residual_scale
    result = solver.minimize_starts(objective, np.concatenate(reduced), start_problem, problems,
                                    box.lower, box.upper, config, progress)
    fits = []
    for q in range(n_problems):
        members = np.flatnonzero(result.problem == q)
        fits.append(_summarize(box, objective, result, members, _take(problems, q), identify))
    return fits


def _fit_along_ridge(spec, problems, starts, ridge_starts, box, *, max_iterations, progress, **settings):
    """The two stages of :mod:`distlaw.fitting.ridge`: walk in ridge coordinates, then polish the
    best optima (and ``starts``) in the law's own, for ``RIDGE_POLISH_ITERATIONS`` by default."""
    shared = {k: settings[k] for k in ("delta", "residuals", "fixed", "ties", "chunk_rows")}
    walked = fit_many(RIDGES[spec.name], problems, ridge_starts, bounds=ridge.ridge_bounds(spec, settings["bounds"]),
                      config=settings["config"], progress=progress, identify=False, max_iterations=max_iterations,
                      **shared)
    candidates = ridge.to_law(spec, walked, box)
    given = starts if isinstance(starts, list) else [starts] * len(candidates)
    polish_starts = [np.concatenate([c, np.asarray(g, dtype=np.float64).reshape(-1, len(spec.fields))])
                     for c, g in zip(candidates, given, strict=True)]
    polished = fit_many(spec, problems, polish_starts, bounds=settings["bounds"], config=settings["config"],
                        identify=settings["identify"], **shared,
                        max_iterations=max_iterations or ridge.RIDGE_POLISH_ITERATIONS)
    return [dataclasses.replace(p, ridge_starts=w.n_starts, n_starts=p.n_starts + w.n_starts)
            for p, w in zip(polished, walked, strict=True)]


def _fit_general(box, objective, problems, reduced, start_problem, options, max_iterations, progress):
    """:func:`fit_many` through optax (see :mod:`distlaw.fitting.gradient`)."""
    general = gradient.general_objective(box, objective, options)
    optimizer = options.optimizer if options.optimizer is not None else gradient.default_optimizer()
    config = gradient.OptaxConfig()
    if max_iterations is not None:
        config = config._replace(max_iterations=int(max_iterations))
    # Memory: a batch holds width x runs residuals; keep it near 2^22 values on large tables.
    n_runs = int(np.asarray(problems.weights).shape[-1])
    config = config._replace(width=max(8, min(config.width, 1 << max(0, (2**22 // max(n_runs, 1)).bit_length() - 1))))
    result = gradient.minimize_starts(general, optimizer, np.concatenate(reduced), start_problem, problems,
                                      box.lower, box.upper, config, progress)
    n_problems = int(np.asarray(problems.weights).shape[0])
    return [_summarize(box, objective, result, np.flatnonzero(result.problem == q), _take(problems, q), False)
            for q in range(n_problems)]


SEEDED_DESIGN_STARTS = 32  # design starts beside the Huber fit's optima when the optax path is seeded

# Tables larger than this screen their starts on a subsample (benchmarks/README.md, "large tables").
LARGE_TABLE_RUNS = 2_048
SCREEN_RUNS_PER_COEFFICIENT = 128  # the stratified subsample every start is screened on: 128 runs
SCREEN_RUNS = 512  # per free coefficient, at least 512 (chinchilla 640, distillation 1,152)
POLISH_CANDIDATES = 4  # at most this many distinct optima of the screening are polished on the whole table,
POLISH_GAP = 0.1  # those within 10% of the best subsample objective
_STRATA_PER_INPUT = 4  # quantile bins per log input; cells are their products


def stratified_subsample(data: FitData, size: int, seed: int = 0) -> np.ndarray:
    """Indices (sorted) of about ``size`` runs of ``data`` that keep the table's spread.

    From a uniform random draw of at most 64 x ``size`` runs (of positive weight), runs are put
    in cells (``_STRATA_PER_INPUT`` quantile bins of each log input, crossed), ordered by cell
    and at random within a cell, and taken systematically (every ``m / size``-th from a random
    offset): each cell gets its share of the sample, so the subsample covers the table as the
    table covers its inputs. The runs at the ends of every input's range (over the whole
    table) are added, as they pin the extrapolation. Every run when there are at most ``size``.
    The draw keeps the cost linear in the table and small (10^7 runs: 0.1 s).
    """
    weights = np.asarray(data.weights)
    present = np.flatnonzero(weights > 0)
    if len(present) <= size:
        return present
    rng = np.random.default_rng(seed)
    pool = np.sort(rng.choice(present, size=min(len(present), 64 * size), replace=False))
    cells = np.zeros(len(pool), dtype=np.int64)
    ends = []
    for column in data.log_inputs:
        column = np.asarray(column)
        x = column[pool]
        edges = np.quantile(x, np.linspace(0, 1, _STRATA_PER_INPUT + 1)[1:-1])
        cells = cells * _STRATA_PER_INPUT + np.searchsorted(edges, x, side="right")
        masked = np.where(weights > 0, column, np.nan)
        ends += [int(np.nanargmin(masked)), int(np.nanargmax(masked))]
    order = np.lexsort((rng.random(len(pool)), cells))
    step = len(pool) / size
    picked = order[(np.arange(size) * step + rng.random() * step).astype(np.int64)]
    return np.unique(np.concatenate([pool[picked], ends]))


def chunk_rows_for(width: int, n_params: int, budget_bytes: int | None = None) -> int:
    """Runs per chunk of the normal equations for a pool of ``width`` lanes (a power of two).

    Each lane holds one chunk's residuals, weights and Jacobian, about (K + 4) float64 per run.
    On an accelerator that reports its memory, the pool may hold a quarter of it (big chunks
    keep the device busy). On a CPU each lane's chunk stays near 1.5 MB, inside the cache:
    measured on 10^5 runs (chinchilla, 2 cores), one lane's pass over the table took 3.5 ms in
    chunks of 4,096 runs, 4.3 ms at 16,384, 6.3 ms at 65,536 and 33 ms at 262,144
    (benchmarks/README.md). Between 1,024 and 1,048,576 runs, a power of two.
    ``DISTLAW_CHUNK_ROWS`` (or ``ScalingLaw(chunk_rows=)``) overrides it.
    """
    override = os.environ.get("DISTLAW_CHUNK_ROWS")
    if override:
        return max(1, int(override))
    if budget_bytes is None:
        budget_bytes = int(1.5 * 2**20) * max(width, 1)
        try:
            stats = jax.devices()[0].memory_stats() or {}
            if jax.default_backend() != "cpu" and stats.get("bytes_limit"):
                budget_bytes = stats["bytes_limit"] // 4
        except Exception:  # noqa: BLE001 -- a backend without memory statistics
            pass
    rows = budget_bytes // (max(width, 1) * (n_params + 4) * 8)
    return int(min(max(1 << max(int(rows).bit_length() - 1, 0), 1024), 1 << 20))


def _fit_large(box, objective, problems, reduced, max_iterations, progress, identify, chunk_rows) -> list[Solution]:
    """Multi-start at the price of a few starts, for tables too large to run every start on.

    1. Every start is screened (the usual screen, then the survivors to convergence) on a
       stratified subsample of each problem (:func:`stratified_subsample`, 128 runs per free
       coefficient, at least ``SCREEN_RUNS``: on the distillation law's ridge a 512-run
       subsample led the polish into a basin 3e-4 above the table's optimum, 1,152 did not).
    2. The best ``POLISH_CANDIDATES`` distinct optima of each problem are polished on its whole
       table, the normal equations summed over chunks of runs
       (:func:`distlaw.fitting.solver.huber_pieces_chunked`): memory grows with the chunk,
       not with the table.
    The result says how many runs were screened on and how many candidates polished.
    """
    n_problems = int(np.asarray(problems.weights).shape[0])
    size = max(SCREEN_RUNS, SCREEN_RUNS_PER_COEFFICIENT * box.n_free)
    subsets = [stratified_subsample(_take(problems, q), size, seed=q) for q in range(n_problems)]
    # Padded to a multiple of 64 runs: every large table screens in the same shape, so a new
    # table size compiles nothing new (and the persistent cache serves the next command).
    screen = solver.pad_runs(stack_data([select(_take(problems, q), subset) for q, subset in enumerate(subsets)]), 64)
    start_problem = np.concatenate([np.full(len(s), q) for q, s in enumerate(reduced)])
    config = default_config(len(start_problem) // max(n_problems, 1), box.n_free)
    if max_iterations is not None:
        config = config._replace(max_iterations=int(max_iterations))
    screened = solver.minimize_starts(objective, np.concatenate(reduced), start_problem, screen, box.lower,
                                      box.upper, config, progress)
    candidates, candidate_problem = [], []
    for q in range(n_problems):
        members = np.flatnonzero(screened.problem == q)
        values = screened.value[members]
        optima, optimum_values = _distinct_optima(screened.params[members], values, POLISH_CANDIDATES,
                                                  with_values=True)
        # Polish the basins that could still be the table's best: within POLISH_GAP of the best
        # on the subsample (a basin far worse there is far worse on the table it samples).
        close = optimum_values <= optimum_values[:1] * (1 + POLISH_GAP) if len(optima) else np.zeros(0, bool)
        optima = optima[close] if len(optima) else screened.params[members[:1]]
        candidates.append(optima)
        candidate_problem.append(np.full(len(optima), q))
    candidates, candidate_problem = np.concatenate(candidates), np.concatenate(candidate_problem)
    width = min(128, 1 << max(len(candidates) - 1, 0).bit_length())
    chunk = chunk_rows or chunk_rows_for(width, box.n_free)
    problems = solver.pad_runs(problems, chunk)  # once: the polish and the sandwich read it as is
    polish_config = solver.SolverConfig(width=width, chunk=chunk, max_iterations=config.max_iterations)
    polished = solver.minimize_starts(objective, candidates, candidate_problem, problems, box.lower, box.upper,
                                      polish_config, progress)
    fits = []
    for q in range(n_problems):
        members = np.flatnonzero(polished.problem == q)
        fit = _summarize(box, objective, polished, members, _take(problems, q), identify, chunk=chunk)
        screened_members = np.flatnonzero(screened.problem == q)
        values = screened.value[screened_members]
        best = np.min(np.where(np.isfinite(values), values, np.inf))
        statuses = np.bincount(screened.status[screened_members], minlength=len(solver.STATUS_NAMES))
        fits.append(dataclasses.replace(
            fit, n_starts=len(screened_members), screen_runs=len(subsets[q]), polished=len(members),
            converged_fraction=float(np.mean(values <= best + CONVERGED_RTOL * max(abs(best), 1e-300))),
            status_counts={solver.STATUS_NAMES[k]: int(c) for k, c in enumerate(statuses) if c}))
    return fits


def select(data: FitData, index) -> FitData:
    """``data`` with every field indexed on its first axis: some runs of one data set, or some
    problems of a stack (without ``rows``)."""
    return FitData(tuple(np.asarray(x)[index] for x in data.log_inputs), np.asarray(data.log_obs)[index],
                   np.asarray(data.weights)[index])


@float64
def fit(spec: LawSpec, data: FitData, starts: np.ndarray | None = None, **kwargs) -> Solution:
    """Fit one data set from many starts (default: the law's default design; for a law with a
    ridge, that design walks the ridge first, as :meth:`distlaw.ScalingLaw.fit` does: see
    :mod:`distlaw.fitting.ridge`). See :func:`fit_many`.

    Raises :class:`~distlaw.errors.FitError` when every start fails (the objective is not finite
    anywhere tried), as :meth:`distlaw.ScalingLaw.fit` does.
    """
    if starts is None and "ridge_starts" not in kwargs and not kwargs.get("options") and \
            ridge.applies(spec, kwargs.get("fixed"), kwargs.get("ties"), kwargs.get("bounds")):
        starts, kwargs["ridge_starts"] = preset_points(spec), ridge.ridge_starts(spec, spec.default_starts)
    if starts is None:
        starts = design_starts(spec, spec.default_starts)
    stacked = jax.tree.map(lambda a: np.asarray(a)[None], data)
    result = fit_many(spec, stacked, starts, **kwargs)[0]
    if result.failed:
        raise FitError(f"every start of the {spec.name} fit failed (the objective is not finite anywhere tried)")
    return result


def default_config(starts_per_problem: int, n_free: int) -> solver.SolverConfig:
    """Screen large start sets: the best 5% (at least 16) continue after a short screen.

    How short depends on how densely the starts cover the space, ``starts ** (1 / n_free)``
    (points per coordinate of an equivalent grid), measured on the 19 real Chinchilla-form
    tables shipped with distlaw (benchmarks/README.md) against the full 4,500-start grid run
    to convergence:
    - sparse sets need 30 screening iterations: from every 15th grid start (300 starts, 3.1 per
      coordinate) 12 or 20 lost the best basin on 4 to 11 tables (starts in a degenerate basin,
      A on its floor and alpha on its ceiling, descend fastest at first), 30 on none; the
      distillation law's 2,048-start design (2.3 per coordinate) ends 6e-5 higher with 12;
    - dense grids do with 12: Hoffmann's 4,500 starts (5.4 per coordinate) keep the best basin
      on all 19 tables, and the supervised law's 9,600-start grid (4.6) reaches the same
      optimum with 12 as with 30 on four tables; with many starts per basin, some start of the
      best one ranks high early.
    So sets with at least 4 starts per coordinate get 12 screening iterations (2.5 times
    cheaper), sparser ones 30; fewer than 256 starts are all run to convergence.
    """
    if starts_per_problem < 256:
        return solver.SolverConfig()
    dense = starts_per_problem ** (1 / max(n_free, 1)) >= 4
    return solver.SolverConfig(screen_iterations=12 if dense else 30, keep=0.05, min_keep=16)


def _take(problems: FitData, q: int) -> FitData:
    """Problem ``q`` of a stack, as one data set (NumPy views, no copies)."""
    row = q if problems.rows is None else int(np.asarray(problems.rows)[q])
    return FitData(tuple(np.asarray(x)[row] for x in problems.log_inputs), np.asarray(problems.log_obs)[row],
                   np.asarray(problems.weights)[q])


def _summarize(box: Constraints, objective, result, members, data, identify, chunk: int = 0) -> Solution:
    spec = box.spec
    values = result.value[members]
    finite = np.isfinite(values)
    statuses = np.bincount(result.status[members], minlength=len(solver.STATUS_NAMES))
    status_counts = {solver.STATUS_NAMES[k]: int(c) for k, c in enumerate(statuses) if c}
    n_runs = int(np.sum(np.asarray(data.weights) > 0))
    if not finite.any():
        nan = np.full(len(spec.fields), np.nan)
        return Solution(spec.name, nan, dict.fromkeys(spec.natural_names, math.nan), math.inf, n_runs,
                         len(members), 0.0, status_counts, failed=True)
    best_local = int(np.argmin(np.where(finite, values, np.inf)))
    best_value = float(values[best_local])
    z = result.params[members[best_local]]
    params = box.expand(z)[0]
    tolerance = CONVERGED_RTOL * max(abs(best_value), 1e-300)
    unidentified, std_errors, covariance = (identifiability(box, objective, z, data, chunk=chunk) if identify
                                            else ((), {}, None))
    return Solution(
        law=spec.name,
        params=params,
        natural=spec.to_natural(params),
        objective=best_value,
        n_runs=n_runs,
        n_starts=len(members),
        converged_fraction=float(np.mean(values <= best_value + tolerance)),
        status_counts=status_counts,
        on_bound=box.on_bound(z),
        unidentified=unidentified,
        std_errors=std_errors,
        covariance=covariance,
        local_optima=box.expand(_distinct_optima(result.params[members], values)),
        stopped_early=bool(result.status[members[best_local]] == solver.MAX_STEPS),
    )


def _cluster_weights(rng, cluster: np.ndarray, base: np.ndarray, n_resamples: int) -> np.ndarray:
    """[B, n] row weights of a cluster bootstrap: draw runs, give each row its run's count."""
    ids = np.unique(cluster[(cluster >= 0) & (base > 0)])
    counts = rng.multinomial(len(ids), np.full(len(ids), 1.0 / len(ids)), size=n_resamples)
    position = np.searchsorted(ids, cluster)
    valid = (cluster >= 0) & (base > 0)
    return np.where(valid, counts[:, np.minimum(position, len(ids) - 1)] * base, 0.0).astype(np.float64)


def _distinct_optima(params, values, max_count: int = 8, rtol: float = 1e-3, with_values: bool = False):
    """Up to ``max_count`` optima with distinct objective values (relative gap > rtol), best first
    (and their values, ``with_values``)."""
    order = np.argsort(np.where(np.isfinite(values), values, np.inf))
    kept, kept_values = [], []
    for i in order:
        if not np.isfinite(values[i]):
            break
        if all(abs(values[i] - v) > rtol * abs(v) for v in kept_values):
            kept.append(params[i])
            kept_values.append(values[i])
        if len(kept) == max_count:
            break
    return (np.array(kept), np.array(kept_values)) if with_values else np.array(kept)


# A coefficient is "not identified" when its approximate 95% interval is wider than this:
# a factor of 10 either way for a scale constant (fitted as a log), or its own magnitude (and
# at least 0.05) for an exponent or other plain coefficient.
_Z95 = 1.959964
_LOG_HALF_WIDTH = math.log(10.0)
_PLAIN_FLOOR = 0.05


@float64
def identifiability(box: Constraints, objective: HuberObjective, z, data: FitData, chunk: int = 0):
    """Coefficients the data cannot pin down, judged at the optimum ``z`` by the Huber sandwich.

    With J = dr/dz at the optimum, the robust (M-estimator) covariance of the free coordinates is

        Cov = H^-1 B H^-1 * n / (n - K),   H = J^T diag(w omega) J,   B = J^T diag(w^2 psi(r)^2) J,

    psi(r) = clip(r, -delta, delta) the Huber score and omega = min(1, delta/|r|) its IRLS
    curvature (H is the Gauss-Newton matrix the solver uses). A coefficient is flagged when
    its 95% Wald half-width 1.96 sqrt(Cov_kk) exceeds ``ln 10`` (scale constants, in logs: not
    pinned down within a factor of 10) or ``max(|value|, 0.05)`` (plain coefficients: more
    than 100% uncertain). A direction H cannot see at all (singular H) gives an infinite
    variance. Coefficients on a bound are judged the same way. With ``chunk`` (a large table),
    H and B are summed over chunks of that many runs. Returns
    ``(flagged natural names, {name: standard error in optimizer space}, Covariance)``; the
    covariance (free coordinates) and the directions H cannot see give combinations of
    coefficients their standard errors (:mod:`distlaw.fitting.derived`).
    """
    spec = box.spec
    hessian, score = _sandwich_pieces(objective, z, data, chunk)
    w = np.asarray(data.weights)
    n_runs, k = float(np.sum(w > 0)), len(z)
    names = box.free_names()
    if not (np.all(np.isfinite(hessian)) and np.all(np.isfinite(score))):
        # The law overflowed at the optimum: nothing can be said of any coefficient.
        return (tuple(n for n, k in zip(spec.natural_names, box.source, strict=True) if k >= 0),
                {n: math.nan for n, k in zip(spec.natural_names, box.source, strict=True) if k >= 0}, None)
    # Solve in the scale of H's diagonal, where "singular" means "relative to the coordinate".
    scale = np.sqrt(np.maximum(np.diag(hessian), 1e-300))
    eigenvalues, vectors = np.linalg.eigh(hessian / np.outer(scale, scale))
    null = eigenvalues <= 1e-12 * max(eigenvalues.max(), 1e-300)
    inverse = (vectors[:, ~null] / eigenvalues[~null]) @ vectors[:, ~null].T / np.outer(scale, scale)
    covariance = inverse @ score @ inverse * n_runs / max(n_runs - k, 1.0)
    variance = np.diag(covariance).copy()
    # A coordinate loading on a direction H cannot see has no finite variance.
    variance[np.any(np.abs(vectors[:, null]) > 1e-3, axis=1)] = np.inf
    std_errors, flagged = {}, set()
    for k_index, name in enumerate(names):
        se = float(np.sqrt(max(variance[k_index], 0.0)))
        std_errors[name] = se
        field = spec.fields[spec.natural_names.index(name)]
        limit = _LOG_HALF_WIDTH if field.startswith("log_") else max(abs(float(z[k_index])), _PLAIN_FLOOR)
        if not _Z95 * se <= limit:
            flagged.add(k_index)
    unidentified = tuple(name for name, k in zip(spec.natural_names, box.source, strict=True) if k in flagged)
    # Directions in z that H cannot see (D^-1 v for a null vector v of D^-1 H D^-1).
    blind = (vectors[:, null] / scale[:, None]).T
    blind = blind / np.maximum(np.linalg.norm(blind, axis=1, keepdims=True), 1e-300)
    return unidentified, {n: std_errors[names[k]] for n, k in zip(spec.natural_names, box.source, strict=True)
                          if k >= 0}, Covariance(covariance, blind)


def _sandwich_pieces(objective: HuberObjective, z, data: FitData, chunk: int = 0):
    """H = J^T diag(w omega) J and B = J^T diag(w psi^2) J at z, over the runs of ``data``:
    at once in NumPy, or on the device by chunks of ``chunk`` runs when the table is larger."""
    n = int(np.asarray(data.weights).shape[0])
    if chunk and n > chunk:  # a large table: summed on the device, one chunk at a time
        padded = solver.pad_runs(jax.tree.map(lambda a: np.asarray(a)[None], data), chunk)  # a view if aligned
        hessian, score = programs.call(_sandwich_chunked, "sandwich", (jnp.asarray(z), padded), objective=objective,
                                       chunk=chunk)
        return np.asarray(hessian), np.asarray(score)
    residual, jacobian = programs.call(_residuals_and_jacobian, "jacobian", (np.asarray(z, np.float64), data),
                                       objective=objective)
    return _sandwich_terms(np, np.asarray(residual), np.asarray(jacobian), np.asarray(data.weights), objective.delta)


def _sandwich_terms(xp, residual, jacobian, w, delta):
    """The sandwich's H and B from residuals, Jacobian and weights, in NumPy or JAX (``xp``).

    psi = clip(r, -delta, delta) is the Huber score, omega = min(1, delta / |r|) its IRLS
    curvature; runs of weight 0 are absent (zeroed, so a non-finite value there cannot leak in)."""
    residual = xp.where(w > 0, residual, 0.0)
    jacobian = xp.where((w > 0)[:, None], jacobian, 0.0)
    omega = xp.minimum(1.0, delta / xp.maximum(xp.abs(residual), 1e-300))
    psi = xp.clip(residual, -delta, delta)
    # B carries w^2: the score of run i is w_i psi(r_i) J_i (weights 0/1 give w^2 = w).
    return (jacobian * (w * omega)[:, None]).T @ jacobian, (jacobian * (w**2 * psi**2)[:, None]).T @ jacobian


@partial(jax.jit, static_argnames=("objective", "chunk"))
def _sandwich_chunked(z, problems, *, objective, chunk):
    """:func:`_sandwich_pieces` of the first problem of ``problems``, by a scan over chunks."""

    def body(carry, start):
        part = solver.problem_data(problems, 0, start, chunk)
        residual, jacobian = _residuals_and_jacobian(z, part, objective=objective)
        hessian, score = _sandwich_terms(jnp, residual, jacobian, part.weights, objective.delta)
        return (carry[0] + hessian, carry[1] + score), None

    k = z.shape[0]
    zero = (jnp.zeros((k, k), z.dtype), jnp.zeros((k, k), z.dtype))
    n_runs = problems.weights.shape[-1]
    totals, _ = jax.lax.scan(body, zero, jnp.arange(0, n_runs, chunk, dtype=jnp.int32))
    return totals


def log_residual_scale(box: Constraints, theta, problems: FitData) -> float:
    """Robust sigma (:func:`distlaw.fitting.intervals.residual_scale`) of the log residuals at
    the full optimizer-space ``theta`` over the first problem's runs of positive weight.

    One compiled program (kept and stored like the solver's) on the FitData the fit already
    built: evaluating the law eagerly instead compiled each of its operations, 0.27 s of a
    small fit's cold start (measured)."""
    objective = box.objective(math.inf, "log")  # residuals only: delta plays no part
    z = box.reduce(np.asarray(theta, dtype=np.float64)[None])[0]
    data = _take(problems, 0)
    residual = np.asarray(programs.call(_log_residuals, "residuals", (z, data), objective=objective))
    return intervals.residual_scale(residual[np.asarray(data.weights) > 0])


@partial(jax.jit, static_argnames=("objective",))
def _log_residuals(z, data, *, objective):
    return objective.residuals(z, data)


@partial(jax.jit, static_argnames=("objective",))
def _residuals_and_jacobian(z, data, *, objective):
    return objective.residuals(z, data), jax.jacfwd(objective.residuals)(z, data)


class BootstrapResult(NamedTuple):
    """Percentile intervals of one fit.

    Attributes:
      intervals: ``{natural name: [lo, hi]}``.
      samples: ``[B', P]`` replicate coefficients in natural form (failed replicates left out).
      n_failed: replicates whose starts all failed (counted, never fatal).
    """

    intervals: dict
    samples: np.ndarray
    n_failed: int


@float64
def bootstrap(spec: LawSpec, data: FitData, point: Solution, n_resamples: int, **kwargs) -> BootstrapResult:
    """Percentile intervals of one fit; see :func:`bootstrap_many` (same keywords)."""
    stacked = jax.tree.map(lambda a: np.asarray(a)[None], data)
    return bootstrap_many(spec, stacked, [point], n_resamples, **kwargs)[0]


@float64
def bootstrap_many(
    spec: LawSpec,
    problems: FitData,
    points: Sequence[Solution],
    n_resamples: int,
    *,
    seed: int = 0,
    ci: float = 0.9,
    extra_starts: int = 2,
    delta: float = DEFAULT_HUBER_DELTA,
    residuals: str = "log",
    fixed: Mapping[str, float] | None = None,
    ties: Mapping[str, str] | None = None,
    bounds: Mapping[str, tuple] | None = None,
    progress: Callable[[int, int], None] | None = None,
    config: solver.SolverConfig | None = None,
    max_iterations: int | None = None,
    clusters: Sequence[np.ndarray] | None = None,
    chunk_rows: int | None = None,
    options: gradient.ObjectiveOptions | None = None,
) -> list[BootstrapResult]:
    """Percentile intervals for every problem of a stack, all replicates fitted in one batch.

    A replicate is a vector of multinomial resample counts over a problem's runs (zero on
    padding), so every replicate of every problem has the same shape and they all vmap. Each
    replicate starts from its point fit's distinct optima (at most 4) plus ``extra_starts``
    design starts, in case a resample moves the best basin. Every start gets 6 screening
    iterations and the best 2 of each replicate continue to convergence. Measured on the 295
    Muennighoff runs (benchmarks/README.md): against 72 starts run to convergence per replicate,
    this ends at the same optimum (to 1e-12) in 200 of 200 replicates, at a 40th of the cost.
    On a large table (more than ``LARGE_TABLE_RUNS`` runs) each replicate starts from the point
    optimum alone, in chunks of runs: 50 resamples of 10^5 runs took 35 s with the small
    tables' six starts and screen, 13 s from the point optimum, with the same intervals (to 7e-9).

    ``clusters`` (one integer array per problem, a run id per row, -1 on padding) makes it a
    cluster bootstrap: whole runs are drawn (multinomially, with replacement) and every row of
    a drawn run gets its count, since the checkpoints of one run are not independent. A table
    whose every run has k identical rows then gives the intervals of the one-row-per-run
    table, not intervals sqrt(k) times too narrow.

    Returns one :class:`BootstrapResult` per problem.
    """
    if n_resamples < 2:
        raise InputError(f"bootstrap needs at least 2 resamples, got {n_resamples}", argument="bootstrap")
    if not 0 < ci < 1:
        raise InputError(f"ci must be in (0, 1), got {ci}", argument="ci")
    rng = np.random.default_rng(seed)
    n_problems = int(np.asarray(problems.weights).shape[0])
    # On a large table a resample moves the optimum a little, not into another basin: each
    # replicate starts from the point optimum alone and runs to convergence (no screen).
    large = int(np.asarray(problems.weights).shape[-1]) > LARGE_TABLE_RUNS
    extra_starts = 0 if large else extra_starts
    design = design_starts(spec, extra_starts, seed=seed)[-extra_starts:] if extra_starts else np.zeros((0, len(spec.fields)))
    weights, starts = [], []
    for q, point in zip(range(n_problems), points, strict=True):
        base = np.asarray(problems.weights[q])
        if clusters is None:  # runs drawn uniformly; each keeps its own weight (1 unless the user's)
            present = base > 0
            counts = rng.multinomial(int(np.sum(present)), present / present.sum(), size=n_resamples)
            weights.append(counts * base)
        else:
            weights.append(_cluster_weights(rng, np.asarray(clusters[q]), base, n_resamples))
        warm = point.local_optima if point.local_optima is not None and len(point.local_optima) else point.params[None]
        starts += [warm[:1] if large else np.concatenate([warm[:4], design])] * n_resamples

    # Replicates differ only in their weights: they share the table (rows), never copy it.
    replicates = FitData(problems.log_inputs, problems.log_obs, np.concatenate(weights),
                         rows=np.repeat(np.arange(n_problems, dtype=np.int32), n_resamples))
    config = config or (solver.SolverConfig() if large else solver.SolverConfig(screen_iterations=6, keep=0.3,
                                                                                   min_keep=2))
    if large and not config.chunk:  # bounded memory on large tables
        config = config._replace(chunk=chunk_rows or chunk_rows_for(config.width, len(spec.fields)))
    fits = fit_many(spec, replicates, starts, delta=delta, residuals=residuals, fixed=fixed, ties=ties,
                    bounds=bounds, progress=progress, config=config, identify=False, max_iterations=max_iterations,
                    options=options)
    out = []
    for q in range(n_problems):
        chunk = fits[q * n_resamples: (q + 1) * n_resamples]
        good = [f for f in chunk if not f.failed]
        samples = np.array([[f.natural[name] for name in spec.natural_names] for f in good]).reshape(-1, len(spec.fields))
        if len(good) >= 2:
            lo, hi = np.quantile(samples, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
        else:
            lo = hi = np.full(len(spec.fields), math.nan)
        intervals = {name: [float(a), float(b)] for name, a, b in zip(spec.natural_names, lo, hi, strict=True)}
        out.append(BootstrapResult(intervals, samples, len(chunk) - len(good)))
    return out
