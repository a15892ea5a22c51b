"""Fitting laws to run tables: summed Huber loss of log residuals, multi-start L-BFGS, in batch.

Objective (Appendix F of the paper; Hoffmann et al. 2022):

    J(theta) = sum_i w_i Huber_delta(log Lhat(theta; x_i) - log L_i)

with Huber_delta(r) = r^2 / 2 for |r| <= delta, delta (|r| - delta / 2) otherwise. A sum, not a
mean: a mean shrinks the gradient by the number of runs and L-BFGS stops far too early. The
weights w_i are 1 for a plain fit, resample counts for a bootstrap replicate, and 0 for the
padding that makes groups of different sizes one batch.

Every fit, bootstrap and group fit goes through :func:`distlaw.solver.minimize_starts`; they
differ only in which problems (data sets) and starts they stack.
JAX must run in float64 (``jax.config.update("jax_enable_x64", True)``, which the CLI and the
tests do); :func:`fit` refuses float32, where the Huber region of delta = 1e-4 is below the
resolution of the log loss.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import solver
from .laws import LAWS, LawSpec, supervised_log_loss
from .starts import DEFAULT_STARTS, design_starts

DEFAULT_HUBER_DELTA = 1e-4  # the paper's; Hoffmann et al. and Epoch used 1e-3
CONVERGED_RTOL = 1e-6  # a start "reached the best optimum" within this relative objective


class FitData(NamedTuple):
    """One data set (or a stack of them, with a leading axis) in the form the objective reads.

    Attributes:
      log_inputs: tuple of arrays, the law's inputs as natural logs (see ``LawSpec``).
      log_obs: natural log of the observed loss.
      weights: per-run weights (resample counts; 0 for padding).
    """

    log_inputs: tuple
    log_obs: jnp.ndarray
    weights: jnp.ndarray


class HuberObjective(NamedTuple):
    """Summed Huber loss of log residuals; hashable, so compiled solver rounds are reused.

    ``fixed`` holds ``(index, value)`` pairs of optimizer-space coordinates kept constant: they
    are overwritten before the law is evaluated, so their gradient is exactly zero and L-BFGS
    never moves them.
    """

    law: str
    delta: float
    fixed: tuple = ()

    def __call__(self, theta, data: FitData):
        spec = LAWS[self.law]
        for index, value in self.fixed:
            theta = theta.at[index].set(value)
        residual = spec.log_loss(spec.params_type(*theta), *data.log_inputs) - data.log_obs
        return jnp.sum(data.weights * optax.losses.huber_loss(residual, delta=self.delta))


@dataclasses.dataclass(frozen=True)
class FitResult:
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
      unidentified: coefficients the data cannot pin down (near-null Hessian directions).
      local_optima: distinct optima found (optimizer space), best first; bootstrap warm starts.
    """

    law: str
    params: np.ndarray
    natural: dict
    objective: float
    n_runs: int
    n_starts: int
    converged_fraction: float
    status_counts: dict
    unidentified: tuple = ()
    local_optima: np.ndarray | None = None


def require_x64() -> None:
    """Raise unless JAX runs in float64 (fits need it; the library never switches it on itself)."""
    if not jax.config.read("jax_enable_x64"):
        raise RuntimeError(
            "distlaw fits need float64: call jax.config.update('jax_enable_x64', True) first"
        )


def fit_data(spec: LawSpec, columns: Mapping[str, np.ndarray], supervised=None, weights=None) -> FitData:
    """Build :class:`FitData` from a mapping of canonical columns (natural units).

    For the distillation law, ``supervised`` (SupervisedParams, optimizer form) gives
    log Ltilde_S = log L(N_S, D_S), appended as the law's last input.
    """
    # NumPy here: data preparation runs once, and eager JAX ops would each compile.
    log_inputs = [np.log(np.asarray(columns[c], dtype=np.float64)) for c in spec.input_columns]
    if spec.name == "distillation":
        if supervised is None:
            raise ValueError("a distillation fit needs supervised coefficients for Ltilde_S")
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


def fixed_coordinates(spec: LawSpec, fixed: Mapping[str, float] | None) -> tuple:
    """``{natural name: value}`` -> ``((index, optimizer value), ...)`` for :class:`HuberObjective`."""
    out = []
    for name, value in (fixed or {}).items():
        if name not in spec.natural_names:
            raise ValueError(f"cannot fix {name!r}: law {spec.name!r} has {list(spec.natural_names)}")
        index = spec.natural_names.index(name)
        if spec.fields[index].startswith("log_"):
            if value <= 0:
                raise ValueError(f"fixed {name} must be > 0, got {value}")
            value = math.log(value)
        out.append((index, float(value)))
    return tuple(out)


