"""Batched, box-constrained Levenberg-Marquardt for robust (Huber) least squares, from many starts.

The problem. Every fit in distlaw minimizes

    J(z) = sum_i w_i rho_delta(r_i(z)),    lower <= z <= upper,

where r_i are log residuals of a law, rho_delta is the Huber loss and z holds a handful (5 to 9)
of coefficients. That is a small, dense, robust nonlinear least-squares problem, and such
problems are solved best by Gauss-Newton-type steps, not by a quasi-Newton line search:

* The Gauss-Newton matrix of the Huber loss is built from the residuals' Jacobian alone:
  A = J^T diag(w 1{|r| <= delta}) J, the exact curvature of the Huber terms (the law's own
  second derivatives enter the Hessian only through scores of size delta, negligible for the
  deltas used here). It is positive semi-definite, so a Marquardt-damped step
  ``(A + lambda diag S) s = -g`` is a descent direction whatever the curvature of the law.
  The damping metric S is the diagonal of the IRLS matrix J^T diag(w min(1, delta/|r|)) J (the
  curvature of the quadratic that majorizes each Huber term), which stays well scaled when few
  residuals are inliers: heavily damped steps are scaled gradient steps, lightly damped ones
  nearly Newton's. Damping with the IRLS matrix itself instead converged linearly where many
  residuals sit in Huber's linear branch (measured: 50 times more starts at the iteration cap).
* An iteration costs one evaluation of the residuals and their Jacobian plus a K x K solve,
  the same for every start. There is no line search, so lanes advancing in lock step waste
  nothing on one another (the reason a ``jax.vmap`` of L-BFGS with a zoom line search was 30x
  slower than SciPy here; see benchmarks/README.md).
* Boxes are respected exactly by projection with an active set (Bertsekas 1982): a coordinate
  on a bound whose gradient points out of the box is held there, the step is solved in the
  remaining coordinates, and the candidate is clipped to the box. A step is accepted only
  when it lowers J; otherwise lambda grows and the lane tries a shorter, more gradient-like
  step.

Batching. A pool of ``width`` lanes advances ``round_iterations`` iterations per jitted call;
between calls the host retires finished lanes and refills them with the next starts, so work
follows the iterations each start needs and one compiled shape serves the whole queue. Large
start sets are *screened*: every start gets ``screen_iterations``, and only the best ``keep``
share of each problem's unfinished starts continues to convergence.

Each lane carries a *problem* index: problems are stacked data sets of equal (padded) length,
so bootstrap resamples (weight vectors) and groups of runs (zero-padded) share one batch.
Nothing under ``jit`` raises: a start whose objective is not finite ends with status FAILED.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import programs

# Status codes of a finished start.
RUNNING, CONVERGED, MAX_STEPS, FAILED, SCREENED_OUT = 0, 1, 2, 3, 4
STATUS_NAMES = {RUNNING: "running", CONVERGED: "converged", MAX_STEPS: "max_steps",
                FAILED: "failed", SCREENED_OUT: "screened_out"}  # fmt: skip

_LAMBDA_START = 1e-3  # Marquardt damping of a fresh start (relative to diag A)
_LAMBDA_MIN, _LAMBDA_MAX = 1e-12, 1e12  # beyond LAMBDA_MAX no step lowers J: a minimum to rounding
# Pools at least this wide narrow 8x once for the tail of slow starts. Narrower pools do not:
# at 128 lanes on a CPU the narrow pool's second program (tracing 0.2 s a run, compiling 0.5 s
# cold) cost more than the 14% of lane-iterations it saved on the 4,500-start grid.
_SHRINK_MIN_WIDTH = 512


class SolverConfig(NamedTuple):
    """Settings of the batched Levenberg-Marquardt solver.

    Attributes:
      width: lanes (starts) advanced together; bounds memory at width x runs. 128 keeps a
        few-hundred-run table's [width, runs, K] Jacobian in a CPU's cache (1,024 lanes were
        2.6x slower a lane; benchmarks/README.md); accelerators want wider pools.
      round_iterations: iterations per jitted call between host-side refills.
      max_iterations: iteration limit of one start.
      ftol: a start has converged when an accepted, lightly damped step lowers J by less than
        ``ftol * |J|`` (float64 sums of a few hundred terms carry about 1e-15 of rounding).
      screen_iterations: iterations every start gets before screening (0: no screening).
      keep: share of each problem's starts kept after screening (at least ``min_keep``).
      min_keep: lower bound on survivors per problem.
      chunk: runs per chunk of the normal equations (0: a problem's whole table at once). With
        a chunk, each lane sums the Huber pieces over the table chunk by chunk
        (:func:`huber_pieces_chunked`), reading its chunk straight from the shared table: memory
        grows with lanes x chunk, never with lanes x runs. The table is padded to a multiple
        of the chunk with zero-weight runs.
    """

    width: int = 128
    round_iterations: int = 16
    max_iterations: int = 400
    ftol: float = 1e-14
    screen_iterations: int = 0
    keep: float = 0.05
    min_keep: int = 8
    chunk: int = 0


class StartResults(NamedTuple):
    """Final state of every start, in queue order (host numpy arrays)."""

    params: np.ndarray  # [S, K]
    value: np.ndarray  # [S]
    status: np.ndarray  # [S] status codes
    steps: np.ndarray  # [S] iterations taken
    problem: np.ndarray  # [S] problem index of each start


class _Pool(NamedTuple):
    z: jnp.ndarray  # [W, K]
    value: jnp.ndarray  # [W]
    grad: jnp.ndarray  # [W, K]
    gauss_newton: jnp.ndarray  # [W, K, K]
    scale: jnp.ndarray  # [W, K] diagonal of the IRLS matrix: the damping's metric
    damping: jnp.ndarray  # [W]
    status: jnp.ndarray  # [W] int32
    steps: jnp.ndarray  # [W] int32
    problem: jnp.ndarray  # [W] int32


def huber(residual, delta):
    """rho_delta(r) = r^2 / 2 for |r| <= delta, delta (|r| - delta / 2) beyond (elementwise).

    Written as ``m (|r| - m / 2)`` with ``m = min(|r|, delta)``, which is both branches at once:
    without a select, XLA's CPU backend vectorizes the fused loop that evaluates the law and
    sums these terms (measured: the solver's iterations 1.2x faster than with ``jnp.where``).
    """
    magnitude = jnp.abs(residual)
    clipped = jnp.minimum(magnitude, delta)
    return clipped * (magnitude - 0.5 * clipped)


def huber_pieces(objective, z, data):
    """Value, gradient, Gauss-Newton matrix and damping metric of ``sum_i w_i rho_delta(r_i(z))``.

    ``objective.residuals(z, data) -> r`` (one per run), ``objective.delta`` the Huber delta,
    ``data.weights`` the w_i. With J = dr/dz:

        J(z) = sum w rho(r),            g = J^T (w clip(r, -delta, delta)),
        A = J^T diag(w 1{|r| <= delta}) J,   S = diag(J^T diag(w omega) J),

    omega = min(1, delta / |r|), the curvature of rho's quadratic majorizer at r.
    Returns ``(J, g, A, S)`` with S as a vector.
    """
    delta = objective.delta
    w = data.weights
    # A run of weight 0 (padding, or not drawn by a resample) is absent: zero its residual and
    # Jacobian row so that a non-finite value there cannot leak in as 0 * inf = nan.
    present = w > 0
    residual = jnp.where(present, objective.residuals(z, data), 0.0)
    jacobian = jax.jacfwd(objective.residuals)(z, data)  # [n, K]: K forward passes, elementwise
    jacobian = jnp.where(present[:, None], jacobian, 0.0)
    magnitude = jnp.abs(residual)
    value = jnp.sum(w * huber(residual, delta))
    grad = jacobian.T @ (w * jnp.clip(residual, -delta, delta))
    inlier = w * (magnitude <= delta)
    omega = w * jnp.minimum(1.0, delta / jnp.maximum(magnitude, 1e-300))
    return value, grad, (jacobian * inlier[:, None]).T @ jacobian, jnp.sum(omega[:, None] * jacobian**2, axis=0)


def huber_pieces_chunked(objective, z, problems, problem, chunk: int):
    """:func:`huber_pieces` of problem ``problem`` of the stacked ``problems``, summed over
    chunks of ``chunk`` runs (the runs axis must be a multiple of ``chunk``).

    Each chunk is sliced from the shared table by index (under ``vmap`` over lanes, a gather
    of ``[lanes, chunk]``), so no lane ever holds its problem's whole table, and the residuals
    and Jacobian exist for one chunk at a time: memory is O(lanes x chunk x K), whatever the
    number of runs. The sums are the unchunked ones up to the order of summation (float64
    rounding, about 1e-15 relative; tests/test_large_tables.py).
    """
    n_runs = problems.weights.shape[-1]
    k = z.shape[0]

    def body(carry, start):
        data = problem_data(problems, problem, start, chunk)
        pieces = huber_pieces(objective, z, data)
        return tuple(total + piece for total, piece in zip(carry, pieces, strict=True)), None

    zero = (jnp.zeros((), z.dtype), jnp.zeros(k, z.dtype), jnp.zeros((k, k), z.dtype), jnp.zeros(k, z.dtype))
    totals, _ = jax.lax.scan(body, zero, jnp.arange(0, n_runs, chunk, dtype=jnp.int32))
    return totals


def problem_data(problems, problem, start=None, size=None):
    """The data of problem ``problem`` of a stack (runs ``start`` to ``start + size`` when given):
    its inputs and observations from its data row (``problems.rows[problem]``, or the same
    index when the stack has no ``rows``), its weights from its own row. Traceable: under
    ``vmap`` over lanes, one gather of what the lanes read."""
    p = jnp.asarray(problem, jnp.int32)
    row = p if problems.rows is None else jnp.asarray(problems.rows)[p]

    def take(a, index):
        if start is None:
            return a[index]
        return jax.lax.dynamic_slice(a, (index, jnp.asarray(start, jnp.int32)), (1, size))[0]

    return problems._replace(log_inputs=tuple(take(x, row) for x in problems.log_inputs),
                             log_obs=take(problems.log_obs, row), weights=take(problems.weights, p), rows=None)


def pad_runs(problems, multiple: int):
    """``problems`` with the runs axis padded to a multiple of ``multiple`` by zero-weight copies
    of each row's first run (valid inputs: the law stays finite on padding)."""
    n_runs = problems.weights.shape[-1]
    extra = -n_runs % multiple
    if not extra:
        return problems

    def pad(a):
        a = np.asarray(a)
        return np.concatenate([a, np.repeat(a[..., :1], extra, axis=-1)], axis=-1)

    weights = pad(problems.weights)
    weights[..., n_runs:] = 0.0
    return problems._replace(log_inputs=tuple(pad(x) for x in problems.log_inputs), log_obs=pad(problems.log_obs),
                             weights=weights)


def damped_step(z, grad, curvature, scale, damping, lower, upper, solve=None):
    """One projected, Marquardt-damped Newton-type step from z; returns the clipped candidate.

    Solves (C + damping diag(scale)) s = -grad for the free coordinates, C the curvature, then
    clips z + s into [lower, upper]. Coordinates on a bound whose gradient points out of the
    box are held (their rows and columns replaced by the identity, their gradient zeroed); the
    damped system is solved in the rest. Damping by ``diag(scale)`` keeps the step invariant to
    the coordinates' scales; ``scale`` must be positive (callers add a floor).

    Shared by the fitting solver (C the Huber Gauss-Newton matrix, positive semi-definite:
    ``solve`` defaults to :func:`solve_spd`) and the planners' polish
    (:func:`distlaw.planning.optimize.newton_polish`: C the Hessian, which can be indefinite,
    so it passes a pivoting ``jnp.linalg.solve``).
    """
    k = z.shape[0]
    held = ((z <= lower) & (grad > 0)) | ((z >= upper) & (grad < 0))
    free = ~held
    system = curvature + damping * jnp.diag(scale)
    system = jnp.where(free[:, None] & free[None, :], system, jnp.eye(k))
    step = (solve or solve_spd)(system, jnp.where(free, -grad, 0.0))
    return jnp.clip(z + jnp.where(free, step, 0.0), lower, upper)


def solve_spd(system, rhs):
    """x with ``system @ x = rhs`` for a small symmetric positive-definite K x K system.

    Gauss-Jordan elimination of ``[system | rhs]``, one rank-one update per column: for
    j = 0..K-1, divide row j by its pivot and subtract multiples of it from every other row.
    Symmetric positive-definite systems need no pivoting. Written out rather than
    ``jax.scipy.linalg.cho_solve``: K is 5 to 9, so LAPACK's per-matrix calls cost more than
    the arithmetic, and lowering LAPACK on the CPU imports SciPy (0.15 s of every command,
    measured). A zero pivot gives a non-finite step, which the lane rejects.
    """
    k = system.shape[-1]
    augmented = jnp.concatenate([system, rhs[:, None]], axis=1)  # [K, K + 1]
    for j in range(k):
        row = augmented[j] / augmented[j, j]
        augmented = (augmented - augmented[:, j, None] * row[None, :]).at[j].set(row)
    return augmented[:, k]


@partial(jax.jit, static_argnames=("objective", "ftol", "n_iterations", "chunk"))
def _advance(pool, new_z, new_problem, reset, problems, lower, upper, max_iterations,
             *, objective, ftol, n_iterations, chunk=0):
    """Reset the lanes marked in ``reset`` to new starts, then run up to ``n_iterations``.

    ``max_iterations`` is traced, so the screening and the refinement stages share one program.
    Lanes that are finished (status != RUNNING) do not move; the loop ends early once every
    lane has finished.
    """

    lane_problem = jnp.where(reset, new_problem, pool.problem)
    if chunk:  # each lane reads its chunks from the shared table (see huber_pieces_chunked)
        lane_data = lane_problem

        def pieces(z, problem):
            return huber_pieces_chunked(objective, z, problems, problem, chunk)
    else:  # each lane's data, gathered once per call rather than once per iteration
        lane_data = problem_data(problems, lane_problem)

        def pieces(z, data):
            return huber_pieces(objective, z, data)

    # A fresh lane's first iteration evaluates its start instead of stepping (one program, one
    # copy of the objective's derivatives: compile time is a large share of a small fit).
    fresh = reset
    pick_new = partial(jnp.where, reset)
    state = (jnp.where(reset[:, None], jnp.clip(new_z, lower, upper), pool.z), pick_new(jnp.inf, pool.value),
             pool.grad, pool.gauss_newton, pool.scale, pick_new(_LAMBDA_START, pool.damping), pick_new(RUNNING, pool.status),
             pick_new(0, pool.steps), lane_problem, fresh)

    def lane(data, z, value, grad, gauss_newton, scale, damping, status, steps, problem, fresh):
        running = status == RUNNING
        # The floor keeps a coordinate that does not enter the residuals from making A singular.
        floored = scale + 1e-12 * jnp.max(scale) + 1e-300
        candidate = jnp.where(fresh, z, damped_step(z, grad, gauss_newton, floored, damping, lower, upper))
        f_new, g_new, a_new, s_new = pieces(candidate, data)
        finite = jnp.isfinite(f_new) & jnp.all(jnp.isfinite(g_new)) & jnp.all(jnp.isfinite(a_new))
        accept = running & finite & (fresh | (f_new < value))
        # Converged: a lightly damped step gains (almost) nothing, or no step at all lowers J.
        # (Stopping when the model *predicts* no gain was tried: a projected step clipped at a
        # bound predicts little where other directions still descend; 13 of 200 bootstrap
        # replicates then stopped up to 1e-2 above their optimum.)
        tiny_gain = accept & ~fresh & (value - f_new <= ftol * jnp.abs(value)) & (damping <= 1e-2)
        stuck = running & ~accept & (damping >= _LAMBDA_MAX)
        pick = partial(jnp.where, accept)
        z, value, grad = pick(candidate, z), pick(f_new, value), pick(g_new, grad)
        gauss_newton, scale = pick(a_new, gauss_newton), pick(s_new, scale)
        damping = jnp.where(fresh, damping, jnp.where(accept, jnp.maximum(damping * 0.3, _LAMBDA_MIN), damping * 10.0))
        steps = steps + (running & ~fresh).astype(steps.dtype)
        status = jnp.where(running & fresh & ~finite, FAILED,
                           jnp.where(running & (tiny_gain | stuck), CONVERGED,
                                     jnp.where(running & (steps >= max_iterations), MAX_STEPS, status)))
        return z, value, grad, gauss_newton, scale, damping, status, steps, problem, jnp.zeros_like(fresh)

    batched = jax.vmap(lane)

    def cond(carry):
        i, state = carry
        return (i < n_iterations) & jnp.any(state[6] == RUNNING)

    def body(carry):
        i, state = carry
        return i + 1, batched(lane_data, *state)

    _, state = jax.lax.while_loop(cond, body, (0, state))
    return _Pool(*state[:-1])


def _empty_pool(width: int, n_params: int) -> _Pool:
    return _Pool(
        z=np.zeros((width, n_params)),
        value=np.full(width, np.inf),
        grad=np.zeros((width, n_params)),
        gauss_newton=np.zeros((width, n_params, n_params)),
        scale=np.zeros((width, n_params)),
        damping=np.full(width, _LAMBDA_START),
        status=np.full(width, CONVERGED, np.int32),  # empty lanes count as finished
        steps=np.zeros(width, np.int32),
        problem=np.zeros(width, np.int32),
    )


def minimize_starts(
    objective,
    starts: np.ndarray,
    start_problem: np.ndarray,
    problems,
    lower: np.ndarray,
    upper: np.ndarray,
    config: SolverConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StartResults:
    """Minimize ``sum w rho(objective.residuals(z, problems[q]))`` over the box from every start.

    Args:
      objective: hashable (a NamedTuple) with ``residuals(z, data) -> [n]`` and ``delta``; the
        compiled rounds are cached on it.
      starts: [S, K] starting points (clipped to the box).
      start_problem: [S] problem index of each start.
      problems: pytree of arrays with a leading problem axis; each problem has ``weights``.
      lower, upper: [K] box (-inf / inf for an open side).
      config: solver settings.
      progress: called as ``progress(done, total)`` after each round.
    Returns:
      StartResults in the order of ``starts``.
    """
    config = config or SolverConfig()
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    starts = np.clip(np.asarray(starts, dtype=np.float64), lower, upper)
    start_problem = np.asarray(start_problem, dtype=np.int32)
    n_starts = starts.shape[0]
    out = StartResults(starts.copy(), np.full(n_starts, np.inf), np.full(n_starts, RUNNING, np.int32),
                       np.zeros(n_starts, np.int32), start_problem)
    queue = np.arange(n_starts)
    if config.chunk:
        problems = pad_runs(problems, config.chunk)
    # One pool width for both stages, so a fit compiles one program, not two (the compilation
    # of a round is most of a small fit's cold start: 0.5 s of 1.3 s, benchmarks/README.md):
    # the power of two that holds the starts that go on after screening, or all of them.
    n_kept = _survivor_count(start_problem, config) if config.screen_iterations > 0 else n_starts
    width = min(config.width, 1 << max(n_kept - 1, 0).bit_length())
    if config.screen_iterations > 0:
        _run_queue(objective, config, width, config.screen_iterations, queue, out, problems, lower, upper, progress)
        queue = screen(out, config)
    _run_queue(objective, config, width, config.max_iterations, queue, out, problems, lower, upper, progress)
    return out


def _keep_count(size: int, config: SolverConfig) -> int:
    """How many of a problem's ``size`` starts go on after screening."""
    return max(config.min_keep, math.ceil(config.keep * size - 1e-9))


def _survivor_count(start_problem: np.ndarray, config: SolverConfig) -> int:
    """The most starts that can go on after screening (each problem keeps its best ones)."""
    _, sizes = np.unique(start_problem, return_counts=True)
    return int(sum(min(int(size), _keep_count(int(size), config)) for size in sizes))


def screen(out: StartResults, config) -> np.ndarray:
    """Starts to continue: of each problem's unfinished ones, the best (``keep`` times the
    problem's start count, at least ``min_keep``; ``config`` has those two fields: the LM
    solver's and the optax path's share it)."""
    unfinished = out.status == MAX_STEPS
    problems, sizes = np.unique(out.problem, return_counts=True)
    survivors = []
    for q, size in zip(problems, sizes, strict=True):
        members = np.flatnonzero((out.problem == q) & unfinished)
        n_keep = _keep_count(size, config)
        ranked = members[np.argsort(out.value[members], kind="stable")]
        survivors.append(ranked[:n_keep])
        out.status[ranked[n_keep:]] = SCREENED_OUT
    queue = np.sort(np.concatenate(survivors)) if survivors else np.zeros(0, int)
    out.status[queue] = RUNNING
    return queue


def _run_queue(objective, config, width, max_iterations, queue, out, problems, lower, upper, progress):
    """Run the starts in ``queue`` (from ``out.params``) through a refilled pool of ``width``
    lanes; write ``out``. Every distinct width is one more program to trace and compile."""
    n_params = out.params.shape[1]
    pool = _empty_pool(width, n_params)
    lane_start = np.full(width, -1)  # which start occupies each lane
    prior_steps = out.steps.copy()
    next_in_queue = finished = 0
    shrunk = False
    total = len(queue)
    while True:
        free = np.flatnonzero(lane_start < 0)
        n_new = min(len(free), total - next_in_queue)
        reset = np.zeros(width, dtype=bool)
        new_z = np.zeros((width, n_params))
        new_problem = np.zeros(width, dtype=np.int32)
        if n_new:
            lanes = free[:n_new]
            ids = queue[next_in_queue: next_in_queue + n_new]
            next_in_queue += n_new
            reset[lanes] = True
            new_z[lanes] = out.params[ids]
            new_problem[lanes] = out.problem[ids]
            lane_start[lanes] = ids
        if not np.any(lane_start >= 0):
            break
        pool = programs.call(_advance, "advance",
                             (pool, new_z, new_problem, reset, problems, lower, upper, np.int32(max_iterations)),
                             objective=objective, ftol=config.ftol, n_iterations=config.round_iterations,
                             chunk=config.chunk)
        status = np.asarray(pool.status)
        done = np.flatnonzero((lane_start >= 0) & (status != RUNNING))
        if len(done):
            ids = lane_start[done]
            out.params[ids] = np.asarray(pool.z)[done]
            out.value[ids] = np.asarray(pool.value)[done]
            out.status[ids] = status[done]
            out.steps[ids] = prior_steps[ids] + np.asarray(pool.steps)[done]
            lane_start[done] = -1
            finished += len(done)
        if progress is not None:
            progress(finished, total)
        # Once the queue is empty, pack the survivors into a pool 8 times narrower, once, so the
        # slow tail (a few starts crawling along a flat valley) does not pay for idle lanes.
        occupied = np.flatnonzero(lane_start >= 0)
        if next_in_queue == total and 0 < len(occupied) <= width // 8 and width >= _SHRINK_MIN_WIDTH and not shrunk:
            shrunk = True
            width //= 8
            pool = _gather_lanes(pool, np.resize(occupied, width), np.arange(width) >= len(occupied))
            lane_start = np.concatenate([lane_start[occupied], np.full(width - len(occupied), -1)])


@jax.jit
def _gather_lanes(pool: _Pool, index, empty) -> _Pool:
    """The lanes ``index`` of ``pool``, the ones marked ``empty`` finished (so they stay idle)."""
    packed = jax.tree.map(lambda a: a[index], pool)
    return packed._replace(status=jnp.where(empty, CONVERGED, packed.status))
