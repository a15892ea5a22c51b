"""Combinations of a fit's coefficients, with what the data say of them.

Where coefficients trade off along a ridge, single ones are not pinned down but some
combinations are: in (A/N^alpha + B/D^beta)^gamma, alpha gamma and beta gamma (the effective
exponents; ``distlaw.laws.catalog.DERIVED`` lists each law's). Each gets its value, a standard
error by the delta method from the Huber sandwich, var q = g^T Cov g with g = dq/dz over the
free optimizer coordinates (central differences: q is a plain function of natural
coefficients), infinite when g moves along a direction the data cannot see, and with a
bootstrap its percentile interval over the replicates. May import: numpy, ``distlaw.laws``.
"""

from __future__ import annotations

import math

import numpy as np

from ..laws.catalog import DERIVED

_Z95 = 1.959963984540054
_PLAIN_FLOOR = 0.05  # as for plain coefficients: "identified" when the 95% half-width < max(|q|, 0.05)
_BLIND = 1e-3  # a gradient loading more than this on a blind direction has no finite variance


def derived_quantities(spec, params, box, covariance, samples=None, ci: float | None = None) -> dict:
    """``{name: {"value", "std_error", "identified"[, "interval"]}}`` for the law's combinations.

    Args:
      spec: the law.
      params: the optimum, full optimizer vector.
      box: its :class:`~distlaw.fitting.multistart.Constraints` (which coordinates are free).
      covariance: :class:`~distlaw.fitting.multistart.Covariance` or None (no standard errors).
      samples: bootstrap replicates, ``{"names": [...], "values": [[...], ...]}`` natural form.
      ci: the interval's level (with ``samples``).
    """
    definitions = DERIVED.get(spec.name, {})
    if not definitions:
        return {}
    params = np.asarray(params, dtype=np.float64)
    natural = spec.to_natural(params)
    out = {}
    for name, (_, formula) in definitions.items():
        value = float(formula(natural))
        entry = {"value": value, "std_error": None, "identified": None}
        if covariance is not None:
            se = _std_error(spec, params, box, covariance, formula)
            entry["std_error"] = se if math.isfinite(se) else None
            entry["identified"] = bool(_Z95 * se <= max(abs(value), _PLAIN_FLOOR))
        if samples and samples.get("values") and ci is not None:
            rows = [formula(dict(zip(samples["names"], row, strict=True))) for row in samples["values"]]
            rows = np.asarray([r for r in rows if math.isfinite(r)])
            if len(rows):
                tail = (1.0 - ci) / 2.0
                entry["interval"] = [float(np.quantile(rows, tail)), float(np.quantile(rows, 1.0 - tail))]
        out[name] = entry
    return out


def _std_error(spec, params: np.ndarray, box, covariance, formula) -> float:
    """sqrt(g^T Cov g) over the free coordinates; inf along a blind direction."""
    gradient = np.zeros(box.n_free)
    for index, k in enumerate(box.source):
        if k < 0:
            continue  # fixed
        step = 1e-6 * max(1.0, abs(params[index]))
        up, down = params.copy(), params.copy()
        up[index] += step
        down[index] -= step
        # A tied coordinate feeds several fields: their derivatives add up in its column.
        gradient[k] += (formula(spec.to_natural(up)) - formula(spec.to_natural(down))) / (2 * step)
    norm = np.linalg.norm(gradient)
    if norm == 0:
        return 0.0
    if len(covariance.blind) and np.max(np.abs(covariance.blind @ gradient)) > _BLIND * norm:
        return math.inf
    return float(math.sqrt(max(gradient @ covariance.matrix @ gradient, 0.0)))
