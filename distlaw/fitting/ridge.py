"""Walk a law's ridge in the coordinates it is straight in, then polish in the law's own.

The distillation law's reducible term (A'/N^alpha' + B'/D^beta')^gamma' has a ridge: where the
data cannot tell a smooth switch between the N- and D-limited regimes from a sharp one, the fit
runs along gamma' with the effective exponents alpha' gamma', beta' gamma' and the scales
gamma' log A', gamma' log B' nearly fixed, so alpha' and log A' grow like 1/gamma' (on issue 22's
328-run table the optimum sits at gamma' 0.075, alpha' 3.3, log A' 78). In the law's own
coordinates that valley is a hyperbola: a Levenberg-Marquardt start crawls along it in thousands
of damped steps and stops at the iteration limit, short of the optimum, and from the paper's
grid of starts rarely reaches its basin at all. In ridge coordinates
(:class:`distlaw.laws.forms.DistillationRidgeParams`) it is a straight line.

So a fit of such a law, from distlaw's own design, runs in two stages:

1. the design's starts in ridge coordinates (:data:`distlaw.laws.catalog.RIDGE_INFO`: gamma'
   sampled log-uniformly down to 0.03, the sharp-switch regime), screened and polished there;
2. the best ``RIDGE_CANDIDATES`` distinct optima, mapped back to the law's coordinates (moved
   along the ridge into the law's box where alpha' or beta' would leave it:
   :func:`distlaw.laws.forms.distillation_from_ridge`), with the starts the caller adds (the
   law's published presets, an earlier fit's optima), polished in the law's own coordinates
   for up to ``RIDGE_POLISH_ITERATIONS`` iterations. That stage sees the law's own box, bounds
   and identifiability, so the result reads as any other fit's.

The ridge stage applies when nothing fixes, ties or bounds a coefficient the ridge coordinates
mix (A', B', alpha', beta'): those constraints are not boxes there. May import: numpy,
``distlaw.laws``, ``distlaw.fitting.starts``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..laws import forms
from ..laws.registry import RIDGES, LawSpec
from .starts import design_starts

RIDGE_CANDIDATES = 8  # distinct ridge optima carried into the law's coordinates
RIDGE_POLISH_ITERATIONS = 2000  # a handful of starts near the optimum: cheap, and enough to converge
_FROM_RIDGE = {"distillation": forms.distillation_from_ridge}
_MIXED = {"distillation": frozenset({"A", "B", "alpha", "beta"})}  # coefficients the ridge coordinates mix


GAMMA_FLOOR = 1e-3  # ridge coordinates divide by gamma'


def applies(spec: LawSpec, fixed: Mapping | None, ties: Mapping | None, bounds: Mapping | None) -> bool:
    """Whether fits of ``spec`` walk its ridge first, given the user's constraints."""
    if spec.name not in RIDGES:
        return False
    ties = dict(ties or {})
    changed = {name for name, box in (bounds or {}).items() if tuple(box) != tuple(spec.bounds.get(name, ()))}
    touched = set(fixed or {}) | set(ties) | set(ties.values()) | changed
    gamma_high = (bounds or {}).get("gamma", (None, None))[1]
    too_small = (gamma_high is not None and gamma_high <= 2 * GAMMA_FLOOR) or \
        ("gamma" in (fixed or {}) and (fixed or {})["gamma"] <= GAMMA_FLOOR)
    return not (touched & _MIXED[spec.name]) and not too_small


def ridge_bounds(spec: LawSpec, bounds: Mapping | None) -> dict:
    """The boxes of the coefficients the ridge coordinates share with the law (gamma', c0, c1,
    f1, d1; the others are unchanged from the law's default where the ridge applies), gamma' kept
    off 0, which ridge coordinates divide by."""
    shared = set(RIDGES[spec.name].natural_names)
    out = {name: tuple(box) for name, box in (bounds or {}).items() if name in shared}
    if "gamma" in out:
        lo, hi = out["gamma"]
        out["gamma"] = (max(lo or 0.0, GAMMA_FLOOR), hi)
    return out


def ridge_starts(spec: LawSpec, n_starts: int, seed: int = 0) -> np.ndarray:
    """The design of the ridge stage: ``n_starts`` in ridge coordinates."""
    return design_starts(RIDGES[spec.name], n_starts, seed)


def to_law(spec: LawSpec, solutions, box) -> list[np.ndarray]:
    """Each problem's ridge optima (best ``RIDGE_CANDIDATES``) in the law's coordinates, moved along
    the ridge into the law's box (alpha', beta' at most their upper bounds): the polish's starts,
    beside those the caller gives (the law's presets, an earlier fit's optima)."""
    upper = {name: hi for name, (lo, hi) in box.bounds.items()}
    alpha_max = upper.get("alpha") if upper.get("alpha") is not None else math.inf
    beta_max = upper.get("beta") if upper.get("beta") is not None else math.inf
    out = []
    for solution in solutions:
        optima = solution.local_optima if solution.local_optima is not None and len(solution.local_optima) \
            else np.asarray(solution.params, dtype=np.float64)[None]
        optima = optima[np.all(np.isfinite(optima), axis=1)][:RIDGE_CANDIDATES]
        mapped = _FROM_RIDGE[spec.name](optima, alpha_max, beta_max)
        with np.errstate(over="ignore", invalid="ignore"):
            mapped = mapped[np.all(np.isfinite(mapped), axis=1)]
        out.append(mapped)
    return out
