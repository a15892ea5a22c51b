"""Compute-optimal planning with the fitted laws, batched over whole grids of problems.

Questions answered (sizes N and tokens D bounded to [1e6, 1e17] as in the paper; every answer
says which of its variables sits on a bound):

- supervised compute-optimal N*, D*, L* for a budget C (any model size);
- supervised at a fixed size N: L(N, C / (3 F(N)));
- distillation at a fixed student size N_S and budget C in a scenario (delta_lgt, delta_pre):
  the student tokens D_S*, the teacher N_T*, D_T*, L_T*, the student loss L_S*, and the split of
  the budget (Eq. 10);
- best case: the optimal teacher loss, and the cheapest supervised teacher reaching it;
- an existing teacher: the best D_S under the budget;
- a fixed token budget: the optimal teacher loss for a student (the capacity-gap curve);
- the crossover budget above which supervised training matches distillation;
- the compute each route needs to reach a target student loss.

How the optimum is found. Eq. 10 has three variables and one binding budget constraint (more
student tokens always help, so the whole budget is spent). Solving the constraint for D_S,

    D_S = (C - 3 delta_pre F(N_T) D_T) / (3 F(N_S) + delta_lgt F(N_T)),

leaves a two-dimensional problem over (log N_T, log D_T) on a box, with the constraint exact.
It is solved by a *zoom grid*: a 33 x 33 grid over the whole box, then 12 rounds of a 9 x 9 grid
on a box of two cells around the best point, each round 4 times narrower; then 30 projected
Newton steps, which follow the nearly flat valleys a shrinking box can cut off. Every problem
takes the same fixed work, so ``vmap`` over thousands of problems wastes nothing, bounds are
handled exactly (the box is clipped, not penalized), and a coarse global grid is not fooled
by the U-shape of the capacity gap the way a local method started in the wrong place is.
One-dimensional questions use the zoom grid alone.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..io.fitfile import finite_or_none
from ..laws.catalog import LOG_MAX_COUNT, LOG_MIN_COUNT
from ..laws.compute import PAPER_ARCHITECTURE, Architecture, forward_flops
from ..laws.forms import DistillationParams, SupervisedParams, distillation_log_loss, supervised_log_loss
from ..fitting.solver import damped_step
from ..laws.precision import float64

LOG_MIN, LOG_MAX = LOG_MIN_COUNT, LOG_MAX_COUNT  # bounds on N_T, D_T, D_S, N (paper, Eq. 10), Python floats
BOUND_RTOL = 1e-6  # a variable within this (in log) of a bound is reported as on the bound


class PlanningLaws(NamedTuple):
    """The two laws and the compute model planning needs (optimizer-form coefficients)."""

    supervised: SupervisedParams
    distillation: DistillationParams
    arch: Architecture = PAPER_ARCHITECTURE


class SupervisedOptimum(NamedTuple):
    """Supervised compute-optimal model for a budget (arrays of the budget's shape)."""

    params: jnp.ndarray
    tokens: jnp.ndarray
    loss: jnp.ndarray
    on_bound: jnp.ndarray  # bool: N or D on a bound


class Allocation(NamedTuple):
    """Compute-optimal distillation for (N_S, C, scenario); arrays of the problems' shape.

    FLOPs split: ``student_flops`` = 3 F(N_S) D_S, ``logits_flops`` = delta_lgt F(N_T) D_S,
    ``pretraining_flops`` = delta_pre 3 F(N_T) D_T. Bound flags say which variable sits on
    [1e6, 1e17].
    """

    student_tokens: jnp.ndarray
    teacher_params: jnp.ndarray
    teacher_tokens: jnp.ndarray
    teacher_loss: jnp.ndarray
    student_loss: jnp.ndarray
    student_flops: jnp.ndarray
    logits_flops: jnp.ndarray
    pretraining_flops: jnp.ndarray
    student_tokens_on_bound: jnp.ndarray
    teacher_params_on_bound: jnp.ndarray
    teacher_tokens_on_bound: jnp.ndarray


# ---------------------------------------------------------------------------------------------
# Zoom-grid minimization (pure, fixed work; vmapped by callers).


def _argmin_grid(values):
    values = jnp.where(jnp.isnan(values), jnp.inf, values)
    k = jnp.argmin(values.ravel())
    return k, values.ravel()[k]


def zoom_minimize(objective, lo, hi, coarse: int, fine: int = 9, rounds: int = 12):
    """Minimize ``objective(*coordinates)`` over the box [lo, hi] by a zoom grid.

    ``lo``, ``hi`` are d-vectors; ``objective`` takes d broadcasting arrays. The first grid has
    ``coarse`` points a side over the whole box; each of ``rounds`` later grids has ``fine``
    points a side on the two cells around the best point so far, clipped to the box, so the box
    narrows by (fine - 1) / 2 a round. Returns (x*, f*).
    """
    d = lo.shape[0]

    def round_(carry, n):
        a, b, best, best_f = carry
        axes = [jnp.linspace(a[i], b[i], n) for i in range(d)]
        # Axis i varies along dimension i of the grid, so the objective sees an n^d grid.
        grid = [ax.reshape((n,) + (1,) * (d - 1 - i)) for i, ax in enumerate(axes)]
        k, f = _argmin_grid(objective(*grid))
        index = jnp.unravel_index(k, (n,) * d)
        x = jnp.stack([ax[i] for ax, i in zip(axes, index, strict=True)])
        better = f <= best_f
        best, best_f = jnp.where(better, x, best), jnp.where(better, f, best_f)
        step = (b - a) / (n - 1)
        return jnp.maximum(best - step, lo), jnp.minimum(best + step, hi), best, best_f

    carry = round_((lo, hi, lo, jnp.inf), coarse)
    carry = jax.lax.fori_loop(0, rounds, lambda _, c: round_(c, fine), carry)
    return carry[2], carry[3]


def zoom_minimize_1d(objective, lo, hi, coarse: int = 65, rounds: int = 14):
    """:func:`zoom_minimize` on an interval: ``objective(x)`` over [lo, hi] (scalars)."""
    x, f = zoom_minimize(objective, jnp.reshape(lo, (1,)), jnp.reshape(hi, (1,)), coarse, rounds=rounds)
    return x[0], f


def newton_polish(objective, x, lo, hi, iterations: int = 30):
    """Refine a box-constrained minimum of ``objective(x)`` (x small) by projected Newton steps.

    The zoom grid can stop short along an elongated, nearly flat valley (the teacher's tokens
    in the teacher-inference scenario are one): it never looks outside the box it shrank to.
    Newton steps follow the valley: each is the fitting solver's projected, damped step
    (:func:`distlaw.fitting.solver.damped_step`) with the Hessian as the curvature, its
    diagonal as the damping metric and a pivoting solve (a Hessian can be indefinite); a step is taken only if it lowers the objective (then the
    damping shrinks 10x, else it grows 10x), so every accepted step is a descent step.
    """
    value_grad = jax.value_and_grad(objective)
    hessian = jax.hessian(objective)

    def step(_, carry):
        x, f, damping = carry
        _, g = value_grad(x)
        h = hessian(x)
        # Held coordinates become rows of the identity inside the step, whatever their scale.
        candidate = damped_step(x, g, h, jnp.abs(jnp.diag(h)) + 1e-12, damping, lo, hi, solve=jnp.linalg.solve)
        f_new = objective(candidate)
        better = jnp.isfinite(f_new) & (f_new < f)
        return (jnp.where(better, candidate, x), jnp.where(better, f_new, f),
                jnp.where(better, damping * 0.1, damping * 10.0))

    x, f, _ = jax.lax.fori_loop(0, iterations, step, (x, objective(x), jnp.asarray(1e-3)))
    return x, f


# ---------------------------------------------------------------------------------------------
# Supervised.


def _log_f(log_n, arch):
    return jnp.log(forward_flops(jnp.exp(log_n), arch))


@float64
def supervised_loss_at_size(laws: PlanningLaws, n, budget):
    """L(N, D) with D = C / (3 F(N)) clipped to [1e6, 1e17]; returns (tokens, loss, on_bound)."""
    log_d = jnp.log(budget) - jnp.log(3.0) - _log_f(jnp.log(n), laws.arch)
    clipped = jnp.clip(log_d, LOG_MIN, LOG_MAX)
    loss = jnp.exp(supervised_log_loss(laws.supervised, jnp.log(n), clipped))
    return jnp.exp(clipped), loss, jnp.abs(clipped - log_d) > 0


def _supervised_optimum_one(laws: PlanningLaws, log_c):
    return _compute_optimal_one(partial(supervised_log_loss, laws.supervised), laws.arch, log_c)


def _compute_optimal_one(log_loss, arch, log_c):
    """min over log N of ``log_loss(log N, log D)`` with D = C / (3 F(N)) inside [1e6, 1e17]."""
    def objective(log_n):
        log_d = log_c - jnp.log(3.0) - _log_f(log_n, arch)
        value = log_loss(log_n, log_d)
        return jnp.where((log_d >= LOG_MIN) & (log_d <= LOG_MAX), value, jnp.inf)

    log_n, log_l = zoom_minimize_1d(objective, LOG_MIN, LOG_MAX)
    log_d = log_c - jnp.log(3.0) - _log_f(log_n, arch)
    on_bound = _near(log_n, LOG_MIN) | _near(log_n, LOG_MAX) | _near(log_d, LOG_MIN) | _near(log_d, LOG_MAX)
    return SupervisedOptimum(jnp.exp(log_n), jnp.exp(log_d), jnp.exp(log_l), on_bound)


@float64
def compute_optimal(spec, params, budget, arch: Architecture = PAPER_ARCHITECTURE) -> SupervisedOptimum:
    """Compute-optimal N*, D*, L* for budgets C (FLOPs, any shape) under any law of ``params``
    and ``tokens`` (``spec``, a LawSpec; ``params`` its optimizer-form coefficients):
    min_N L(N, C / (3 F(N))), by the zoom grid of :func:`supervised_optimum`."""
    budget = jnp.asarray(budget, dtype=jnp.float64)
    flat = _compute_optimal(spec.log_loss, params, arch, budget.ravel())
    return jax.tree.map(lambda a: a.reshape(budget.shape), flat)


@partial(jax.jit, static_argnames=("log_loss",))
def _compute_optimal(log_loss, params, arch, budgets):
    return jax.vmap(lambda c: _compute_optimal_one(partial(log_loss, params), arch, jnp.log(c)))(budgets)


@float64
def law_jacobian(spec, theta, *log_inputs, supervised=None):
    """[runs, K]: d log L / d theta at every run (experimental design), theta the law's
    optimizer-form coefficients as one vector, ``log_inputs`` the logs of its input columns; a
    distillation law's log Ltilde_S is computed from ``supervised`` (a vector of the supervised
    law's coefficients, held fixed)."""
    log_inputs = [jnp.asarray(x) for x in log_inputs]
    if spec.needs_supervised:
        log_inputs.append(supervised_log_loss(SupervisedParams(*jnp.asarray(supervised)), log_inputs[0],
                                              log_inputs[1]))
    return _law_jacobian(spec.log_loss, spec.params_type, jnp.asarray(theta), *log_inputs)


@partial(jax.jit, static_argnames=("log_loss", "params_type"))
def _law_jacobian(log_loss, params_type, theta, *log_inputs):
    return jax.jacfwd(lambda t: log_loss(params_type(*t), *log_inputs))(theta)


@float64
def optimal_size_gradient(spec, theta, budget: float):
    """d log N* / d theta at budget C under C = 6ND, by the implicit function theorem:
    with h(u, theta) = log L(e^u, C / (6 e^u)), h_u(u*, theta) = 0 gives
    d u* / d theta = -h_{u theta} / h_{uu}."""
    from ..laws.compute import Architecture

    theta = jnp.asarray(theta, dtype=jnp.float64)
    best = compute_optimal(spec, spec.params_type(*theta), jnp.asarray([budget]), Architecture(six_nd=True))
    return _optimal_size_gradient(spec.log_loss, spec.params_type, theta, jnp.log(best.params[0]),
                                  jnp.log(jnp.float64(budget)))


@partial(jax.jit, static_argnames=("log_loss", "params_type"))
def _optimal_size_gradient(log_loss, params_type, theta, u, log_c):
    def h(u, t):
        return log_loss(params_type(*t), u, log_c - jnp.log(6.0) - u)

    h_u = jax.grad(h, argnums=0)
    return -jax.grad(h_u, argnums=1)(u, theta) / jax.grad(h_u, argnums=0)(u, theta)


@float64
def loss_at_size(spec, params, n, budget, arch: Architecture = PAPER_ARCHITECTURE):
    """L(N, D) under ``spec`` with D = C / (3 F(N)) clipped to [1e6, 1e17]: (tokens, loss, on_bound)."""
    log_d = jnp.log(budget) - jnp.log(3.0) - _log_f(jnp.log(n), arch)
    clipped = jnp.clip(log_d, LOG_MIN, LOG_MAX)
    return jnp.exp(clipped), jnp.exp(spec.log_loss(params, jnp.log(n), clipped)), jnp.abs(clipped - log_d) > 0


def _near(x, bound):
    return jnp.abs(x - bound) <= BOUND_RTOL * jnp.abs(bound)


@float64
@jax.jit
def supervised_optimum(laws: PlanningLaws, budget) -> SupervisedOptimum:
    """Supervised compute-optimal N*, D*, L* for budgets C (FLOPs, any shape): min_N L(N, C/(3F(N)))."""
    budget = jnp.asarray(budget, dtype=jnp.float64)
    flat = jax.vmap(lambda c: _supervised_optimum_one(laws, jnp.log(c)))(budget.ravel())
    return jax.tree.map(lambda a: a.reshape(budget.shape), flat)


# ---------------------------------------------------------------------------------------------
# Distillation.


def _student_log_loss(laws, log_n_s, log_d_s, log_l_t):
    log_l_sup = supervised_log_loss(laws.supervised, log_n_s, log_d_s)
    return distillation_log_loss(laws.distillation, log_n_s, log_d_s, log_l_t, log_l_sup)


def _log_student_tokens(laws, log_n_s, log_c, log_n_t, log_d_t, delta_lgt, delta_pre):
    """log D_S spending the whole budget (Eq. 9 solved for D_S); NaN when the teacher eats it all."""
    f_s = jnp.exp(_log_f(log_n_s, laws.arch))
    f_t = jnp.exp(_log_f(log_n_t, laws.arch))
    left = jnp.exp(log_c) - 3.0 * delta_pre * f_t * jnp.exp(log_d_t)
    return jnp.where(left > 0, jnp.log(jnp.where(left > 0, left, 1.0)) - jnp.log(3.0 * f_s + delta_lgt * f_t),
                     jnp.nan)


def _allocate_one(laws: PlanningLaws, n_s, budget, delta_lgt, delta_pre) -> Allocation:
    log_n_s, log_c = jnp.log(n_s), jnp.log(budget)

    def objective(log_n_t, log_d_t):
        log_d_s = _log_student_tokens(laws, log_n_s, log_c, log_n_t, log_d_t, delta_lgt, delta_pre)
        feasible = log_d_s >= LOG_MIN
        log_d_s = jnp.minimum(jnp.where(feasible, log_d_s, LOG_MIN), LOG_MAX)  # surplus budget unused
        log_l_t = supervised_log_loss(laws.supervised, log_n_t, log_d_t)
        return jnp.where(feasible, _student_log_loss(laws, log_n_s, log_d_s, log_l_t), jnp.inf)

    lo, hi = jnp.array([LOG_MIN, LOG_MIN]), jnp.array([LOG_MAX, LOG_MAX])
    x, _ = zoom_minimize(objective, lo, hi, coarse=33)
    (log_n_t, log_d_t), log_l_s = newton_polish(lambda v: objective(v[0], v[1]), x, lo, hi)
    raw_d_s = _log_student_tokens(laws, log_n_s, log_c, log_n_t, log_d_t, delta_lgt, delta_pre)
    log_d_s = jnp.minimum(raw_d_s, LOG_MAX)
    log_l_t = supervised_log_loss(laws.supervised, log_n_t, log_d_t)
    n_t, d_t, d_s = jnp.exp(log_n_t), jnp.exp(log_d_t), jnp.exp(log_d_s)
    f_t = forward_flops(n_t, laws.arch)
    return Allocation(
        student_tokens=d_s,
        teacher_params=n_t,
        teacher_tokens=d_t,
        teacher_loss=jnp.exp(log_l_t),
        student_loss=jnp.exp(log_l_s),
        student_flops=3.0 * forward_flops(n_s, laws.arch) * d_s,
        logits_flops=delta_lgt * f_t * d_s,
        pretraining_flops=delta_pre * 3.0 * f_t * d_t,
        student_tokens_on_bound=_near(log_d_s, LOG_MIN) | (raw_d_s >= LOG_MAX),
        teacher_params_on_bound=_near(log_n_t, LOG_MIN) | _near(log_n_t, LOG_MAX),
        teacher_tokens_on_bound=_near(log_d_t, LOG_MIN) | _near(log_d_t, LOG_MAX),
    )


@float64
@jax.jit
def allocate(laws: PlanningLaws, student_params, budget, delta_lgt, delta_pre) -> Allocation:
    """Compute-optimal distillation (Eq. 10) for every problem; arguments broadcast together.

    Args:
      laws: supervised and distillation coefficients, and the compute model.
      student_params: N_S, non-embedding parameters.
      budget: C, total FLOPs.
      delta_lgt, delta_pre: the scenario's shares of teacher logits and pretraining (Table 2).
    Returns:
      an :class:`Allocation` of the broadcast shape. In the best case (both deltas 0) the
      teacher is free; :func:`cheapest_teacher` gives the supervised model reaching its loss.
    """
    args = jnp.broadcast_arrays(*(jnp.asarray(a, dtype=jnp.float64)
                                  for a in (student_params, budget, delta_lgt, delta_pre)))
    shape = args[0].shape
    flat = jax.lax.map(lambda a: _allocate_one(laws, *a), tuple(x.ravel() for x in args), batch_size=1024)
    return jax.tree.map(lambda a: a.reshape(shape), flat)


@float64
def allocate_replicates(laws: PlanningLaws, replicates: DistillationParams, student_params, budget, delta_lgt,
                        delta_pre) -> Allocation:
    """:func:`allocate` under every bootstrap replicate of the distillation law: ``replicates``
    holds [B] arrays per coefficient (optimizer form); the result has a leading replicate axis.
    The supervised law and the compute model are the fit's own (the replicates vary the
    distillation coefficients). A replicate is one more batch axis of the same program."""
    return jax.vmap(lambda d: allocate(laws._replace(distillation=d), student_params, budget, delta_lgt,
                                       delta_pre))(replicates)


def replicate_columns(alloc_b: Allocation, point_loss, supervised_loss, level: float) -> dict:
    """Per problem, from the replicates' allocations ([B, problems]): ``student_loss_lo/hi``
    (the level's percentiles, widened to hold the point plan's loss), percentiles of the
    allocation (student tokens, teacher size and tokens) and ``p_distill_better``: the share of
    replicates whose distilled student beats supervised training at the same budget."""
    import numpy as np

    import warnings

    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    loss = np.asarray(alloc_b.student_loss, dtype=np.float64)
    finite = np.isfinite(loss)
    out = {}
    with warnings.catch_warnings():  # a problem infeasible in every replicate has all-NaN columns
        warnings.simplefilter("ignore", RuntimeWarning)
        masked = np.where(finite, loss, np.nan)
        out["student_loss_lo"] = np.fmin(np.nanquantile(masked, lo_q, axis=0), point_loss)
        out["student_loss_hi"] = np.fmax(np.nanquantile(masked, hi_q, axis=0), point_loss)
        for name in ("student_tokens", "teacher_params", "teacher_tokens"):
            values = np.where(finite, np.asarray(getattr(alloc_b, name), dtype=np.float64), np.nan)
            out[f"{name}_lo"] = np.nanquantile(values, lo_q, axis=0)
            out[f"{name}_hi"] = np.nanquantile(values, hi_q, axis=0)
    # An infeasible replicate (no student tokens left) does not beat supervised training.
    out["p_distill_better"] = np.mean(finite & (loss < np.asarray(supervised_loss)[None, :]), axis=0)
    return out


def bisect_threshold(holds, lo, hi, iterations: int):
    """The threshold of a predicate false below it and true above it, by bisection on [lo, hi].

    ``holds(x)`` must be monotone on the interval (false, then true). Each of ``iterations``
    steps halves the bracket; returns its upper end, where ``holds`` is true (``hi`` itself
    when it never holds inside, which callers check).
    """

    def step(_, bracket):
        a, b = bracket
        mid = 0.5 * (a + b)
        ok = holds(mid)
        return jnp.where(ok, a, mid), jnp.where(ok, mid, b)

    return jax.lax.fori_loop(0, iterations, step, (lo, hi))[1]


def _budget_for_loss(loss_at_log_budget, target, lo=None, hi=None, iterations=60):
    """Smallest C in [lo, hi] (logs; default 1e15 to 1e30 FLOPs) with loss(C) <= target, by
    bisection (loss falls with C); inf when even ``hi`` does not reach the target."""
    lo = jnp.log(1e15) if lo is None else lo
    hi = jnp.log(1e30) if hi is None else hi
    reachable = loss_at_log_budget(hi) <= target
    b = bisect_threshold(lambda log_c: loss_at_log_budget(log_c) <= target, lo, hi, iterations)
    return jnp.where(reachable, jnp.exp(b), jnp.inf)


@float64
def lowest_reachable_loss(laws: PlanningLaws) -> float:
    """The lowest loss a supervised model within 1e30 FLOPs (N, D in [1e6, 1e17]) reaches."""
    return float(supervised_optimum(laws, 1e30).loss)


@float64
@jax.jit
def cheapest_teacher(laws: PlanningLaws, teacher_loss) -> SupervisedOptimum:
    """The supervised model of least compute 3 F(N) D reaching ``teacher_loss`` (compute-optimal).

    Searched up to 1e30 FLOPs; where no model within that reaches the loss, ``on_bound`` is set
    and the model returned (the compute-optimal one at 1e30 FLOPs) does not reach it.
    """
    teacher_loss = jnp.asarray(teacher_loss, dtype=jnp.float64)

    def one(target):
        budget = _budget_for_loss(lambda log_c: _supervised_optimum_one(laws, log_c).loss, target)
        best = _supervised_optimum_one(laws, jnp.log(jnp.minimum(budget, 1e30)))
        # No model within 1e30 FLOPs reaches the target: the model found is the best at 1e30,
        # not a teacher with that loss; say so through on_bound (the budget is on its bound).
        return best._replace(on_bound=best.on_bound | ~jnp.isfinite(budget))

    flat = jax.lax.map(one, teacher_loss.ravel(), batch_size=256)
    return jax.tree.map(lambda a: a.reshape(teacher_loss.shape), flat)


@float64
@jax.jit
def existing_teacher(laws: PlanningLaws, student_params, budget, teacher_loss, teacher_params, delta_lgt):
    """Best D_S for a teacher that exists: its pretraining is sunk, its logits cost delta_lgt F(N_T).

    More tokens always help the student, so D_S = C / (3 F(N_S) + delta_lgt F(N_T)), capped at
    1e17. Returns (student_tokens, student_loss, on_bound).
    """
    n_s = jnp.asarray(student_params, dtype=jnp.float64)
    f_t = jnp.where(delta_lgt > 0, forward_flops(teacher_params, laws.arch), 0.0)
    log_d = jnp.log(budget) - jnp.log(3.0 * forward_flops(n_s, laws.arch) + delta_lgt * f_t)
    clipped = jnp.clip(log_d, LOG_MIN, LOG_MAX)
    loss = jnp.exp(_student_log_loss(laws, jnp.log(n_s), clipped, jnp.log(teacher_loss)))
    return jnp.exp(clipped), loss, clipped != log_d


@float64
@jax.jit
def optimal_teacher_loss(laws: PlanningLaws, student_params, student_tokens):
    """The capacity-gap curve: argmin over L_T of L_S(N_S, D_S, L_T), for fixed N_S and D_S.

    L_T ranges over what a supervised teacher in the bounds can reach,
    [L(1e17, 1e17), L(1e6, 1e6)]. Returns (teacher_loss, student_loss).
    """
    n_s, d_s = jnp.broadcast_arrays(jnp.asarray(student_params, jnp.float64), jnp.asarray(student_tokens, jnp.float64))
    lo = supervised_log_loss(laws.supervised, LOG_MAX, LOG_MAX)
    hi = supervised_log_loss(laws.supervised, LOG_MIN, LOG_MIN)

    def one(args):
        log_n, log_d = jnp.log(args[0]), jnp.log(args[1])
        x, f = zoom_minimize_1d(lambda log_l_t: _student_log_loss(laws, log_n, log_d, log_l_t), lo, hi)
        return jnp.exp(x), jnp.exp(f)

    l_t, l_s = jax.lax.map(one, (n_s.ravel(), d_s.ravel()), batch_size=1024)
    return l_t.reshape(n_s.shape), l_s.reshape(n_s.shape)


@float64
@jax.jit
def crossover_budget(laws: PlanningLaws, student_params, delta_lgt, delta_pre):
    """The budget above which supervised training of N_S matches or beats distilling it.

    Bisection on log C of L_S*(C) - L_sup(N_S, C) (one sign change assumed: distillation
    ahead at small budgets, supervised at large), from the budget that trains the student on
    1e7 tokens (below it neither route is a real training run) to 1e30 FLOPs. Returns C, that
    lower end where supervised is never behind, and inf where distillation stays ahead.
    """
    args = jnp.broadcast_arrays(*(jnp.asarray(a, jnp.float64) for a in (student_params, delta_lgt, delta_pre)))

    def one(a):
        n_s, d_lgt, d_pre = a

        def gap(log_c):
            dist = _allocate_one(laws, n_s, jnp.exp(log_c), d_lgt, d_pre).student_loss
            return supervised_loss_at_size(laws, n_s, jnp.exp(log_c))[1] - dist

        lo, hi = jnp.log(3.0 * forward_flops(n_s, laws.arch) * 1e7), jnp.log(1e30)

        b_ = bisect_threshold(lambda log_c: gap(log_c) <= 0, lo, hi, 50)  # supervised ahead from b_ on
        return jnp.where(gap(lo) <= 0, jnp.exp(lo), jnp.where(gap(hi) > 0, jnp.inf, jnp.exp(b_)))

    flat = jax.lax.map(one, tuple(x.ravel() for x in args), batch_size=64)
    return flat.reshape(args[0].shape)


@float64
@jax.jit
def compute_to_reach(laws: PlanningLaws, student_params, target_loss, delta_lgt, delta_pre):
    """Least compute for each route to bring a student of size N_S to ``target_loss``.

    Returns (supervised FLOPs at size N_S, distillation FLOPs in the scenario); inf where the
    route cannot reach the target within 1e30 FLOPs. Their ratio answers "how much compute does
    distillation save".
    """
    args = jnp.broadcast_arrays(*(jnp.asarray(a, jnp.float64)
                                  for a in (student_params, target_loss, delta_lgt, delta_pre)))

    def one(a):
        n_s, target, d_lgt, d_pre = a
        sup = _budget_for_loss(lambda log_c: supervised_loss_at_size(laws, n_s, jnp.exp(log_c))[1], target)
        dist = _budget_for_loss(
            lambda log_c: _allocate_one(laws, n_s, jnp.exp(log_c), d_lgt, d_pre).student_loss, target, iterations=50)
        return sup, dist

    sup, dist = jax.lax.map(one, tuple(x.ravel() for x in args), batch_size=64)
    return sup.reshape(args[0].shape), dist.reshape(args[0].shape)


# ---------------------------------------------------------------------------------------------
# Tables for people and programs.


@float64
def plan_table(laws: PlanningLaws, student_params, budgets, scenarios) -> list[dict]:
    """One JSON-ready row per (student size, budget, scenario), all solved in one batch each.

    ``scenarios`` holds :class:`~distlaw.laws.catalog.Scenario` objects, or ``None`` for
    supervised training of the student itself. Row fields: ``student_params, budget, scenario,
    student_tokens, teacher_params, teacher_tokens, teacher_loss, student_loss,
    supervised_loss, on_bound`` (names of variables on a bound), ``feasible`` (false where the
    budget cannot train the student on 1e6 tokens: losses are then null, or for supervised the
    loss at 1e6 tokens; a budget beyond what 1e17 tokens use is feasible, with
    ``student_tokens`` on its bound), ``teacher_reachable`` (best case: whether any supervised
    model within 1e30 FLOPs reaches L_T*; when not, the teacher is null, ``teacher_loss`` is on
    the bound list and the row is not feasible) and ``flops_split`` (shares of the budget:
    student, logits, pretraining). In the best case the teacher is free; its
    ``teacher_params``/``teacher_tokens`` are the cheapest supervised model reaching L_T*.
    """
    import numpy as np

    n_s, c = (a.ravel() for a in np.meshgrid(np.asarray(student_params, float), np.asarray(budgets, float),
                                             indexing="ij"))
    supervised = tuple(np.asarray(a) for a in supervised_loss_at_size(laws, n_s, c))
    best_sup = SupervisedOptimum(*(np.asarray(a) for a in supervised_optimum(laws, c)))
    lowest_loss = lowest_reachable_loss(laws)
    solved = [None if scenario is None else _solve_scenario(laws, n_s, c, scenario) for scenario in scenarios]
    rows = []
    for i in range(len(n_s)):
        for scenario, answer in zip(scenarios, solved, strict=True):
            row = {"student_params": float(n_s[i]), "budget": float(c[i]),
                   # The best supervised model of any size at this budget, for reference.
                   "compute_optimal_params": float(best_sup.params[i]),
                   "compute_optimal_tokens": float(best_sup.tokens[i]),
                   "compute_optimal_loss": float(best_sup.loss[i])}
            if answer is None:
                row.update(_supervised_row(supervised, i))
            else:
                row.update(_distillation_row(scenario.name, *answer, float(supervised[1][i]), i, lowest_loss))
            rows.append(row)
    return [finite_or_none(row) for row in rows]


def _solve_scenario(laws: PlanningLaws, n_s, c, scenario):
    """The allocations of one scenario over all problems, and in the best case the free teacher."""
    import numpy as np

    alloc = Allocation(*(np.asarray(a) for a in allocate(laws, n_s, c, scenario.delta_lgt, scenario.delta_pre)))
    teacher = None
    if scenario.delta_lgt == 0 and scenario.delta_pre == 0:
        teacher = SupervisedOptimum(*(np.asarray(a) for a in cheapest_teacher(laws, alloc.teacher_loss)))
    return alloc, teacher


def _supervised_row(supervised, i: int) -> dict:
    """Training the student alone on the whole budget (problem ``i``)."""
    tokens, loss, on_bound = (a[i] for a in supervised)
    # On the lower token bound the budget cannot train the student at all; on the upper one it is
    # more than 1e17 tokens can use (a surplus): feasible, tokens on a bound.
    too_small = bool(on_bound) and tokens <= 1e6 * (1 + 1e-9)
    return dict(scenario="supervised", student_tokens=float(tokens), teacher_params=None, teacher_tokens=None,
                teacher_loss=None, student_loss=float(loss), supervised_loss=float(loss), teacher_reachable=None,
                on_bound=["student_tokens"] if on_bound else [], feasible=not too_small,
                flops_split={"student": 1.0, "logits": 0.0, "pretraining": 0.0})


def _distillation_row(name: str, alloc: Allocation, teacher, supervised_loss: float, i: int,
                      lowest_loss: float) -> dict:
    """Distilling the student in scenario ``name`` (problem ``i``)."""
    if not math.isfinite(alloc.student_loss[i]):
        # Even a 1e6-parameter teacher leaves the student fewer than 1e6 tokens.
        return dict(scenario=name, student_tokens=None, teacher_params=None, teacher_tokens=None, teacher_loss=None,
                    student_loss=None, supervised_loss=supervised_loss, teacher_reachable=None,
                    on_bound=["student_tokens"], feasible=False, flops_split=None)
    bound = [field for field, flag in (("student_tokens", alloc.student_tokens_on_bound[i]),
                                       ("teacher_params", alloc.teacher_params_on_bound[i]),
                                       ("teacher_tokens", alloc.teacher_tokens_on_bound[i])) if flag]
    n_t, d_t = alloc.teacher_params[i], alloc.teacher_tokens[i]
    reachable = True
    if teacher is not None:
        n_t, d_t = teacher.params[i], teacher.tokens[i]
        bound = [b for b in bound if b == "student_tokens"] + (
            ["teacher_params", "teacher_tokens"] if teacher.on_bound[i] else [])
        # The best case's free teacher must still exist: a loss no supervised model within
        # 1e30 FLOPs reaches makes the plan a bound, not a plan (no teacher to name).
        reachable = bool(alloc.teacher_loss[i] >= lowest_loss * (1 - 1e-12))
        if not reachable:
            n_t = d_t = math.nan
            bound.append("teacher_loss")
    total = alloc.student_flops[i] + alloc.logits_flops[i] + alloc.pretraining_flops[i]
    return dict(scenario=name, student_tokens=float(alloc.student_tokens[i]), teacher_params=float(n_t),
                teacher_tokens=float(d_t), teacher_loss=float(alloc.teacher_loss[i]),
                student_loss=float(alloc.student_loss[i]), supervised_loss=supervised_loss,
                teacher_reachable=reachable, on_bound=bound, feasible=reachable,
                flops_split={"student": float(alloc.student_flops[i] / total),
                             "logits": float(alloc.logits_flops[i] / total),
                             "pretraining": float(alloc.pretraining_flops[i] / total)})
