"""Lookups in a finished loss atlas: every column at arbitrary points inside its grid.

    >>> import distlaw
    >>> table = distlaw.Atlas("sweeps/atlas-paper").lookup()                 # doctest: +SKIP
    >>> table.lookup(student_params=1e9, student_tokens=[2e10, 5e10],
    ...              teacher_params=3e9, teacher_tokens=1e11)                 # doctest: +SKIP

The loss atlas is a dense grid over the axes of its sweep's ``[loss]`` section, (N_S, D_S,
N_T, D_T) or (N_S, D_S, L_T). :class:`AtlasLookup` reads the table once into one dense
float64 array per column, shaped by the axes, and evaluates any column at points between the
nodes by interpolation in log space: the coordinates are the logs of the axis values (the axes
are log-spaced), and a column whose values are all positive (losses, FLOPs) is interpolated as
its log: a power law is then a straight line, and the laws' sums of power laws nearly so. Points outside the
grid are refused (no extrapolation); an axis with one value accepts exactly that value.

Two methods, chosen by measurement (``benchmarks/atlas_lookup_error.py``: the paper sweep's
2.1M-point grid, 100,000 points drawn uniformly in log space, against the laws evaluated
independently; 2 CPU cores):

  ``cubic`` (default)  a tensor-product cubic spline (not-a-knot: the spline of SciPy's
      ``RegularGridInterpolator(method="cubic")``, its coefficients computed here axis by axis,
      see :func:`spline_coefficients`): student_loss within 2.1e-5 relative (99th percentile
      5.7e-6); 3e5 to 6e5 points/s for one column, 1.4e5 for all seven, after 0.1 s of set-up
      per column on first use.
  ``linear``  multilinear: student_loss within 6.8e-4 relative (99th percentile 4.9e-4); 3.7e6
      points/s for one column, 9e5 for all seven.

The error follows the grid's spacing, and most where the law bends fastest: across the
capacity-gap transition in L_T (L_T near d1 Ltilde_S, where L_S turns over as
(L_T / (d1 Ltilde_S))^(1/f1), 1/f1 = 11 in the paper's fit), a teacher-loss axis of 8 values
over [2, 3] leaves the spline 7e-4 from the law, 16 values 1.9e-5. Both methods return the
stored rows at the nodes (to rounding). 6.8e-4 of a loss near 2.5 nats is 1.7e-3 nats, the
size of the differences an atlas is read for (a teacher or a token count more or less); the
spline cuts the error 33-fold (86-fold at the 99th percentile) for a tenth of the speed, still
100,000 points in under a second, so it is the default; ``linear`` is there for bulk lookups
that can afford its error.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..errors import AtlasError, InputError, SweepError
from .sweep import LOSS_AXES_TEACHER_LOSS, LOSS_AXES_TEACHER_SIZE

METHODS = ("linear", "cubic")
DEFAULT_METHOD = "cubic"
# Slack on the grid's ends and on a single-valued axis: values read back from a sweep or
# typed from its min/max differ from the stored ones by rounding only.
RTOL = 1e-12


def sweep_loss_axes(definition: dict, source: str) -> dict[str, np.ndarray]:
    """The ``[loss]`` axes of a sweep definition (as a manifest stores it), float64, sorted.

    Parsed by the sweep file's own axis parser, so ``{min, max, count}`` gives the same
    ``geomspace`` values the atlas was built from. Raises :class:`AtlasError` if the
    definition has no usable ``[loss]`` section.
    """
    from .sweep import parse_axis

    table = definition.get("loss") if isinstance(definition, dict) else None
    if not isinstance(table, dict):
        raise AtlasError(f"{source}: the manifest's sweep has no [loss] section")
    names = LOSS_AXES_TEACHER_LOSS if "teacher_loss" in table else LOSS_AXES_TEACHER_SIZE
    try:
        return {name: np.sort(parse_axis(source, f"loss.{name}", table.get(name))) for name in names}
    except SweepError as err:
        raise AtlasError(f"the manifest's sweep: {err}") from None


def dense_grid(columns: dict[str, np.ndarray], axes: dict[str, np.ndarray], source: str):
    """Rows -> ``(axes, {column: array shaped by the axes})``, checking they are the full grid.

    ``columns`` holds the rows (axis columns and value columns, any row order); ``axes`` the
    sweep's axes. The returned axes are the values stored in the rows (equal to the sweep's to
    1e-9 relative; a teacher-loss axis is stored as exp(log L_T), within a rounding of it).
    Raises :class:`AtlasError` unless every grid point appears exactly once.
    """
    names = list(axes)
    rows = len(columns[names[0]])
    stored, flat = {}, np.zeros(rows, dtype=np.int64)
    for name in names:
        values = columns[name]
        unique = np.unique(values)
        expected = axes[name]
        if len(unique) != len(expected) or not np.allclose(unique, expected, rtol=1e-9, atol=0):
            raise AtlasError(f"{source}: column {name!r} holds {len(unique)} distinct values where the sweep's axis "
                             f"has {len(expected)} ({expected[0]:g} to {expected[-1]:g}); not this sweep's full grid")
        stored[name] = unique
        flat = flat * len(unique) + np.searchsorted(unique, values)  # exact: unique holds every value
    shape = tuple(len(stored[n]) for n in names)
    size = math.prod(shape)
    counts = np.bincount(flat, minlength=size)
    if rows != size or counts.max() != 1:
        missing, repeated = int(np.sum(counts == 0)), int(np.sum(counts > 1))
        raise AtlasError(f"{source}: {rows:,} rows for a grid of {size:,} points ({missing:,} missing, "
                         f"{repeated:,} repeated); the lookup needs the full grid")
    grids = {}
    for name, values in columns.items():
        if name in axes:
            continue
        grid = np.empty(size, dtype=np.float64)
        grid[flat] = values
        grids[name] = grid.reshape(shape)
    return stored, grids


def log_transformed(grid: np.ndarray) -> bool:
    """Interpolate ``grid`` as its log: when every finite value is positive (losses, FLOPs)."""
    finite = grid[np.isfinite(grid)]
    return finite.size > 0 and bool(np.all(finite > 0))


def locate(query: np.ndarray, axis: np.ndarray, name: str) -> np.ndarray:
    """Check ``query`` lies inside ``axis`` (to RTOL at the ends) and return it clipped there.

    Raises :class:`InputError` naming the axis, the first value outside, and the range.
    """
    lo, hi = axis[0], axis[-1]
    outside = (query < lo * (1 - RTOL)) | (query > hi * (1 + RTOL)) | ~np.isfinite(query)
    if np.any(outside):
        value = query[outside].flat[0]
        if len(axis) == 1:
            raise InputError(f"{name} = {value:g}: this atlas has the single value {lo:.12g} on that axis")
        raise InputError(f"{name} = {value:g} is outside the atlas's grid: {name} runs from {lo:g} to {hi:g} "
                         "(no extrapolation)")
    return np.clip(query, lo, hi)


def cells(log_axis: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell index j and fraction t in [0, 1] of ``x`` along a strictly increasing ``log_axis``:
    x = (1 - t) u_j + t u_{j+1}."""
    j = np.clip(np.searchsorted(log_axis, x, side="right") - 1, 0, len(log_axis) - 2)
    t = (x - log_axis[j]) / (log_axis[j + 1] - log_axis[j])
    return j, t


