"""Batched multi-start minimization with optax's L-BFGS: a pool of lanes refilled as they finish.

Why a pool. A plain ``jax.vmap`` of an L-BFGS loop over thousands of starts makes every start
wait for the slowest one: each step runs the line search as long as the longest lane, and the
outer loop runs until the last lane converges. Measured here, that was 30x slower than SciPy
running the starts one after another. Instead a fixed number of lanes (``width``) runs a few
steps at a time inside one jitted function; between rounds the host retires the lanes that
converged and refills them with the next starts, re-initializing their optimizer state inside
the same jitted call. Work is then proportional to the steps each start really needs, one
compiled shape serves the whole queue, and memory is bounded by ``width`` whatever the number
of starts. When the queue runs dry the survivors are packed into a narrower pool so the tail
does not pay for empty lanes.

Staged refinement. On top of the pool, starts can be *screened*: every start runs a short
budget of steps; only the best ``keep`` fraction of each problem (and every start that already
converged) continues to convergence. ``screen_steps=0`` turns this off and runs every start to
convergence.

Each lane carries a *problem* index: problems are stacked data sets of equal (padded) length,
so bootstrap resamples (weight vectors) and groups of runs (zero-padded) share one batch.
Nothing under ``jit`` raises: a start that produces NaN ends with status ``FAILED``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

# Status codes of a finished start.
RUNNING, CONVERGED, MAX_STEPS, FAILED, SCREENED_OUT = 0, 1, 2, 3, 4
STATUS_NAMES = {RUNNING: "running", CONVERGED: "converged", MAX_STEPS: "max_steps",
                FAILED: "failed", SCREENED_OUT: "screened_out"}  # fmt: skip


class SolverConfig(NamedTuple):
    """Settings of the batched L-BFGS.

    Attributes:
      width: lanes (starts) advanced together; bounds memory at width x runs.
      steps_per_round: L-BFGS steps between host-side refills.
      max_steps: step limit of one start.
      ftol: stop when a step lowers the objective by less than ftol * max(|f|, |f_prev|, 1e-30)...
      gtol: ...or the largest gradient component is below gtol.
      memory_size: L-BFGS history length.
      max_linesearch_steps: bounds the zoom line search, and so the lock-step work of a step.
      refine_linesearch_steps: the line-search cap after screening. Survivors restart with an
        empty L-BFGS memory, whose first step (the raw negative gradient) can overshoot by
        orders of magnitude near an optimum; 3 zoom steps cannot come back from that (measured:
        survivors then stalled where screening left them), 8 almost always can.
      screen_steps: steps every start gets before screening (0: no screening).
      keep: fraction of each problem's starts kept after screening (at least ``min_keep``).
      min_keep: lower bound on survivors per problem.
    """

    width: int = 512
    steps_per_round: int = 10
    max_steps: int = 1000
    ftol: float = 1e-13
    gtol: float = 1e-10
    memory_size: int = 10
    max_linesearch_steps: int = 3
    refine_linesearch_steps: int = 8
    screen_steps: int = 0
    keep: float = 0.1
    min_keep: int = 8


class StartResults(NamedTuple):
    """Final state of every start, in queue order (host numpy arrays)."""

    params: np.ndarray  # [S, P]
    value: np.ndarray  # [S]
    status: np.ndarray  # [S] status codes
    steps: np.ndarray  # [S]
    problem: np.ndarray  # [S] problem index of each start


class _Pool(NamedTuple):
    params: jnp.ndarray  # [W, P]
    opt_state: optax.OptState
    value: jnp.ndarray  # [W]
    status: jnp.ndarray  # [W] int32
    steps: jnp.ndarray  # [W] int32
    problem: jnp.ndarray  # [W] int32


def _optimizer(config: SolverConfig):
    return optax.lbfgs(
        memory_size=config.memory_size,
        linesearch=optax.scale_by_zoom_linesearch(
            max_linesearch_steps=config.max_linesearch_steps, initial_guess_strategy="one"
        ),
    )


@partial(jax.jit, static_argnames=("objective", "config", "n_steps"))
def _advance(pool, new_params, new_problem, reset, problems, max_steps, *, objective, config, n_steps):
    """Reset the lanes marked in ``reset`` to new starts, then take up to ``n_steps`` steps.

    ``max_steps`` is a traced argument (not part of the static config), so the screening and
    the refinement stages share one compiled program.

    ``objective(params, problem_data) -> scalar``; ``problems`` is a pytree whose leaves have a
    leading problem axis. Lanes that are finished (status != RUNNING) do not move.
    """
    opt = _optimizer(config)

    def lane(problems, params, opt_state, value, status, steps, problem, p_new, q_new, is_new):
        fresh_state = opt.init(p_new)
        params = jnp.where(is_new, p_new, params)
        opt_state = jax.tree.map(lambda f, o: jnp.where(is_new, f, o), fresh_state, opt_state)
        status = jnp.where(is_new, RUNNING, status)
        steps = jnp.where(is_new, 0, steps)
        problem = jnp.where(is_new, q_new, problem)
        data = jax.tree.map(lambda a: a[problem], problems)
        fn = partial(objective, data=data)
        # Value and gradient at the current point: optax's zoom line search stores both in the
        # state after each step; one extra evaluation per round covers fresh lanes.
        value, grad = jax.value_and_grad(fn)(params)

        def body(_, carry):
            params, opt_state, value, grad, status, steps, fails = carry
            updates, new_state = opt.update(grad, opt_state, params, value=value, grad=grad, value_fn=fn)
            new_params = optax.apply_updates(params, updates)
            f_new = optax.tree.get(new_state, "value")
            g_new = optax.tree.get(new_state, "grad")
            scale = jnp.maximum(jnp.maximum(jnp.abs(value), jnp.abs(f_new)), 1e-30)
            bad = ~jnp.isfinite(f_new) | ~jnp.all(jnp.isfinite(new_params))
            running = status == RUNNING
            # The line search is capped (bounding lock-step work); when it fails to lower f the
            # step is not taken and the L-BFGS memory is cleared, so the next step is a scaled
            # gradient step. A start ends when even that fails, or when an accepted step gains
            # less than ftol (relative), or when the gradient is flat.
            accept = running & ~bad & (f_new < value)
            stalled = running & ~bad & ~accept
            tiny_gain = accept & (value - f_new <= config.ftol * scale)
            params = jnp.where(accept, new_params, params)
            restart = opt.init(params)
            opt_state = jax.tree.map(
                lambda n, o, r: jnp.where(accept, n, jnp.where(stalled, r, o)), new_state, opt_state, restart
            )
            value = jnp.where(accept, f_new, value)
            grad = jnp.where(accept, g_new, grad)
            flat_grad = jnp.max(jnp.abs(grad)) <= config.gtol
            steps = steps + running.astype(steps.dtype)
            gave_up = stalled & (fails >= 1)
            fails = jnp.where(accept, 0, fails + stalled.astype(fails.dtype))
            status = jnp.where(
                running & bad, FAILED,
                jnp.where(running & (tiny_gain | flat_grad | gave_up), CONVERGED,
                          jnp.where(running & (steps >= max_steps), MAX_STEPS, status)),
            )  # fmt: skip
            return params, opt_state, value, grad, status, steps, fails

        fails = jnp.zeros((), jnp.int32)
        params, opt_state, value, grad, status, steps, fails = jax.lax.fori_loop(
            0, n_steps, body, (params, opt_state, value, grad, status, steps, fails)
        )
        return params, opt_state, value, status, steps, problem

    batched = jax.vmap(lane, in_axes=(None,) + (0,) * 9)
    devices = jax.devices()
    if len(devices) > 1 and pool.params.shape[0] % len(devices) == 0:
        # Each device advances its own slice of lanes with no communication, so one device's
        # line search never waits for another's (XLA's CPU backend runs each on its own thread).
        mesh = jax.sharding.Mesh(np.array(devices), ("lanes",))
        lanes, replicated = jax.sharding.PartitionSpec("lanes"), jax.sharding.PartitionSpec()
        batched = jax.shard_map(
            batched, mesh=mesh, in_specs=(replicated,) + (lanes,) * 9, out_specs=lanes, check_vma=False
        )
    return _Pool(*batched(problems, *pool, new_params, new_problem, reset))


@partial(jax.jit, static_argnames=("width", "n_params", "config", "dtype"))
def _empty_pool(width: int, n_params: int, config: SolverConfig, dtype) -> _Pool:
    params = jnp.zeros((width, n_params), dtype)
    # Strong-type every leaf: optax leaves some weak-typed, and the pool coming back from
    # ``_advance`` would then differ in type from the first one and force a second compile.
    opt_state = jax.tree.map(lambda a: jnp.asarray(a, dtype=a.dtype), jax.vmap(_optimizer(config).init)(params))
    return _Pool(
        params=params,
        opt_state=opt_state,
        value=jnp.full((width,), jnp.inf, dtype),
        status=jnp.full((width,), CONVERGED, jnp.int32),  # empty lanes count as finished
        steps=jnp.zeros((width,), jnp.int32),
        problem=jnp.zeros((width,), jnp.int32),
    )


def _shrink(pool: _Pool, keep_lanes: np.ndarray, width: int) -> _Pool:
    """Pack the lanes ``keep_lanes`` into a pool of ``width`` lanes (the rest empty)."""
    idx = np.zeros(width, dtype=np.int32)
    idx[: len(keep_lanes)] = keep_lanes
    return _gather_lanes(pool, idx, np.arange(width) >= len(keep_lanes))


@jax.jit
def _gather_lanes(pool: _Pool, idx, empty) -> _Pool:
    packed = jax.tree.map(lambda a: a[idx], pool)
    return packed._replace(status=jnp.where(empty, CONVERGED, packed.status))


def minimize_starts(
    objective: Callable,
    starts: np.ndarray,
    start_problem: np.ndarray,
    problems,
    config: SolverConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StartResults:
    """Minimize ``objective(params, data=problems[q])`` from every start.

    Args:
      objective: pure scalar function of a flat parameter vector and one problem's data; it
        must be hashable (a module-level function or a ``functools.partial`` of one) so the
        compiled round can be reused.
      starts: [S, P] starting points.
      start_problem: [S] problem index of each start.
      problems: pytree of arrays with a leading problem axis.
      config: solver settings.
      progress: called as ``progress(done, total)`` after each round.
    Returns:
      StartResults in the order of ``starts``.
    """
    config = config or SolverConfig()
    starts = np.asarray(starts, dtype=np.float64)
    start_problem = np.asarray(start_problem, dtype=np.int32)
    n_starts = starts.shape[0]
    out_params = starts.copy()
    out_value = np.full(n_starts, np.inf)
    out_status = np.full(n_starts, RUNNING, dtype=np.int32)
    out_steps = np.zeros(n_starts, dtype=np.int32)

    stages = []
    if config.screen_steps > 0:
        stages.append(config._replace(max_steps=config.screen_steps))
        stages.append(config._replace(max_linesearch_steps=config.refine_linesearch_steps))
    else:
        stages.append(config)
    queue = np.arange(n_starts)
    for stage_index, stage in enumerate(stages):
        _run_queue(objective, stage, queue, starts, out_params, out_value, out_status, out_steps,
                   start_problem, problems, progress)
        if stage_index + 1 < len(stages):
            queue = _screen(out_value, out_status, start_problem, config)
            starts = out_params  # survivors continue from where screening left them
    return StartResults(out_params, out_value, out_status, out_steps, start_problem)


def _screen(value, status, start_problem, config: SolverConfig) -> np.ndarray:
    """Starts to continue after screening: the best ``keep`` share of each problem's running starts."""
    survivors = []
    for q in np.unique(start_problem):
        members = np.flatnonzero((start_problem == q) & (status == MAX_STEPS))
        n_keep = max(config.min_keep, math.ceil(config.keep * np.sum(start_problem == q)))
        ranked = members[np.argsort(value[members], kind="stable")]
        survivors.append(ranked[:n_keep])
        status[ranked[n_keep:]] = SCREENED_OUT
    queue = np.sort(np.concatenate(survivors)) if survivors else np.zeros(0, int)
    status[queue] = RUNNING
    return queue


