"""Intervals on predictions, from a fit's bootstrap replicates and its residual scale.

For a run x, with the point fit's log prediction m(x), the replicates' log predictions
mu_b(x) (b = 1..B, the coefficients FIT.json keeps in ``bootstrap_samples``) and the run-to-run
noise sigma of the log loss (``residual_scale``: 1.4826 times the median absolute deviation of
the fit's log residuals, robust to the runs the Huber loss discounts):

- the **confidence interval** (where the law's value lies) is the (1 - level)/2 and
  (1 + level)/2 percentiles of exp(mu_b(x));
- the **prediction interval** (where a new run's observed loss lies) is the same quantiles of
  the mixture (1/B) sum_b LogNormal(mu_b(x), sigma^2): the replicates' spread and the noise
  together, solved by bisection on the mixture's CDF.

Both are widened where needed so that they nest: prediction around confidence around the point
prediction (a bootstrap distribution skewed away from the point fit, or a level so low that
the mixture's quantile falls inside the replicates', would otherwise break the order).
Rows are processed in chunks, so memory stays B x chunk whatever the table.
"""

from __future__ import annotations

import numpy as np

from ..errors import FitFileError, InputError

MAD_TO_SIGMA = 1.4826  # the median absolute deviation of a normal sample, in standard deviations
CHUNK_VALUES = 1 << 22  # replicates x rows evaluated at once


def residual_scale(log_residuals: np.ndarray) -> float:
    """Robust sigma of log residuals: 1.4826 x median |r - median r|."""
    r = np.asarray(log_residuals, dtype=np.float64)
    return float(MAD_TO_SIGMA * np.median(np.abs(r - np.median(r))))


def check_level(level: float) -> float:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise InputError(f"interval must be a coverage in (0, 1), like 0.9; got {level!r}", argument="interval")
    return float(level)


def replicate_samples(record: dict, source: str = "the fit") -> tuple[list[str], np.ndarray]:
    """The bootstrap replicates' natural coefficients ``(names, [B, P])`` of a fit record."""
    stored = record.get("bootstrap_samples")
    if not stored or not stored.get("values"):
        raise FitFileError(f"{source}: intervals need a fit made with --bootstrap (it keeps no replicates)")
    return list(stored["names"]), np.asarray(stored["values"], dtype=np.float64)


def bounds(point_log: np.ndarray, replicate_log, sigma: float, level: float) -> dict[str, np.ndarray]:
    """Confidence and prediction bounds (natural units) for every row.

    Args:
      point_log: [n] the point fit's log predictions.
      replicate_log: a function ``rows -> [B, len(rows)]`` of the replicates' log predictions
        (called chunk by chunk).
      sigma: the noise of the log loss (``residual_scale``).
      level: coverage, e.g. 0.9.
    """
    n = len(point_log)
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    out = {key: np.empty(n) for key in ("confidence_lo", "confidence_hi", "prediction_lo", "prediction_hi")}
    probe = replicate_log(np.arange(min(n, 1)))
    chunk = max(1, CHUNK_VALUES // max(probe.shape[0], 1))
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        mu = replicate_log(rows)  # [B, m]
        finite = np.isfinite(mu).all(axis=1)
        mu = mu[finite] if finite.any() else mu
        point = point_log[rows]
        c_lo = np.minimum(np.quantile(mu, lo_q, axis=0), point)
        c_hi = np.maximum(np.quantile(mu, hi_q, axis=0), point)
        p_lo = np.minimum(_mixture_quantile(mu, sigma, lo_q), c_lo)
        p_hi = np.maximum(_mixture_quantile(mu, sigma, hi_q), c_hi)
        for key, value in (("confidence_lo", c_lo), ("confidence_hi", c_hi), ("prediction_lo", p_lo),
                           ("prediction_hi", p_hi)):
            out[key][rows] = np.exp(value)
    return out


def _mixture_quantile(mu: np.ndarray, sigma: float, q: float, iterations: int = 60) -> np.ndarray:
    """The q-quantile of (1/B) sum_b Normal(mu_b, sigma^2), per column of ``mu`` [B, m]."""
    if sigma <= 0:
        return np.quantile(mu, q, axis=0)
    from scipy.special import ndtr  # SciPy is a core dependency; ndtr is the vectorized normal CDF

    lo = mu.min(axis=0) - 10 * sigma
    hi = mu.max(axis=0) + 10 * sigma
    for _ in range(iterations):  # 60 halvings of a bracket of at most ~20 sigma + spread: below 1e-15
        mid = 0.5 * (lo + hi)
        below = ndtr((mid[None, :] - mu) / sigma).mean(axis=0) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)
