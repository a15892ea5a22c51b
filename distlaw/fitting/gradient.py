"""Fitting with optax: objectives that are not Huber least squares, and any optimizer a user passes.

The Levenberg-Marquardt solver (:mod:`distlaw.fitting.solver`) is exact and fastest for
``sum_i w_i Huber_delta(r_i)``. Everything else runs here, through an optax
``GradientTransformation`` (``optax.lbfgs()`` unless the caller passes another):

    J(z) = sum_i w_i a(r_i) rho(r_i) + sum_k (theta_k - mu_k)^2 / (2 sigma_k^2),

with r_i the law's log (or linear) residuals, rho the Huber loss (or the user's ``loss``),
a(r) = ``overestimate_weight`` where the law predicts a higher loss than observed (r > 0) and
1 elsewhere, and a Gaussian prior N(mu_k, sigma_k^2) on natural coefficient theta_k (as
``--prior E=1.7:0.05`` writes it). It is a sum over runs, not a mean: priors weigh against
the whole table.

Bounds are kept by reparametrization, coordinate by coordinate: z = lo + (hi - lo) sigmoid(u)
for a closed box, lo + softplus(u) or hi - softplus(-u) for a half-open one, z = u for an open
one; the optimizer sees the unconstrained u. Starts are batched as in the LM solver: every
start of a batch advances in lock step (``vmap`` of one ``while_loop``), the whole start set
is screened for ``screen_iterations`` and the best ``keep`` share runs on to convergence.
A start has converged when ``patience`` successive iterations each lower J by at most
``ftol |J|``; it stops at ``max_iterations`` otherwise (status ``max_steps``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import solver
from ..errors import InputError


class GeneralObjective(NamedTuple):
    """J(z) of the module docstring. Hashable: it is a static argument of the compiled loop.

    Attributes:
      base: the law's residuals, ties and fixed coefficients, and delta (a ``HuberObjective``).
      overestimate_weight: a(r) for r > 0 (1: symmetric).
      priors: ``((field index, fitted as log, mean, sd), ...)`` in natural units.
      loss: ``rho(r)`` elementwise instead of the Huber loss (None: Huber with ``base.delta``).
    """

    base: object
    overestimate_weight: float = 1.0
    priors: tuple = ()
    loss: Callable | None = None

    def __call__(self, z, data):
        residual = jnp.where(data.weights > 0, self.base.residuals(z, data), 0.0)  # weight 0: absent
        rho = solver.huber(residual, self.base.delta) if self.loss is None else self.loss(residual)
        if self.overestimate_weight != 1.0:
            rho = jnp.where(residual > 0, self.overestimate_weight * rho, rho)
        value = jnp.sum(jnp.where(data.weights > 0, data.weights * rho, 0.0))
        if self.priors:
            theta = self.base.expand(z)
            for index, log, mean, sd in self.priors:
                natural = jnp.exp(theta[index]) if log else theta[index]
                value = value + 0.5 * ((natural - mean) / sd) ** 2
        return value


class ObjectiveOptions(NamedTuple):
    """What makes an objective other than ``sum w Huber(r)``, or asks for optax.

    Attributes:
      overestimate_weight: residuals where the law predicts a higher loss than observed count
        this many times (1: symmetric).
      priors: ``{natural name: (mean, sd)}``, Gaussian priors on coefficients (natural units).
      loss: ``rho(r)``, elementwise on the residuals, instead of the Huber loss.
      optimizer: an optax ``GradientTransformation`` (default ``optax.lbfgs()``).
    """

    overestimate_weight: float = 1.0
    priors: Mapping | None = None
    loss: Callable | None = None
    optimizer: object = None

    @property
    def general(self) -> bool:
        """True when the fit must run through optax (anything but plain Huber least squares)."""
        return (self.optimizer is not None or self.loss is not None or self.overestimate_weight != 1.0
                or bool(self.priors))

    def record(self) -> dict:
        """What FIT.json says of them (only what differs from plain Huber least squares)."""
        out = {}
        if self.overestimate_weight != 1.0:
            out["overestimate_weight"] = self.overestimate_weight
        if self.priors:
            out["priors"] = {name: list(pair) for name, pair in self.priors.items()}
        if self.loss is not None:
            out["loss"] = getattr(self.loss, "__qualname__", repr(self.loss))
        if self.general:
            out["optimizer"] = "optax.lbfgs()" if self.optimizer is None else _describe(self.optimizer)
        return out


def _describe(optimizer) -> str:
    update = getattr(optimizer, "update", None)
    return f"optax {getattr(update, '__qualname__', type(optimizer).__name__).split('.<locals>')[0]}"


@functools.cache
def default_optimizer():
    """``optax.lbfgs()``, made once: a new one would be a new static argument, and recompile."""
    import optax  # here, not at the top: a least-squares fit never needs optax (0.04 s to import)

    return optax.lbfgs()


def general_objective(box, base, options: ObjectiveOptions) -> GeneralObjective:
    """The :class:`GeneralObjective` of ``options`` for the law and constraints ``box``;
    InputError names a bad weight, prior or loss."""
    weight = options.overestimate_weight
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
        raise InputError(f"overestimate_weight must be a number > 0, got {weight!r}", argument="overestimate_weight")
    if options.loss is not None and not callable(options.loss):
        raise InputError(f"loss must be a function of the residuals, got {type(options.loss).__name__}",
                         argument="loss")
    if options.optimizer is not None:
        check_optimizer(options.optimizer)
    spec = box.spec
    priors = []
    for name, pair in (options.priors or {}).items():
        if name not in spec.natural_names:
            raise InputError(f"prior on {name!r}: the {spec.name} law has coefficients {list(spec.natural_names)}",
                             argument="priors")
        try:
            mean, sd = (float(v) for v in pair)
        except (TypeError, ValueError):
            raise InputError(f"prior on {name}: expected (mean, sd), got {pair!r}", argument="priors") from None
        if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
            raise InputError(f"prior on {name}: mean must be finite and sd > 0, got ({mean}, {sd})",
                             argument="priors")
        index = spec.natural_names.index(name)
        if name in box.fixed:
            raise InputError(f"prior on {name}: {name} is fixed; a prior needs a fitted coefficient",
                             argument="priors")
        priors.append((index, spec.fields[index].startswith("log_"), mean, sd))
    return GeneralObjective(base, float(weight), tuple(priors), options.loss)


class OptaxConfig(NamedTuple):
    """Settings of the optax path (see the module docstring)."""

    width: int = 128
    max_iterations: int = 2000
    ftol: float = 1e-13
    patience: int = 5
    screen_iterations: int = 40
    keep: float = 0.05
    min_keep: int = 8


def to_box(u, lower, upper):
    """The box coordinates z of unconstrained u (elementwise; see the module docstring)."""
    has_lo, has_hi = jnp.isfinite(lower), jnp.isfinite(upper)
    lo, hi = jnp.where(has_lo, lower, 0.0), jnp.where(has_hi, upper, 0.0)
    closed = lo + (hi - lo) * jax.nn.sigmoid(u)
    return jnp.where(has_lo & has_hi, closed,
                     jnp.where(has_lo, lo + jax.nn.softplus(u), jnp.where(has_hi, hi - jax.nn.softplus(-u), u)))


def from_box(z: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """u with ``to_box(u) = z`` (NumPy; z on a bound is moved 1e-9 inside it)."""
    z = np.asarray(z, dtype=np.float64)
    lower, upper = np.broadcast_to(lower, z.shape), np.broadcast_to(upper, z.shape)
    has_lo, has_hi = np.isfinite(lower), np.isfinite(upper)
    with np.errstate(all="ignore"):
        share = np.clip((z - lower) / (upper - lower), 1e-9, 1 - 1e-9)
        closed = np.log(share) - np.log1p(-share)
        above = np.maximum(z - lower, 1e-9)
        below = np.maximum(upper - z, 1e-9)
        low_only = above + np.log(-np.expm1(-above))  # softplus^-1
        high_only = -(below + np.log(-np.expm1(-below)))
    return np.where(has_lo & has_hi, closed, np.where(has_lo, low_only, np.where(has_hi, high_only, z)))


def minimize_starts(objective: GeneralObjective, optimizer, starts: np.ndarray, start_problem: np.ndarray, problems,
                    lower: np.ndarray, upper: np.ndarray, config: OptaxConfig | None = None,
                    progress: Callable[[int, int], None] | None = None) -> solver.StartResults:
    """Minimize ``objective`` from every start with ``optimizer``: the optax counterpart of
    :func:`distlaw.fitting.solver.minimize_starts`, same arguments and results."""
    config = config or OptaxConfig()
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    u = from_box(np.clip(np.asarray(starts, dtype=np.float64), lower, upper), lower, upper)
    start_problem = np.asarray(start_problem, dtype=np.int32)
    n = len(u)
    out = solver.StartResults(np.zeros_like(u), np.full(n, np.inf), np.full(n, solver.RUNNING, np.int32),
                              np.zeros(n, np.int32), start_problem)
    queue = np.arange(n)
    total = n
    if config.screen_iterations and n > 2 * config.min_keep:
        u[queue] = _run(objective, optimizer, u, queue, out, problems, lower, upper, config,
                        config.screen_iterations, progress, total)
        queue = solver.screen(out, config)  # the LM solver's rule: each problem's best ``keep`` go on
        total += len(queue)
    _run(objective, optimizer, u, queue, out, problems, lower, upper, config, config.max_iterations, progress,
         total, done_before=total - len(queue))
    return out


def _run(objective, optimizer, u, queue, out, problems, lower, upper, config, max_iterations, progress, total,
         done_before: int = 0) -> np.ndarray:
    """Run the starts ``queue`` (from ``u``) in batches of one width; write ``out``, return their u."""
    width = min(config.width, 1 << max(len(queue) - 1, 0).bit_length())
    final_u = np.zeros((len(queue), u.shape[1]))
    for first in range(0, len(queue), width):
        ids = queue[first: first + width]
        batch = np.resize(ids, width)  # the last batch is padded with repeats (their results are dropped)
        result = _minimize_batch(u[batch], out.problem[batch], problems, lower, upper, np.int32(max_iterations),
                                 objective=objective, optimizer=optimizer, ftol=config.ftol, patience=config.patience)
        u_end, z_end, value, status, steps = (np.asarray(a)[: len(ids)] for a in result)
        out.params[ids], out.value[ids], out.status[ids] = z_end, value, status
        out.steps[ids] += steps
        final_u[first: first + len(ids)] = u_end
        if progress is not None:
            progress(done_before + first + len(ids), total)
    return final_u


@partial(jax.jit, static_argnames=("objective", "optimizer", "ftol", "patience"))
def _minimize_batch(u0, problem, problems, lower, upper, max_iterations, *, objective, optimizer, ftol, patience):
    """Every start of the batch through ``optimizer`` until it converges or reaches
    ``max_iterations``; returns (u, z, J, status, steps) per start."""
    import optax

    transform = optax.with_extra_args_support(optimizer)

    def one(u, q):
        data = solver.problem_data(problems, q)

        def value_fn(v):
            return objective(to_box(v, lower, upper), data)

        state = transform.init(u)
        # L-BFGS's line search keeps the value and gradient at the current point: reuse them.
        from_state = optax.tree_utils.tree_get(state, "value") is not None
        value_and_grad = optax.value_and_grad_from_state(value_fn) if from_state else jax.value_and_grad(value_fn)
        value = value_fn(u)
        status = jnp.where(jnp.isfinite(value), solver.RUNNING, solver.FAILED)

        def cond(carry):
            return carry[3] == solver.RUNNING

        def body(carry):
            u, state, value, status, steps, calm = carry
            current, grad = value_and_grad(u, state=state) if from_state else value_and_grad(u)
            updates, new_state = transform.update(grad, state, u, value=current, grad=grad, value_fn=value_fn)
            new_u = optax.apply_updates(u, updates)
            new_value = optax.tree_utils.tree_get(new_state, "value") if from_state else value_fn(new_u)
            finite = jnp.isfinite(new_value) & jnp.all(jnp.isfinite(new_u))
            gain = value - new_value
            calm = jnp.where(finite & (gain <= ftol * jnp.abs(new_value)), calm + 1, 0)
            steps = steps + 1
            status = jnp.where(~finite | (calm >= patience), solver.CONVERGED,
                               jnp.where(steps >= max_iterations, solver.MAX_STEPS, solver.RUNNING))
            keep = finite & (new_value <= value)  # never end on a worse point than one already held
            return (jnp.where(keep, new_u, u), new_state, jnp.where(keep, new_value, value), status, steps, calm)

        u, _, value, status, steps, _ = jax.lax.while_loop(cond, body, (u, state, value, status, 0, 0))
        return u, to_box(u, lower, upper), value, status, steps

    return jax.vmap(one)(u0, problem)


def check_optimizer(optimizer) -> None:
    """An optax ``GradientTransformation`` (an object with ``init`` and ``update``), or an error."""
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise InputError(f"optimizer must be an optax GradientTransformation (such as optax.lbfgs() or "
                         f"optax.adam(1e-2)), got {type(optimizer).__name__}", argument="optimizer")
