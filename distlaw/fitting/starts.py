"""Starting points for multi-start fitting: the paper's grids, distlaw's own design, a CSV file.

All starts are returned in optimizer space (``[S, P]``, logs for scale constants), the space
of the law's ``params_type`` fields.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FitFileError, InputError
from ..laws.registry import LawSpec

# Box of distlaw's own design, per optimizer field: the span of the paper's grid, except where
# the grid sits on a singularity (f1 = 0 divides by zero) or misses where fits end: c0 = 2.549
# and c1 = 522.6 (the paper's) lie outside the grid's {0, ..., 1.5}, and fits of narrow tables
# put c1 on its bound of 1e4 (issue 22); c1 and f1 are sampled log-uniformly.
_DESIGN_OVERRIDES = {
    "distillation": {"c0": (0.0, 4.0)},
}
_LOG_UNIFORM = {"distillation": {"c1": (0.1, 1e4), "f1": (0.02, 1.5)},
                "distillation@ridge": {"gamma": (0.03, 2.0), "c1": (0.1, 1e4), "f1": (0.02, 1.5)}}
# The distillation law's reducible term (A'/N^alpha' + B'/D^beta')^gamma' has a ridge: only the
# effective exponents alpha' gamma', beta' gamma' and the scales gamma' log A', gamma' log B' are
# well pinned, and as gamma' -> 0 the term becomes the larger of two power laws (a sharp switch
# between the N- and D-limited regimes), with alpha', log A' growing like 1/gamma'. Tables whose
# students span a decade or less end far along it (gamma' 0.075, alpha' 3.3, log A' 78 on issue
# 22's 328-run table), where a design over the paper's grid never starts. So the design samples
# those well-pinned combinations and gamma' (log-uniformly, to cover the sharp-switch regime)
# and maps them back: alpha' = (alpha' gamma') / gamma', log A' = (gamma' log A') / gamma'.
_EFFECTIVE = {
    "distillation": {"gamma": (0.03, 2.0), "alpha": (0.05, 1.0), "beta": (0.05, 1.0),
                     "log_a": (0.0, 15.0), "log_b": (0.0, 15.0)},
}


def paper_starts(spec: LawSpec) -> np.ndarray:
    """The full grid of Appendix F (or Hoffmann et al.'s for ``chinchilla``): every combination."""
    axes = [spec.paper_starts[field] for field in spec.fields]
    return np.array(list(itertools.product(*axes)), dtype=np.float64)


def design_starts(spec: LawSpec, n: int, seed: int = 0) -> np.ndarray:
    """``n`` starts by Latin hypercube sampling over the box of the paper's grid (for the
    distillation law, over its well-pinned combinations: see ``_EFFECTIVE``).

    Why: a Latin hypercube covers every coordinate's range evenly with any ``n``, where a grid
    needs ``k^P`` points; with the screening in the solver a few hundred starts reach the same
    optimum as the paper's thousands. The published presets of the law are always included, so
    a fit can never end worse than a start at the published coefficients.
    """
    if n < 1:
        raise InputError(f"number of starts must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    overrides = _DESIGN_OVERRIDES.get(spec.name, {})
    log_uniform = _LOG_UNIFORM.get(spec.name, {})
    effective = _EFFECTIVE.get(spec.name, {})
    columns = []
    for field in spec.fields:
        # Stratified sample of [0, 1): one point in each of n equal strata, in random order.
        u = (rng.permutation(n) + rng.random(n)) / n
        if field == "gamma" and effective:
            lo, hi = effective[field]
            columns.append(np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
        elif field in effective:
            lo, hi = effective[field]
            columns.append(lo + u * (hi - lo))  # a combination with gamma, divided by it below
        elif field in log_uniform:
            lo, hi = log_uniform[field]
            columns.append(np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
        else:
            lo, hi = overrides.get(field) or (min(spec.paper_starts[field]), max(spec.paper_starts[field]))
            columns.append(lo + u * (hi - lo))
    if effective:
        gamma = columns[spec.fields.index("gamma")]
        for field in effective:
            if field != "gamma":
                index = spec.fields.index(field)
                columns[index] = columns[index] / gamma
        for index, field in enumerate(spec.fields):  # into the law's box (alpha', beta' <= 5)
            lo, hi = (spec.bounds[spec.natural_names[index]])
            if field in effective and hi is not None and not field.startswith("log_"):
                columns[index] = np.minimum(columns[index], hi)
    design = np.stack(columns, axis=1)
    presets = preset_points(spec)
    return np.concatenate([presets, design])[: max(n, len(presets))]


def preset_points(spec: LawSpec) -> np.ndarray:
    """The law's published coefficient sets, optimizer space, ``[presets, P]``."""
    rows = [np.asarray(spec.from_natural(values), dtype=np.float64) for values in spec.presets.values()]
    return np.array(rows, dtype=np.float64).reshape(-1, len(spec.fields))


def read_starts(spec: LawSpec, path: str | Path) -> np.ndarray:
    """Starts from a CSV with one column per coefficient in natural form (``E, A, B, alpha, ...``)."""
    path = Path(path)
    if not path.is_file():
        raise FitFileError(f"{path}: no such starts file")
    frame = pd.read_csv(path)
    missing = [name for name in spec.natural_names if name not in frame.columns]
    if missing:
        raise FitFileError(f"{path}: missing column(s) {missing} for law {spec.name!r} "
                         f"(need {list(spec.natural_names)})")
    if frame.empty:
        raise FitFileError(f"{path}: no starts")
    rows = []
    for index, row in frame.iterrows():
        try:
            rows.append(np.asarray(spec.from_natural(row.to_dict()), dtype=np.float64))
        except (ValueError, TypeError) as err:
            raise FitFileError(f"{path}: row {index + 1}: {err}") from None
    return np.stack(rows)


def starts_to_frame(spec: LawSpec, starts: np.ndarray) -> pd.DataFrame:
    """Optimizer-space starts -> natural-form table (the format ``read_starts`` reads)."""
    return pd.DataFrame([spec.to_natural(row) for row in starts], columns=list(spec.natural_names))


def resolve_starts(spec: LawSpec, how: str | int | None, seed: int = 0) -> np.ndarray:
    """``'paper'``, an integer count, a CSV path, or ``None`` for the law's default design."""
    if how is None:
        return design_starts(spec, spec.default_starts, seed)
    if isinstance(how, int) or (isinstance(how, str) and how.isdigit()):
        return design_starts(spec, int(how), seed)
    if how == "paper":
        return paper_starts(spec)
    return read_starts(spec, how)