def multilinear(grid: np.ndarray, located: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """sum over the 2^d corners c of prod_i (t_i if c_i else 1 - t_i) * grid[j + c].

    A corner of weight zero contributes nothing, even a non-finite value, so a point on a node
    returns that node's value and a NaN in the grid spoils only the cells around it.
    """
    flat = grid.ravel()
    strides = [math.prod(grid.shape[i + 1:]) for i in range(grid.ndim)]
    base = sum(j * s for (j, _), s in zip(located, strides, strict=True))
    out = np.zeros(np.shape(base), dtype=np.float64)
    for corner in itertools.product((0, 1), repeat=grid.ndim):
        weight = np.ones_like(out)
        offset = 0
        for c, (_, t), s in zip(corner, located, strides, strict=True):
            weight = weight * (t if c else 1 - t)
            offset += c * s
        out += np.where(weight == 0, 0.0, weight * flat[base + offset])
    return out


def spline_coefficients(log_axes: list[np.ndarray], grid: np.ndarray) -> tuple[tuple, np.ndarray, tuple]:
    """Knots, coefficients and degrees of the tensor-product interpolating spline of ``grid``
    over ``log_axes`` (what SciPy's ``NdBSpline`` takes).

    Degree 3 (not-a-knot, as SciPy's ``make_interp_spline``) along axes of 4 or more values,
    n - 1 along shorter ones. The collocation matrix of a tensor-product interpolant is the
    Kronecker product of the axes' 1-D matrices B_i, so its coefficients are
    c = (B_1^-1 x ... x B_d^-1) grid: one small dense matrix product per axis. Measured on the
    paper grid (2.1M points): 0.1 s a column, where ``make_interp_spline(..., axis=i)`` on the
    whole grid takes 1.7 s (a banded solve per right-hand side), and
    ``RegularGridInterpolator(method="cubic")``, the same spline by an iterative sparse solve of
    all 2.1M unknowns, 27 s, stopping at its solver's tolerance: it misses the stored nodes by
    2.5e-5 in log loss, more than the spline's own error. The 1-D collocation matrices of cubic
    B-splines are well conditioned, so the explicit inverse loses nothing measurable
    (coefficients within 2e-14 of the banded solve's; nodes reproduced to 1.6e-15).
    """
    from scipy.interpolate import make_interp_spline

    coefficients, knots, degrees = grid, [], []
    for axis, u in enumerate(log_axes):
        k = min(3, len(u) - 1)
        inverse = make_interp_spline(u, np.eye(len(u)), k=k)  # coefficients of the unit vectors: B^-1
        coefficients = np.moveaxis(np.tensordot(inverse.c, coefficients, axes=(1, axis)), 0, axis)
        knots.append(inverse.t)
        degrees.append(k)
    return tuple(knots), np.ascontiguousarray(coefficients), tuple(degrees)


class AtlasLookup:
    """The loss table of a finished atlas as dense grids, evaluated anywhere inside them.

    Args:
      atlas: a finished :class:`~distlaw.atlas.folder.Atlas` (``Atlas(folder).lookup()`` builds
        this object).
      columns: the value columns to load (default: all; fewer load faster and hold less memory:
        8 bytes per grid point per column).
    Attributes:
      axes: ``{name: float64 values}``, the grid's axes in row order (student size outermost).
      columns: the value columns it can return.
    Raises:
      AtlasError: not a finished atlas, no loss table, or a table that is not the full grid.
      InputError: an unknown column.
    """

    def __init__(self, atlas, columns: list[str] | None = None):
        self.source = str(atlas.path)
        atlas.require_distillation("interpolated lookups (distlaw query)")
        sweep_axes = sweep_loss_axes(atlas.sweep, self.source)
        schema_names = [n for n in atlas.dataset("loss").schema.names if n != "student_size_index"]
        available = [n for n in schema_names if n not in sweep_axes]
        wanted = available if columns is None else check_columns(columns, available)
        table = atlas.to_arrow("loss", columns=[*sweep_axes, *wanted])
        rows = {name: table.column(name).to_numpy().astype(np.float64, copy=False) for name in table.column_names}
        del table
        self.axes, grids = dense_grid(rows, sweep_axes, self.source)
        del rows
        self.columns = list(wanted)
        self._log = {name: log_transformed(grid) for name, grid in grids.items()}
        # Interpolate log values, over the log of the axes that have more than one value.
        self._moving = [name for name, axis in self.axes.items() if len(axis) > 1]
        self._log_axes = [np.log(self.axes[name]) for name in self._moving]
        self._values = {}
        for name in list(grids):
            grid = grids.pop(name)
            values = np.log(grid) if self._log[name] else grid
            self._values[name] = values.reshape([len(a) for a in self._log_axes])
        self._coefficients, self._last_spline = {}, (None, None)

    def __repr__(self) -> str:
        shape = " x ".join(f"{name} {len(axis)}" for name, axis in self.axes.items())
        return f"AtlasLookup({self.source!r}; {shape}; {len(self.columns)} columns)"

    def lookup(self, *, student_params, student_tokens, teacher_params=None, teacher_tokens=None,
               teacher_loss=None, columns: list[str] | None = None, method: str = DEFAULT_METHOD):
        """Every column (or ``columns``) at the points given, as a pandas DataFrame.

        The arguments are numbers or arrays, broadcast against each other (NumPy rules); give
        the atlas's axes: (student_params, student_tokens, teacher_params, teacher_tokens) or
        (student_params, student_tokens, teacher_loss). Units: parameters (non-embedding),
        tokens, nats per token. ``method`` is ``"cubic"`` (default) or ``"linear"`` (see the
        module docstring for their measured errors). The frame holds the query's axis columns
        and the interpolated ones, one row per point (broadcast shape, C order).

        Raises:
          InputError: an axis missing or not this atlas's, a point outside the grid (naming the
            axis, the value and the range), an unknown column or method.
        """
        import pandas as pd

        if method not in METHODS:
            raise InputError(f"method {method!r}: choose 'linear' or 'cubic'")
        given = {"student_params": student_params, "student_tokens": student_tokens, "teacher_params": teacher_params,
                 "teacher_tokens": teacher_tokens, "teacher_loss": teacher_loss}
        extra = [n for n, v in given.items() if v is not None and n not in self.axes]
        missing = [n for n in self.axes if given[n] is None]
        if extra or missing:
            what = f"{extra[0]} is not one of its axes" if extra else f"{missing[0]} is missing"
            raise InputError(f"{self.source}: {what}; this atlas runs over {', '.join(self.axes)}")
        wanted = self.columns if columns is None else check_columns(columns, self.columns)
        try:
            arrays = [np.asarray(given[n], dtype=np.float64) for n in self.axes]
        except (TypeError, ValueError):
            raise InputError("the points must be numbers or arrays of numbers") from None
        try:
            points = np.broadcast_arrays(*arrays)
        except ValueError as err:
            raise InputError(f"the points' arrays do not broadcast together ({err})") from None
        points = {name: locate(p.ravel(), self.axes[name], name) for name, p in zip(self.axes, points, strict=True)}
        logs = [np.log(points[name]) for name in self._moving]
        frame = {name: points[name] for name in self.axes}
        located = [cells(u, x) for u, x in zip(self._log_axes, logs, strict=True)] if method == "linear" else None
        splined = self._spline(tuple(wanted))(np.stack(logs, axis=-1)) if method == "cubic" and logs else None
        for i, name in enumerate(wanted):
            values = self._values[name]
            if not logs:  # every axis single-valued: one grid point
                out = np.full(len(frame[next(iter(self.axes))]), float(values))
            elif method == "linear":
                out = multilinear(values, located)
            else:
                out = splined[:, i]
            frame[name] = np.exp(out) if self._log[name] else out
        return pd.DataFrame(frame)

    def _spline(self, names: tuple[str, ...]):
        """One spline over the columns asked, their coefficients stacked on a last axis: the basis
        functions are evaluated once for all (all 7 paper columns: 0.7 s per 100,000 points,
        against 2.2 s one column at a time). Only the last set asked is kept (it holds a copy)."""
        from scipy.interpolate import NdBSpline

        if self._last_spline[0] != names:
            for name in names:
                if name in self._coefficients:
                    continue
                if not np.all(np.isfinite(self._values[name])):
                    raise InputError(f"{self.source}: column {name!r} holds non-finite values; a cubic spline "
                                     "would spread them over the whole grid: use method='linear'")
                self._knots, self._coefficients[name], self._degrees = spline_coefficients(
                    self._log_axes, self._values[name])
            stacked = np.stack([self._coefficients[n] for n in names], axis=-1)
            self._last_spline = (names, NdBSpline(self._knots, stacked, self._degrees, extrapolate=True))
        return self._last_spline[1]


def check_columns(columns, available) -> list[str]:
    columns = [columns] if isinstance(columns, str) else list(columns)
    unknown = [c for c in columns if c not in available]
    if unknown or not columns:
        raise InputError(f"column {unknown[0] if unknown else '(none)'!r}: choose among {', '.join(available)}")
    return columns
