"""Which runs to train next: experimental design for a fitted law of params and tokens.

The criterion is the linearized variance of what the user cares about, the *target*: the log
loss at a point (N, D), the average over several points, or log N* at a budget (the
compute-optimal size). With theta the fitted coefficients (the optimizer's coordinates), j(x) =
d log L(x) / d theta the law's gradient at run x, and sigma the run-to-run noise of the log
loss (FIT.json's ``residual_scale``), the runs in hand give the information matrix
I = sum_runs j j^T / sigma^2, and the target's variance is g^T I^-1 g for its gradient g. A
new run x adds j(x) j(x)^T / sigma^2, which lowers the variance by

    (g^T I^-1 j)^2 / (sigma^2 + j^T I^-1 j)          (Sherman-Morrison),

so every candidate is scored at once. Runs are chosen greedily, each time the one that lowers
the variance most while the remaining FLOP cap still leaves room for the runs still to choose
(the cheapest candidate each), then the set is improved by exchanges: a chosen run is swapped
for a candidate whenever that lowers the final variance within the cap, until no swap does.
This search runs under several per-run FLOP ceilings (the cap split evenly, and a quarter to
``count`` times that), and from a few random feasible designs (seeded), and the best result is
kept.
Candidates are a log grid over the box of allowed runs (``limits``), or a pool given by the
user with a ``cost`` column (runs that can actually be trained). Runs already scheduled
(``exclude``) count as in hand.

This is the design a linear(ized) Gaussian model calls optimal for one target quantity
(V-optimal for a region); it trusts the fitted law, as any design from a fit must: refit after
each batch and ask again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from ..errors import FitFileError, InputError

GRID_POINTS = 64  # per axis of the candidate grid (log-spaced): 4,096 candidates before the limits
DISTILLATION_GRID_POINTS = 32  # per student axis, times the teachers in hand
RANDOM_STARTS = 16  # random feasible designs improved by exchanges, beside the greedy ones
WIDEN = 4.0  # default limits: the table's range of params and tokens, the top end widened 4x
Z90 = 1.6448536269514722  # the 90% two-sided normal quantile, for interval widths


class Limits(NamedTuple):
    """Per-run limits (raw counts; tokens per parameter for the ratios); None takes the default
    from the runs in hand: their range of params and tokens with the top end widened 4x, and
    their range of tokens per parameter widened 2x either way (a design left alone puts runs in
    the corners, 35B parameters on 2B tokens, which no team would train)."""

    min_params: float | None = None
    max_params: float | None = None
    min_tokens: float | None = None
    max_tokens: float | None = None
    min_tokens_per_param: float | None = None
    max_tokens_per_param: float | None = None


class Suggestion(NamedTuple):
    """What :func:`suggest` returns.

    Attributes:
      runs: the suggested runs, in the order chosen: ``params, tokens, flops``, and
        ``target_sd_after``: the target's linearized standard deviation (log loss, or log N*)
        once this run and the ones before it are in.
      target_sd_now: the target's linearized standard deviation with the runs in hand.
      target_sd_after: the same after all suggested runs.
      total_flops: the suggested runs' FLOPs.
      targets: the target descriptions.
    """

    runs: object  # pandas DataFrame
    target_sd_now: float
    target_sd_after: float
    total_flops: float
    targets: tuple[str, ...]


def parse_target(text: str) -> dict:
    """``params=7e10,tokens=1.4e12`` or ``compute-optimal:1e24`` -> a target dict."""
    text = text.strip()
    if text.startswith("compute-optimal:"):
        try:
            budget = float(text.split(":", 1)[1])
        except ValueError:
            raise InputError(f"target {text!r}: expected compute-optimal:BUDGET, e.g. compute-optimal:1e24",
                             argument="targets") from None
        if not (math.isfinite(budget) and budget > 0):
            raise InputError(f"target {text!r}: the budget must be a positive number", argument="targets")
        return {"compute_optimal": budget}
    point = {}
    for item in text.split(","):
        name, eq, value = item.partition("=")
        try:
            if not eq:
                raise ValueError
            point[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"target {text!r}: expected NAME=VALUE,... (params=7e10,tokens=1.4e12) or "
                             "compute-optimal:BUDGET", argument="targets") from None
    return point


def suggest(
    fit,
    runs,
    targets: Sequence,
    count: int,
    max_flops: float,
    *,
    limits: Limits | None = None,
    candidates=None,
    exclude=None,
    column_map: Mapping[str, str] | None = None,
    where: str | None = None,
    criterion: str = "auto",
) -> Suggestion:
    """The ``count`` runs that most lower the target's linearized variance within ``max_flops``.

    Args:
      fit: a FIT.json path, preset or :class:`~distlaw.fitting.scaling_law.FitResult` of a law of
        params and tokens.
      runs: the run tables in hand (those the fit was made from, or more).
      targets: target dicts or strings (:func:`parse_target`): points ``{"params", "tokens"}``
        (several: their average variance) or ``{"compute_optimal": budget}`` (log N*), or a CSV
        path of points (a region), one per row.
      count: runs to suggest.
      max_flops: total FLOPs of the suggested runs (6ND each, or a pool's ``cost``).
      limits: per-run limits (default: the table's range, the top widened 4x).
      candidates: a pool (path or DataFrame with ``params, tokens`` and optionally ``cost``)
        instead of the grid.
      exclude: runs already scheduled (path or DataFrame with ``params, tokens``): counted as in
        hand, never suggested.
      criterion: ``"auto"`` (``bootstrap`` for a distillation fit with bootstrap replicates,
        whose law's ridge the linearization misses; ``linearized`` otherwise),
        ``"linearized"`` (the variance at the fitted law, the module docstring) or
        ``"bootstrap"`` (a fit made with a bootstrap: the replicates' joint spread of the target
        and of every candidate, conditioned on a new run as an ensemble Kalman filter does,
        which sees what one linearization misses, such as the distillation law's ridge). In
        replicate space the two are the same computation: a replicate's deviation from their
        mean plays the gradient's part, and the prior is the identity.
    """
    import pandas as pd

    from ..fitting.scaling_law import FitResult
    from ..io.runs import read_runs
    from ..laws import user

    result = fit if isinstance(fit, FitResult) else FitResult.load(fit)
    spec = user.resolve(result.record["law"])
    distill = spec.needs_supervised
    if not distill and spec.input_columns != ("params", "tokens"):
        raise FitFileError(f"suggest: the {result.record['law']} law reads {', '.join(spec.input_columns)}; "
                           "suggestions are for laws of params and tokens, and distillation fits")
    if not (isinstance(count, int) and count >= 1):
        raise InputError(f"count must be a whole number >= 1, got {count!r}", argument="count")
    if not (isinstance(max_flops, (int, float)) and math.isfinite(max_flops) and max_flops > 0):
        raise InputError(f"max_flops must be a positive number, got {max_flops!r}", argument="max_flops")
    sigma = result.record.get("residual_scale")
    if not sigma:
        raise FitFileError("suggest: the fit has no residual_scale (refit with this distlaw)")
    size, tokens = ("student_params", "student_tokens") if distill else ("params", "tokens")
    table = read_runs(runs, required=spec.input_columns, optional=("teacher_params",) if distill else (),
                      column_map=column_map, where=where).frame
    targets = [item for t in targets for item in _expand_target(t, spec.input_columns)]
    if not targets:
        raise InputError("give at least one target", argument="targets")
    theta = np.asarray(spec.from_natural(result.params), dtype=np.float64)
    supervised = (np.asarray(_supervised_spec().from_natural(result.record["supervised"]), dtype=np.float64)
                  if distill else None)
    reduce = _free_columns(spec, result.record)
    limits = _limits(limits, table.rename(columns={size: "params", tokens: "tokens"}))
    if candidates is not None:
        pool = read_runs(candidates, required=spec.input_columns, keep=()).frame
        grid = {c: pool[c].to_numpy(dtype=np.float64) for c in spec.input_columns}
        cost = (pool["cost"].to_numpy(dtype=np.float64) if "cost" in pool.columns
                else _flops(grid, size, tokens, pool.get("teacher_params")))
    else:
        points = DISTILLATION_GRID_POINTS if distill else GRID_POINTS
        axes = [np.geomspace(limits.min_params, limits.max_params, points),
                np.geomspace(limits.min_tokens, limits.max_tokens, points)]
        if distill:  # the teachers in hand: every distinct teacher loss (and its size, for its logits)
            teachers = table.drop_duplicates("teacher_loss")
            axes.append(np.arange(len(teachers)))
        mesh = [a.ravel() for a in np.meshgrid(*axes, indexing="ij")]
        grid = {size: mesh[0], tokens: mesh[1]}
        teacher_params = None
        if distill:
            grid["teacher_loss"] = teachers["teacher_loss"].to_numpy()[mesh[2]]
            if "teacher_params" in teachers.columns:
                teacher_params = teachers["teacher_params"].to_numpy()[mesh[2]]
        cost = _flops(grid, size, tokens, teacher_params)
    n_c, d_c = grid[size], grid[tokens]
    inside = ((n_c >= limits.min_params * (1 - 1e-12)) & (n_c <= limits.max_params * (1 + 1e-12))
              & (d_c >= limits.min_tokens * (1 - 1e-12)) & (d_c <= limits.max_tokens * (1 + 1e-12))
              & (d_c / n_c >= limits.min_tokens_per_param * (1 - 1e-12))
              & (d_c / n_c <= limits.max_tokens_per_param * (1 + 1e-12)) & (cost <= max_flops))
    if candidates is not None and not inside.any():
        raise InputError("no candidate of the pool fits the limits and the FLOP cap", argument="candidates")
    grid, cost = {c: v[inside] for c, v in grid.items()}, cost[inside]
    if len(cost) == 0:
        raise InputError("no run fits the limits under the FLOP cap: raise max_flops or lower the limits",
                         argument="max_flops")
    held = [table]
    if exclude is not None:
        held.append(read_runs(exclude, required=spec.input_columns).frame)
    known = pd.concat(held, ignore_index=True)
    if criterion == "auto":
        replicates = len((result.record.get("bootstrap_samples") or {}).get("values") or [])
        criterion = "bootstrap" if distill and replicates >= 8 else "linearized"
    if criterion == "bootstrap":
        information, gradient, jac_c = _ensemble(spec, result.record, targets, grid, supervised, sigma,
                                                 known if exclude is not None else None, len(table))
    elif criterion == "linearized":
        info = reduce(_jacobians(spec, theta, {c: known[c].to_numpy() for c in spec.input_columns}, supervised))
        information = info.T @ info / sigma**2
        gradient = reduce(_target_gradient(spec, theta, targets, supervised))
        jac_c = reduce(_jacobians(spec, theta, grid, supervised))
    else:
        raise InputError(f"criterion {criterion!r}: choose auto, linearized or bootstrap", argument="criterion")
    chosen, variance_path = _choose(information, gradient, jac_c, cost, count, max_flops, sigma)
    now = _variance(information, gradient)
    frame = pd.DataFrame({**{c: v[chosen] for c, v in grid.items()}, "flops": cost[chosen],
                          "target_sd_after": np.sqrt(variance_path)})
    return Suggestion(frame, float(np.sqrt(now)), float(np.sqrt(variance_path[-1])) if len(chosen) else
                      float(np.sqrt(now)), float(cost[chosen].sum()), tuple(_describe(t) for t in targets))


def _ensemble(spec, record, targets, grid, supervised, sigma, known, n_in_hand):
    """The bootstrap criterion in the linearized machinery's terms: each run's (or target's)
    log-loss deviations over the replicates, scaled by 1/sqrt(B - 1), are its "gradient" in
    replicate space, and the prior precision is the identity (the replicates already hold the
    runs in hand). Scheduled runs beyond the table (``known`` past ``n_in_hand``) are added."""
    from ..laws.registry import predict_loss

    stored = record.get("bootstrap_samples") or {}
    if len(stored.get("values") or []) < 8:
        raise FitFileError("criterion bootstrap needs a fit made with --bootstrap (at least 8 replicates)")
    replicates = np.array([np.asarray(spec.from_natural(dict(zip(stored["names"], row, strict=True))))
                           for row in stored["values"]])
    batched = spec.params_type(*(replicates[:, k:k + 1] for k in range(replicates.shape[1])))
    sup = None if supervised is None else _supervised_spec().params_type(*supervised)

    def deviations(columns: dict) -> np.ndarray:
        values = np.log(np.asarray(predict_loss(spec, batched, *(np.asarray(columns[c], dtype=np.float64)
                                                                 for c in spec.input_columns), supervised=sup)))
        values = values - values.mean(axis=0, keepdims=True)
        return (values / math.sqrt(len(replicates) - 1)).T  # [runs, B]

    for target in targets:
        if "compute_optimal" in target:
            raise InputError("criterion bootstrap takes point targets", argument="criterion")
    gradient = deviations({c: np.array([t[c] for t in targets]) for c in spec.input_columns})
    information = np.eye(len(replicates))
    if known is not None and len(known) > n_in_hand:
        scheduled = deviations({c: known[c].to_numpy()[n_in_hand:] for c in spec.input_columns})
        information = information + scheduled.T @ scheduled / sigma**2
    return information, gradient, deviations(grid)


def _expand_target(target, columns) -> list[dict]:
    """A target string, a dict, or a CSV path of targets (one per row, the law's input columns)."""
    from pathlib import Path

    if isinstance(target, dict):
        return [dict(target)]
    if isinstance(target, str) and target.lower().endswith(".csv"):
        import pandas as pd

        if not Path(target).is_file():
            raise InputError(f"{target}: no such targets file", argument="targets")
        frame = pd.read_csv(target)
        missing = [c for c in columns if c not in frame.columns]
        if missing or frame.empty:
            raise InputError(f"{target}: a targets file needs the columns {', '.join(columns)} and a row",
                             argument="targets")
        return [{c: float(row[c]) for c in columns} for _, row in frame.iterrows()]
    return [parse_target(str(target))]


def _supervised_spec():
    """The supervised law's spec (a distillation fit's Ltilde_S comes from it)."""
    from ..laws.catalog import SUPERVISED_LAW
    from ..laws.registry import LAWS

    return LAWS[SUPERVISED_LAW]


def _flops(grid: dict, size: str, tokens: str, teacher_params) -> np.ndarray:
    """Training FLOPs 6 N D; a distillation run also pays its teacher's logits, 2 N_T D_S, where
    the teacher's size is known."""
    flops = 6.0 * grid[size] * grid[tokens]
    if teacher_params is not None:
        flops = flops + 2.0 * np.nan_to_num(np.asarray(teacher_params, dtype=np.float64)) * grid[tokens]
    return flops


def _free_columns(spec, record: dict):
    """Gradients over the fit's free coefficients: fixed ones dropped, tied ones summed into their
    target's column (a tie is one coefficient)."""
    fixed, ties = set(record.get("fixed", {})), dict(record.get("ties", {}))
    names = list(spec.natural_names)
    keep = [i for i, name in enumerate(names) if name not in fixed and name not in ties]

    def reduce(jacobian):
        jacobian = np.array(jacobian, dtype=np.float64)
        for name, target in ties.items():
            jacobian[:, names.index(target)] += jacobian[:, names.index(name)]
        return jacobian[:, keep]

    return reduce


def _limits(limits: Limits | None, table) -> Limits:
    limits = limits or Limits()
    n, d = table["params"].to_numpy(), table["tokens"].to_numpy()
    ratio = d / n
    out = Limits(limits.min_params or float(n.min()), limits.max_params or float(n.max() * WIDEN),
                 limits.min_tokens or float(d.min()), limits.max_tokens or float(d.max() * WIDEN),
                 limits.min_tokens_per_param or float(ratio.min() / 2),
                 limits.max_tokens_per_param or float(ratio.max() * 2))
    for low, high, name in ((out.min_params, out.max_params, "params"), (out.min_tokens, out.max_tokens, "tokens"),
                            (out.min_tokens_per_param, out.max_tokens_per_param, "tokens_per_param")):
        if not (0 < low <= high and math.isfinite(high)):
            raise InputError(f"limits on {name}: need 0 < min <= max, got [{low}, {high}]", argument=f"max_{name}")
    return out


def _describe(target: dict) -> str:
    if "compute_optimal" in target:
        return f"log N* at C = {target['compute_optimal']:.3g}"
    return "log L at " + ", ".join(f"{k}={v:.3g}" for k, v in target.items())


def _jacobians(spec, theta: np.ndarray, columns: dict, supervised=None) -> np.ndarray:
    """[runs, K]: d log L / d theta at each run (forward mode, float64, jitted once per law); a
    distillation law's Ltilde_S comes from the fit's ``supervised`` law (held fixed)."""
    from .optimize import law_jacobian

    log_inputs = [np.log(np.asarray(columns[c], dtype=np.float64)) for c in spec.input_columns]
    return np.asarray(law_jacobian(spec, theta, *log_inputs, supervised=supervised))


def _target_gradient(spec, theta: np.ndarray, targets: list[dict], supervised=None) -> np.ndarray:
    """[T, K] gradients of the targets' log quantities (their variances are averaged)."""
    from .optimize import optimal_size_gradient

    rows = []
    for target in targets:
        if "compute_optimal" in target:
            if spec.needs_supervised:
                raise InputError("compute-optimal targets are for laws of params and tokens; give a distillation "
                                 "target as student_params=..,student_tokens=..,teacher_loss=..", argument="targets")
            rows.append(np.asarray(optimal_size_gradient(spec, theta, target["compute_optimal"])))
            continue
        needed = set(spec.input_columns)
        if set(target) != needed or not all(math.isfinite(v) and v > 0 for v in target.values()):
            example = ("student_params=1e9,student_tokens=2e10,teacher_loss=2.3" if spec.needs_supervised
                       else "params=7e10,tokens=1.4e12")
            raise InputError(f"target {target}: give {', '.join(spec.input_columns)} as positive numbers "
                             f"(e.g. {example})", argument="targets")
        rows.append(_jacobians(spec, theta, {c: np.array([target[c]]) for c in spec.input_columns}, supervised)[0])
    return np.array(rows)


def _variance(information: np.ndarray, gradient: np.ndarray) -> float:
    """Mean over targets of g^T I^-1 g (a pseudo-inverse where I is singular)."""
    inverse = np.linalg.pinv(information, rcond=1e-13)
    return float(np.mean(np.einsum("tk,kl,tl->t", gradient, inverse, gradient)))


def _choose(information, gradient, jac_c, cost, count, max_flops, sigma):
    """The best of several greedy-and-exchange searches, each with another per-run FLOP ceiling
    (the cap split evenly, and 1/4 to ``count`` times that), and of ``RANDOM_STARTS`` random
    feasible designs improved by the same exchanges (a fixed seed: the same call gives the same
    runs). One greedy pass spends the cap on a first large run and then has only crumbs, and
    single exchanges cannot rebalance a budget; starting from ceilings finds the even and the
    uneven splits alike, and the random starts reach local optima the greedy path misses.
    Returns (indices, variance after each)."""
    best = None

    def keep(chosen):
        nonlocal best
        path = _path(information, gradient, jac_c, chosen, sigma)
        if len(path) and (best is None or path[-1] < best[1][-1]):
            best = (np.asarray(chosen, dtype=int), path)

    for share in (0.25, 0.5, 1.0, 2.0, 4.0, float(count)):
        ceiling = max_flops / count * share
        usable = cost <= ceiling * (1 + 1e-12)
        if not usable.any():
            continue
        index = np.flatnonzero(usable)
        chosen = _greedy(information, gradient, jac_c[index], cost[index], count, max_flops, sigma)
        keep(_exchange(information, gradient, jac_c, cost, list(index[chosen]), max_flops, sigma))
    rng = np.random.default_rng(0)
    for _ in range(RANDOM_STARTS):
        start = _random_design(rng, cost, count, max_flops)
        if start is not None:
            keep(_exchange(information, gradient, jac_c, cost, start, max_flops, sigma))
    if best is None:
        return np.zeros(0, dtype=int), np.zeros(0)
    return best


def _greedy(information, gradient, jac_c, cost, count, max_flops, sigma) -> list[int]:
    """Each time the candidate that lowers the variance most while the cap still leaves room for
    the runs still to choose (the cheapest candidate each)."""
    chosen: list[int] = []
    current = information.copy()
    cheapest = float(cost.min())
    for k in range(count):
        room = max_flops - cost[chosen].sum() - cheapest * (count - k - 1)
        allowed = cost <= room * (1 + 1e-12)
        if not allowed.any():
            break
        gain = np.where(allowed, _gains(current, gradient, jac_c, sigma), -np.inf)
        best = int(np.argmax(gain))
        chosen.append(best)
        current = current + np.outer(jac_c[best], jac_c[best]) / sigma**2
    return chosen


def _exchange(information, gradient, jac_c, cost, chosen: list[int], max_flops, sigma) -> list[int]:
    """Swap a chosen run for any candidate while that lowers the final variance within the cap,
    until no swap does (a local optimum of the discrete design)."""
    chosen = list(chosen)
    for _ in range(4 * len(chosen)):
        improved = False
        for position in range(len(chosen)):
            others = chosen[:position] + chosen[position + 1:]
            base = information + jac_c[others].T @ jac_c[others] / sigma**2
            room = max_flops - cost[others].sum()
            gain = np.where(cost <= room * (1 + 1e-12), _gains(base, gradient, jac_c, sigma), -np.inf)
            best = int(np.argmax(gain))
            old = _gains(base, gradient, jac_c[[chosen[position]]], sigma)[0]
            if gain[best] > old * (1 + 1e-9) + 1e-300:
                chosen[position] = best
                improved = True
        if not improved:
            break
    return chosen


def _random_design(rng, cost, count, max_flops, tries: int = 20) -> list[int] | None:
    """``count`` candidates drawn uniformly (with repeats) whose total cost fits the cap, or None."""
    for _ in range(tries):
        pick = rng.integers(0, len(cost), count)
        if cost[pick].sum() <= max_flops * (1 + 1e-12):
            return [int(i) for i in pick]
    return None


def _path(information, gradient, jac_c, chosen, sigma) -> np.ndarray:
    """The target's variance after each chosen run, in order."""
    path, current = [], information.copy()
    for index in chosen:
        current = current + np.outer(jac_c[index], jac_c[index]) / sigma**2
        path.append(_variance(current, gradient))
    return np.array(path)


def _gains(information, gradient, jac_c, sigma) -> np.ndarray:
    """Mean variance reduction of the targets from adding each candidate (Sherman-Morrison)."""
    inverse = np.linalg.pinv(information, rcond=1e-13)
    projected = jac_c @ inverse  # [C, K]
    leverage = np.einsum("ck,ck->c", projected, jac_c)
    cross = projected @ gradient.T  # [C, T]
    return np.mean(cross**2, axis=1) / (sigma**2 + leverage)