def _run_queue(objective, config, queue, starts, out_params, out_value, out_status, out_steps,
               start_problem, problems, progress):
    """Run the starts listed in ``queue`` through the refilled pool; write results in place."""
    n_params = starts.shape[1]
    # One width for the whole queue (the configured one, or the power of two that holds a
    # small queue): every distinct width is one more program to trace and compile.
    width = min(config.width, 1 << max(len(queue) - 1, 0).bit_length())
    pool = _empty_pool(width, n_params, config._replace(max_steps=0), np.dtype(starts.dtype))
    lane_start = np.full(width, -1)  # which start occupies each lane
    prior_steps = out_steps.copy()
    next_in_queue = 0
    shrunk = False
    total = len(queue)
    finished = 0
    while True:
        status = np.asarray(pool.status)
        free = np.flatnonzero(lane_start < 0)
        n_new = min(len(free), total - next_in_queue)
        reset = np.zeros(width, dtype=bool)
        new_params = np.zeros((width, n_params))
        new_problem = np.zeros(width, dtype=np.int32)
        if n_new:
            lanes = free[:n_new]
            ids = queue[next_in_queue: next_in_queue + n_new]
            next_in_queue += n_new
            reset[lanes] = True
            new_params[lanes] = starts[ids]
            new_problem[lanes] = start_problem[ids]
            lane_start[lanes] = ids
        if not np.any(lane_start >= 0):
            break
        pool = _advance(pool, new_params, new_problem, reset, problems, np.int32(config.max_steps),
                        objective=objective, config=config._replace(max_steps=0),
                        n_steps=config.steps_per_round)
        status = np.asarray(pool.status)
        done = np.flatnonzero((lane_start >= 0) & (status != RUNNING))
        if len(done):
            ids = lane_start[done]
            out_params[ids] = np.asarray(pool.params)[done]
            out_value[ids] = np.asarray(pool.value)[done]
            out_status[ids] = status[done]
            out_steps[ids] = prior_steps[ids] + np.asarray(pool.steps)[done]
            lane_start[done] = -1
            finished += len(done)
        if progress is not None:
            progress(finished, total)
        # Once the queue is empty, pack the survivors into a pool 8 times narrower, once, so
        # the tail does not pay for idle lanes (each width is one more compiled shape).
        occupied = np.flatnonzero(lane_start >= 0)
        if (next_in_queue == total and 0 < len(occupied) <= width // 8 and width >= 64
                and not shrunk):
            shrunk = True
            new_width = width // 8
            pool = _shrink(pool, occupied, new_width)
            lane_start = np.concatenate([lane_start[occupied], np.full(new_width - len(occupied), -1)])
            width = new_width
