"""isoFLOP minima: Chinchilla's Approach 2, as Porian et al. (2024) estimate it.

Runs trained at a few fixed compute budgets C (an *isoFLOP* profile each: several model sizes N,
tokens D = C / (6 N)) locate the compute-optimal size without assuming any loss law:

1. per budget, log L is interpolated against log N (Akima's spline through the sampled sizes,
   ``scipy.interpolate.Akima1DInterpolator``) and evaluated on a geometric grid of 25·(k−1)
   sizes from the smallest to the largest of the k sampled sizes; N*(C) is the grid argmin,
   kept only if it is *interior* (not the first or last grid point: a minimum at an end of the
   sampled sizes says only that the optimum lies outside them). D*(C) = C / (6 N*), L*(C) the
   interpolated loss at N*;
2. over the budgets with an interior minimum, ordinary least squares in log space gives the
   power laws N* = n0·C^a, D* = d0·C^b, L* = l0·C^c (a + b = 1 exactly, since D* = C/(6N*)).

This is ``interp_flop`` and the ``basic`` fit of ``fit_compute_optimal_power_laws`` in
github.com/formll/resolving-scaling-law-discrepancies without their noise bootstrap (the median
of 1000 minimisers of losses with Gaussian "seed noise" added, which moves a by < 0.004 on
their tables; distlaw/data/SOURCES.md, section 3). Intervals here come instead from resampling
the budgets (a case bootstrap of the log-log regression).

A budget with exactly 3 sizes uses the vertex of the parabola through the three points in
(log N, log L): Akima's slopes at each node are built from the two neighbouring secant slopes on
either side, and with 3 points four of those are linear extrapolations of the two real ones, so
the curve (and its argmin) is shaped by the extrapolation rule, not the data (SciPy accepts it
all the same). A budget with fewer than 3 sizes has no interior minimum to find and is skipped.

``method="parabola"`` is Hoffmann et al.'s own Approach 2 instead: per budget, a least-squares
parabola of the loss L over log N through all the budget's sizes, N* at its vertex (their
published a = 0.49 came from it). A budget whose parabola opens downward, or whose vertex lies
outside the sampled sizes, has no interior minimum (a note says which); the power laws and their
intervals are fitted the same way. Open-Athena's "Problems with Chinchilla Approach 2" shows where
this estimator is biased (an asymmetric profile pulls the vertex); Akima stays the default.

Units: N parameters (raw count), D tokens, C FLOPs (6·N·D when the table has no ``flops``), L
nats per token. Everything here is NumPy/SciPy on the host; no JAX.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.fitfile import finite_or_none

__all__ = ["IsoflopResult", "budget_minimum", "fit_power_laws", "isoflop", "isoflop_minima"]

METHODS = ("akima", "parabola")
GRID_POINTS_PER_INTERVAL = 25  # Porian et al.'s interp_num_multiplier: 25·(k−1) grid points for k sizes
BUDGET_RTOL = 1e-6  # FLOP values this close (relative) are one budget: 6·N·D recomputed from tokens jitters
MINIMA_COLUMNS = ("budget", "n_points", "smallest_params", "largest_params", "compute_optimal_params",
                  "compute_optimal_tokens", "compute_optimal_loss", "interior", "method")
EXPONENTS = {"a": "compute_optimal_params", "b": "compute_optimal_tokens", "c": "compute_optimal_loss"}


def budget_minimum(params: np.ndarray, loss: np.ndarray,
                   points_per_interval: int = GRID_POINTS_PER_INTERVAL) -> tuple[float, float, bool, str]:
    """The loss-minimizing size on one isoFLOP profile.

    Args:
      params: k >= 3 distinct sizes N (any order).
      loss: their losses L (nats per token).
      points_per_interval: grid density: points_per_interval·(k−1) geometric grid points.
    Returns:
      ``(N*, L*, interior, method)``: ``method`` is ``"akima"`` (k >= 4: argmin of the Akima
      spline of log L over log N on the grid) or ``"parabola"`` (k == 3: vertex of the parabola
      through the three points in log-log). ``interior`` is False when the minimum sits at the
      smallest or largest sampled size (or, for a parabola, when it opens downwards); N*, L* are
      then that end point's.
    """
    order = np.argsort(params)
    n, loss = np.asarray(params, dtype=np.float64)[order], np.asarray(loss, dtype=np.float64)[order]
    if len(n) < 3:
        raise ValueError(f"an isoFLOP minimum needs at least 3 sizes, got {len(n)}")
    if len(n) == 3:
        return _parabola_minimum(n, loss)
    from scipy.interpolate import Akima1DInterpolator

    # Porian et al.'s grid: geometric in N from the smallest to the largest size (endpoints exact).
    grid = np.geomspace(n[0], n[-1], points_per_interval * (len(n) - 1))
    log_curve = Akima1DInterpolator(np.log(n), np.log(loss))(np.log(grid))
    i = int(np.argmin(log_curve))
    interior = 0 < i < len(grid) - 1
    return float(grid[i]), float(np.exp(log_curve[i])), interior, "akima"


def _parabola_minimum(n: np.ndarray, loss: np.ndarray) -> tuple[float, float, bool, str]:
    """Vertex of log L = p2 x² + p1 x + p0 (x = log N) through three points, if a minimum inside [x0, x2]."""
    x = np.log(n)
    p2, p1, p0 = np.polyfit(x, np.log(loss), 2)  # exact interpolation: 3 points, degree 2
    if p2 > 0:
        vertex = -p1 / (2 * p2)
        if x[0] < vertex < x[-1]:
            return float(np.exp(vertex)), float(np.exp(np.polyval([p2, p1, p0], vertex))), True, "parabola"
    end = 0 if loss[0] <= loss[-1] else -1  # otherwise the minimum over [x0, x2] is at an end
    return float(n[end]), float(loss[end]), False, "parabola"


def hoffmann_parabola_minimum(params: np.ndarray, loss: np.ndarray) -> tuple[float, float, bool, str | None]:
    """Hoffmann et al.'s vertex: the least-squares parabola L = p2 x^2 + p1 x + p0 (x = log N)
    through all the sizes of one budget. Returns ``(N*, L*, interior, why_not)``: the vertex and
    the parabola's value there when it is a minimum inside the sampled sizes; otherwise the
    sampled size of lowest loss, ``interior`` False and the reason."""
    x = np.log(np.asarray(params, dtype=np.float64))
    loss = np.asarray(loss, dtype=np.float64)
    p2, p1, p0 = np.polyfit(x, loss, 2)
    if p2 > 0:
        vertex = -p1 / (2 * p2)
        if x.min() < vertex < x.max():
            return float(np.exp(vertex)), float(np.polyval([p2, p1, p0], vertex)), True, None
        why = "its vertex lies outside the sampled sizes"
    else:
        why = "its parabola opens downward"
    lowest = int(np.argmin(loss))
    return float(np.exp(x[lowest])), float(loss[lowest]), False, why


def _budget_labels(flops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group FLOP values into budgets: ``(label per row, budget value per label)``, budgets ascending.

    Consecutive sorted values within BUDGET_RTOL (relative) share a budget; its value is the
    middle member's (an actual value of the column, so exact budgets stay exact).
    """
    order = np.argsort(flops, kind="stable")
    sorted_flops = flops[order]
    new = np.concatenate([[True], np.diff(sorted_flops) > BUDGET_RTOL * sorted_flops[1:]])
    group = np.cumsum(new) - 1
    labels = np.empty(len(flops), dtype=np.int64)
    labels[order] = group
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(flops))
    values = np.array([sorted_flops[(s + e - 1) // 2] for s, e in zip(starts, ends, strict=True)])
    return labels, values


def _flops(frame: pd.DataFrame) -> np.ndarray:
    """C per row: the ``flops`` column where given, else 6·params·tokens (the 6ND estimate)."""
    n = frame["params"].to_numpy(dtype=np.float64)
    flops = (frame["flops"].to_numpy(dtype=np.float64, na_value=np.nan, copy=True) if "flops" in frame
             else np.full(len(n), np.nan))
    if "tokens" in frame:
        missing = np.isnan(flops)
        flops[missing] = 6.0 * n[missing] * frame["tokens"].to_numpy(dtype=np.float64, na_value=np.nan)[missing]
    return flops


def isoflop_minima(frame: pd.DataFrame, *, points_per_interval: int = GRID_POINTS_PER_INTERVAL,
                   method: str = "akima") -> pd.DataFrame:
    """Per-budget compute-optimal sizes of an isoFLOP table.

    Args:
      frame: runs with ``params`` (N), ``loss`` (L, nats per token) and ``flops`` (C) or
        ``tokens`` (then C = 6·params·tokens; rows lacking ``flops`` use it too). Values must
        be finite and > 0 (``isoflop`` reads tables through :func:`distlaw.runs.read_runs`,
        which checks that).
      points_per_interval: grid density of the Akima argmin (Porian et al.: 25).
      method: ``"akima"`` (Porian et al.; the default) or ``"parabola"`` (Hoffmann et al.'s
        vertex of a least-squares parabola of L over log N; :func:`hoffmann_parabola_minimum`).
    Returns:
      one row per budget with at least 3 distinct sizes, ascending: ``budget`` (C, FLOPs),
      ``n_points`` (distinct sizes k), ``smallest_params``/``largest_params`` (the sampled
      range), ``compute_optimal_params`` (N*), ``compute_optimal_tokens`` (D* = C / (6 N*)),
      ``compute_optimal_loss`` (L*), ``interior`` (bool: only these enter the power-law fit)
      and ``method`` (``"akima"`` or ``"parabola"``; see :func:`budget_minimum`).
      ``result.attrs["notes"]`` lists what the caller should hear: budgets skipped for having
      fewer than 3 sizes, several runs at one (budget, size) (the lowest loss is kept, as
      Porian et al. did), several ``configuration`` values pooled in one table.
    """
    if method not in METHODS:
        raise InputError(f"method {method!r}: choose one of {', '.join(METHODS)}", argument="method")
    missing = [c for c in ("params", "loss") if c not in frame]
    if missing or not ({"flops", "tokens"} & set(frame.columns)):
        raise InputError(f"isoFLOP minima need columns params, loss and flops (or tokens); missing "
                         f"{', '.join(missing or ['flops (or tokens)'])}")
    notes = []
    if "configuration" in frame and frame["configuration"].nunique() > 1:
        names = sorted(map(str, frame["configuration"].unique()))
        notes.append(f"the table pools {len(names)} values of 'configuration' ({', '.join(names[:3])}"
                     f"{', ...' if len(names) > 3 else ''}); Porian et al.'s configurations re-read the same runs "
                     "under different parameter-count conventions and must never be pooled: "
                     f"filter one with where (--where) \"configuration == '{names[0]}'\"")
    flops = _flops(frame)
    if np.isnan(flops).any():
        i = int(np.argmax(np.isnan(flops)))
        where = f"{frame['_source'].iloc[i]}, row {frame['_row'].iloc[i]}" if "_row" in frame else f"row {i + 1}"
        raise InputError(f"{where}: neither flops nor tokens (C = 6 params tokens) is given")
    labels, budgets = _budget_labels(flops)
    table = pd.DataFrame({"budget": budgets[labels], "params": frame["params"].to_numpy(dtype=np.float64),
                          "loss": frame["loss"].to_numpy(dtype=np.float64)})
    # One loss per (budget, size): the lowest, as Porian et al.'s interp_flop keeps (groupby min).
    best = table.groupby(["budget", "params"], sort=True)["loss"].min().reset_index()
    if len(best) < len(table):
        counts = table.groupby(["budget", "params"]).size()
        first_budget, first_size = counts[counts > 1].index[0]
        notes.append(f"{len(table) - len(best)} rows repeat a (budget, params) pair (first: C={first_budget:.4g}, "
                     f"N={first_size:.4g}); the lowest loss of each pair was kept. Different runs at one budget "
                     "and size usually mean pooled configurations or seeds: check where (--where)")
    rows, skipped, no_vertex = [], [], []
    for budget, group in best.groupby("budget", sort=True):
        n, loss = group["params"].to_numpy(), group["loss"].to_numpy()
        if len(n) < 3:
            skipped.append(f"C={budget:.4g} ({len(n)} size{'s' if len(n) > 1 else ''})")
            continue
        if method == "parabola":
            n_star, l_star, interior, why = hoffmann_parabola_minimum(n, loss)
            used = "parabola"
            if why:
                no_vertex.append(f"C={budget:.4g} ({why})")
        else:
            n_star, l_star, interior, used = budget_minimum(n, loss, points_per_interval)
        rows.append((float(budget), len(n), float(n.min()), float(n.max()), n_star, float(budget) / (6.0 * n_star),
                     l_star, interior, used))
    if no_vertex:
        notes.append(f"{len(no_vertex)} budget(s) have no parabola minimum inside their sizes and are left out of the "
                     f"power laws: {', '.join(no_vertex)}")
    if skipped:
        notes.append(f"{len(skipped)} budget(s) with fewer than 3 sizes skipped: {', '.join(skipped)}")
    if "tokens" in frame and "flops" in frame:
        # D* is C/(6 N*); say so when the table's own tokens follow another FLOPs-per-token rule.
        ratio = 6.0 * frame["params"].to_numpy(np.float64) * frame["tokens"].to_numpy(np.float64) / flops
        worst = float(np.nanmax(np.abs(ratio - 1)))
        if worst > 0.01:
            notes.append(f"the table's tokens are not flops / (6 params) (up to {worst:.1%} off); "
                         "compute_optimal_tokens is C / (6 N*), the 6ND rule")
    result = pd.DataFrame.from_records(rows, columns=list(MINIMA_COLUMNS))
    result = result.astype({"n_points": np.int64, "interior": bool})
    result.attrs["notes"] = notes
    return result


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float | None]:
    """Least-squares line y = intercept + slope·x: ``(slope, intercept, R²)`` (R² None if y is constant)."""
    xm, ym = x.mean(), y.mean()
    slope = float(np.sum((x - xm) * (y - ym)) / np.sum((x - xm) ** 2))
    intercept = float(ym - slope * xm)
    total = float(np.sum((y - ym) ** 2))
    residual = float(np.sum((y - intercept - slope * x) ** 2))
    return slope, intercept, (1.0 - residual / total) if total > 0 else None


def fit_power_laws(minima: pd.DataFrame, bootstrap: int = 1000, seed: int = 0, ci: float = 0.9, *,
                   source: str = "the table") -> dict:
    """Power laws of the interior isoFLOP minima in the budget.

    Fits, by ordinary least squares in natural logs over the budgets with ``interior`` True:
    log N* = log n0 + a log C, log D* = log d0 + b log C, log L* = log l0 + c log C.

    Args:
      minima: the output of :func:`isoflop_minima`.
      bootstrap: B resamples of the interior budgets, drawn with replacement
        (``numpy.random.default_rng(seed)``); 0 for none. A resample drawing one budget k
        times has no slope and is left out (counted in ``bootstrap_degenerate``). With only 2
        interior budgets there is no interval (``None``): every other resample is the same line.
      seed: the resampling seed (same seed, same numbers).
      ci: coverage of the percentile intervals.
      source: how messages name the table (e.g. its files and where filter).
    Returns:
      ``{"a": {...}, "b": {...}, "c": {...}, "n_budgets": k, "bootstrap": B,
      "bootstrap_degenerate": m}``, each exponent ``{"value", "coefficient" (n0, d0 or l0),
      "r2", "interval": [lo, hi] or None}``.
    Raises:
      InputError: fewer than 2 budgets with an interior minimum, or a bad ``bootstrap``/``ci``.
    """
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise InputError(f"bootstrap must be a whole number >= 0, got {bootstrap!r}", argument="bootstrap")
    if not 0 < ci < 1:
        raise InputError(f"ci must lie strictly between 0 and 1, got {ci!r}", argument="ci")
    interior = minima[minima["interior"].to_numpy(dtype=bool)]
    if len(interior) < 2:
        raise InputError(
            f"{source}: only {len(interior)} of {len(minima)} budgets (with >= 3 sizes) have an interior loss "
            "minimum; a compute-optimal power law needs at least 2 (the others' minima lie at the smallest or "
            "largest size sampled: add sizes beyond them, or check that where (--where) selects one isoFLOP family)")
    log_c = np.log(interior["budget"].to_numpy(np.float64))
    out: dict = {}
    rng = np.random.default_rng(seed)
    # Two budgets fix the line exactly: every usable resample is the same pair, so no interval.
    draws = rng.integers(0, len(log_c), size=(bootstrap if len(log_c) > 2 else 0, len(log_c)))
    # A draw of one budget repeated has no spread in C, hence no slope.
    usable = draws[draws.min(axis=1) != draws.max(axis=1)]
    for name, column in EXPONENTS.items():
        log_y = np.log(interior[column].to_numpy(np.float64))
        slope, intercept, r2 = _ols(log_c, log_y)
        interval = None
        if len(usable):
            x, y = log_c[usable], log_y[usable]
            xc = x - x.mean(axis=1, keepdims=True)
            slopes = np.sum(xc * (y - y.mean(axis=1, keepdims=True)), axis=1) / np.sum(xc**2, axis=1)
            interval = [float(v) for v in np.quantile(slopes, [(1 - ci) / 2, (1 + ci) / 2])]
        out[name] = {"value": slope, "coefficient": math.exp(intercept), "r2": r2, "interval": interval}
    out.update(n_budgets=len(interior), bootstrap=int(bootstrap), bootstrap_degenerate=int(len(draws) - len(usable)),
               ci=ci, seed=seed)
    return out


@dataclasses.dataclass
class IsoflopResult:
    """An isoFLOP analysis: per-budget minima, the three exponents, and the JSON record.

    Attributes:
      minima: the DataFrame of :func:`isoflop_minima`.
      exponents: ``{"a": {"value", "coefficient", "r2", "interval"}, "b": ..., "c": ...}``
        (N* ~ C^a, D* ~ C^b, L* ~ C^c).
      record: everything as JSON-ready data (no NaN or infinity; missing values are None).
    """

    minima: pd.DataFrame
    exponents: dict
    record: dict

    notes = property(lambda self: self.record["notes"])

    def save(self, path: str | Path) -> Path:
        """Write :attr:`record` as JSON, atomically (a reader never sees half a file)."""
        from ..io.fitfile import write_json

        write_json(self.record, path)
        return Path(path)


def isoflop(runs, *, where: str | None = None, column_map: Mapping[str, str] | None = None,
            bootstrap: int = 1000, seed: int = 0, ci: float = 0.9, method: str = "akima") -> IsoflopResult:
    """Chinchilla's Approach 2 on run tables: isoFLOP minima and their power laws in C.

    Args:
      runs: a path, a shipped dataset name (``"porian2024"``), a DataFrame, or a list of them,
        read and validated as ``distlaw fit`` reads them; required columns ``params``, ``loss``
        and ``flops`` or ``tokens`` (C = 6·params·tokens where ``flops`` is absent).
      where: keep the rows matching a pandas query, e.g. ``"configuration == 'rw/tuned/short/const/standard/val'"``.
      column_map: ``{canonical: source}`` column renames.
      bootstrap, seed, ci: the budget resampling of :func:`fit_power_laws`.
      method: ``"akima"`` (Porian et al., the default) or ``"parabola"`` (Hoffmann et al.).
    Returns:
      an :class:`IsoflopResult`.
    Raises:
      InputError: unreadable or invalid tables (:class:`~distlaw.runs.RunTableError`), neither
        ``flops`` nor ``tokens``, or fewer than 2 budgets with an interior minimum.
    """
    from ..version import __version__
    from ..io.runs import RunTableError, read_runs

    table = read_runs(runs, required=("params", "loss"), optional=("flops", "tokens"), column_map=column_map,
                      where=where, derive_tokens=False)
    frame = table.frame
    label = ", ".join(table.sources)
    if not ({"flops", "tokens"} & set(frame.columns)):
        raise RunTableError(f"{label}: missing column 'flops' (or 'tokens', giving C = 6 params tokens)")
    if "flops" not in frame:
        notes = [f"budgets are C = 6 params tokens ({label} has no flops column)"]
    else:
        notes = []
    minima = isoflop_minima(frame, method=method)
    notes += minima.attrs["notes"]
    source = label + (f' (where "{where}")' if where else "")
    if minima.empty:
        raise InputError(f"{source}: no budget has 3 or more model sizes; an isoFLOP minimum needs at least 3")
    fits = fit_power_laws(minima, bootstrap=bootstrap, seed=seed, ci=ci, source=source)
    if fits["n_budgets"] == 2:
        notes.append("only 2 budgets have an interior minimum: the power laws pass through both exactly "
                     "(R^2 = 1 says nothing) and have no interval")
    exponents = {name: fits[name] for name in EXPONENTS}
    record = {
        "method": ("isoflop minima (Chinchilla Approach 2; Akima argmin as in Porian et al. 2024)" if method == "akima"
                   else "isoflop minima (Chinchilla Approach 2; vertex of a least-squares parabola of L over log N "
                        "per budget, as Hoffmann et al. 2022)"),
        "exponents": exponents,
        "n_runs": len(frame),
        "n_budgets": len(minima),
        "n_budgets_interior": fits["n_budgets"],
        "grid_points_per_interval": GRID_POINTS_PER_INTERVAL,
        "bootstrap": fits["bootstrap"],
        "bootstrap_degenerate": fits["bootstrap_degenerate"],
        "ci": ci,
        "seed": seed,
        "minima": [{key: finite_or_none(value) for key, value in row.items()}
                   for row in minima.to_dict(orient="records")],
        "sources": list(table.sources),
        "where": where,
        "notes": notes + list(table.notes),
        "distlaw_version": __version__,
    }
    minima.attrs["notes"] = record["notes"]
    return IsoflopResult(minima, exponents, record)