def fit_many(
    spec: LawSpec,
    problems: FitData,
    starts: np.ndarray | Sequence[np.ndarray],
    *,
    delta: float = DEFAULT_HUBER_DELTA,
    fixed: Mapping[str, float] | None = None,
    config: solver.SolverConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    identify: bool = True,
) -> list[FitResult]:
    """Fit every problem of a stacked :class:`FitData` in one batched call.

    ``starts`` is one ``[S, P]`` array shared by all problems, or a list with one per problem.
    """
    require_x64()
    n_problems = int(problems.log_obs.shape[0])
    if isinstance(starts, np.ndarray) and starts.ndim == 2:
        starts = [starts] * n_problems
    fixed_coords = fixed_coordinates(spec, fixed)
    all_starts, start_problem = [], []
    for q, s in enumerate(starts):
        s = np.array(s, dtype=np.float64)
        for index, value in fixed_coords:
            s[:, index] = value
        all_starts.append(s)
        start_problem.append(np.full(len(s), q))
    all_starts = np.concatenate(all_starts)
    start_problem = np.concatenate(start_problem)
    objective = HuberObjective(spec.name, float(delta), fixed_coords)
    config = config or default_config(len(all_starts) // max(n_problems, 1))
    result = solver.minimize_starts(objective, all_starts, start_problem, problems, config, progress)
    fits = []
    for q in range(n_problems):
        members = np.flatnonzero(result.problem == q)
        fits.append(_summarize(spec, objective, result, members, _take(problems, q), identify))
    return fits


def fit(spec: LawSpec, data: FitData, starts: np.ndarray | None = None, **kwargs) -> FitResult:
    """Fit one data set from many starts (default: the law's default design). See :func:`fit_many`."""
    if starts is None:
        starts = design_starts(spec, DEFAULT_STARTS[spec.name])
    stacked = jax.tree.map(lambda a: np.asarray(a)[None], data)
    return fit_many(spec, stacked, starts, **kwargs)[0]


def default_config(starts_per_problem: int) -> solver.SolverConfig:
    """Screen large start sets (the best 5% continue after 20 steps); run small ones through.

    Measured on the 240-run Chinchilla table with the 4,500-start grid (benchmarks/README.md):
    20 screening steps and 5% kept (at least 16) reach the same optimum as running every start
    through, at a third of the cost of keeping 10%.
    """
    if starts_per_problem >= 256:
        return solver.SolverConfig(screen_steps=20, keep=0.05, min_keep=16)
    return solver.SolverConfig()


def _take(tree, q):
    return jax.tree.map(lambda a: np.asarray(a)[q], tree)


def _summarize(spec, objective, result, members, data, identify) -> FitResult:
    values = result.value[members]
    finite = np.isfinite(values)
    if not finite.any():
        raise RuntimeError(f"every start of the {spec.name} fit failed (non-finite objective)")
    best_local = int(np.argmin(np.where(finite, values, np.inf)))
    best = members[best_local]
    best_value = float(values[best_local])
    params = result.params[best].copy()
    for index, value in objective.fixed:
        params[index] = value
    tolerance = CONVERGED_RTOL * max(abs(best_value), 1e-300)
    converged = float(np.mean(values <= best_value + tolerance))
    statuses = np.bincount(result.status[members], minlength=len(solver.STATUS_NAMES))
    unidentified = identifiability(spec, objective, params, data) if identify else ()
    return FitResult(
        law=spec.name,
        params=params,
        natural=spec.to_natural(params),
        objective=best_value,
        n_runs=int(np.sum(np.asarray(data.weights) > 0)),
        n_starts=len(members),
        converged_fraction=converged,
        status_counts={solver.STATUS_NAMES[k]: int(c) for k, c in enumerate(statuses) if c},
        unidentified=unidentified,
        local_optima=_distinct_optima(result.params[members], values),
    )


def _distinct_optima(params, values, max_count: int = 8, rtol: float = 1e-3) -> np.ndarray:
    """Up to ``max_count`` optima with distinct objective values (relative gap > rtol), best first."""
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
    return np.array(kept)


def identifiability(spec: LawSpec, objective: HuberObjective, params, data: FitData,
                    rtol: float = 1e-9) -> tuple[str, ...]:
    """Coefficients lying along near-null directions of the objective's Hessian at the optimum.

    With H = V diag(lambda) V^T in optimizer space, a direction with lambda < rtol * max(lambda)
    changes the fit by almost nothing; every free coefficient with a component above 0.3 along
    such a direction is reported. The paper's c1 (only c1 f1 and 1/f1 enter the law over the
    range of its data) is the textbook case.
    """
    free = [i for i in range(len(spec.fields)) if i not in {j for j, _ in objective.fixed}]
    hessian = np.asarray(_hessian(objective, jnp.asarray(params), data))[np.ix_(free, free)]
    if not np.all(np.isfinite(hessian)):
        return tuple(spec.natural_names[i] for i in free)
    eigenvalues, vectors = np.linalg.eigh(hessian)
    scale = max(float(np.max(np.abs(eigenvalues))), 1e-300)
    flagged = set()
    for k, lam in enumerate(eigenvalues):
        if lam < rtol * scale:
            flagged.update(free[i] for i in np.flatnonzero(np.abs(vectors[:, k]) > 0.3))
    return tuple(spec.natural_names[i] for i in sorted(flagged))


@partial(jax.jit, static_argnums=0)
def _hessian(objective, params, data):
    return jax.hessian(objective)(params, data)


def bootstrap(spec: LawSpec, data: FitData, point: FitResult, n_resamples: int, **kwargs):
    """Percentile intervals of one fit; see :func:`bootstrap_many` (same keywords).

    Returns ``({natural name: [lo, hi]}, samples [B, P] in natural form)``.
    """
    stacked = jax.tree.map(lambda a: np.asarray(a)[None], data)
    return bootstrap_many(spec, stacked, [point], n_resamples, **kwargs)[0]


def bootstrap_many(
    spec: LawSpec,
    problems: FitData,
    points: Sequence[FitResult],
    n_resamples: int,
    *,
    seed: int = 0,
    ci: float = 0.9,
    extra_starts: int = 4,
    delta: float = DEFAULT_HUBER_DELTA,
    fixed: Mapping[str, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[dict[str, list[float]], np.ndarray]]:
    """Percentile intervals for every problem of a stack, all replicates fitted in one batch.

    A replicate is a vector of multinomial resample counts over a problem's runs (zero on
    padding), so every replicate of every problem has the same shape and they all vmap. Each
    replicate starts from its point fit's distinct optima (warm starts, at most 4) plus
    ``extra_starts`` design starts: warm starts alone end in a worse optimum for about a third
    of replicates on real data (shared/notes/measured.md).

    Returns one ``({natural name: [lo, hi]}, samples [B, P])`` per problem.
    """
    if n_resamples < 2:
        raise ValueError(f"--bootstrap needs at least 2 resamples, got {n_resamples}")
    if not 0 < ci < 1:
        raise ValueError(f"--ci must be in (0, 1), got {ci}")
    rng = np.random.default_rng(seed)
    n_problems = int(np.asarray(problems.log_obs).shape[0])
    design = design_starts(spec, extra_starts, seed=seed)[-extra_starts:]
    weights, starts = [], []
    for q, point in zip(range(n_problems), points, strict=True):
        base = np.asarray(problems.weights[q])
        counts = rng.multinomial(int(np.sum(base > 0)), base / base.sum(), size=n_resamples)
        weights.append(counts.astype(np.float64))
        warm = point.local_optima if point.local_optima is not None and len(point.local_optima) else point.params[None]
        starts += [np.concatenate([warm[:4], design])] * n_resamples

    def replicate(a):  # [Q, n] -> [Q * B, n], problem-major
        return np.repeat(np.asarray(a), n_resamples, axis=0)

    replicates = FitData(tuple(replicate(x) for x in problems.log_inputs), replicate(problems.log_obs),
                         np.concatenate(weights))
    # Warm starts sit next to an optimum, where L-BFGS's first step (the raw negative gradient)
    # overshoots by orders of magnitude: the line search needs more than the screening cap of 3
    # to come back (with 3, almost every replicate stalled at its start; measured in tests).
    config = solver.SolverConfig(max_linesearch_steps=15)
    fits = fit_many(spec, replicates, starts, delta=delta, fixed=fixed, progress=progress,
                    config=config, identify=False)
    out = []
    for q in range(n_problems):
        chunk = fits[q * n_resamples: (q + 1) * n_resamples]
        samples = np.array([[f.natural[name] for name in spec.natural_names] for f in chunk])
        lo, hi = np.quantile(samples, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
        out.append(({name: [float(a), float(b)] for name, a, b in zip(spec.natural_names, lo, hi, strict=True)},
                    samples))
    return out
