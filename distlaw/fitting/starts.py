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
# the grid sits on a singularity (f1 = 0 divides by zero) or cannot reach the published
# optimum cheaply (c1 = 522.6 lies far outside {0, ..., 1.5}; c1 is sampled log-uniformly).
_DESIGN_OVERRIDES = {
    "distillation": {"f1": (0.05, 1.5)},
}
_LOG_UNIFORM = {"distillation": {"c1": (0.1, 1000.0)}}


def paper_starts(spec: LawSpec) -> np.ndarray:
    """The full grid of Appendix F (or Hoffmann et al.'s for ``chinchilla``): every combination."""
    axes = [spec.paper_starts[field] for field in spec.fields]
    return np.array(list(itertools.product(*axes)), dtype=np.float64)


def design_starts(spec: LawSpec, n: int, seed: int = 0) -> np.ndarray:
    """``n`` starts by Latin hypercube sampling over the box of the paper's grid.

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
    columns = []
    for field in spec.fields:
        # Stratified sample of [0, 1): one point in each of n equal strata, in random order.
        u = (rng.permutation(n) + rng.random(n)) / n
        if field in log_uniform:
            lo, hi = log_uniform[field]
            columns.append(np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
            continue
        lo, hi = overrides.get(field) or (min(spec.paper_starts[field]), max(spec.paper_starts[field]))
        columns.append(lo + u * (hi - lo))
    design = np.stack(columns, axis=1)
    presets = [np.asarray(spec.from_natural(values), dtype=np.float64) for values in spec.presets.values()]
    return np.concatenate([np.array(presets).reshape(-1, len(spec.fields)), design])[: max(n, len(presets))]


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
