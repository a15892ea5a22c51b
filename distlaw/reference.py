"""Plain references the tests and benchmarks hold distlaw against (SciPy is imported lazily).

``scipy_multistart`` is the method of the paper and of the published Chinchilla replication:
SciPy's L-BFGS-B from every start, one after another, keep the best. For the Chinchilla form
the objective and its gradient are written out in NumPy (the analytic gradient such loops
use); for the other laws the gradient comes from JAX, compiled once.
"""

from __future__ import annotations

import numpy as np

from .fitting import FitData, HuberObjective


def chinchilla_value_and_grad(theta, log_n, log_d, log_obs, weights, delta):
    """Summed Huber loss of log residuals of ``E + A/N^alpha + B/D^beta`` and its gradient.

    theta = (log E, log A, log B, alpha, beta). NumPy only.
    """
    log_e, log_a, log_b, alpha, beta = theta
    terms = np.stack([np.full_like(log_n, log_e), log_a - alpha * log_n, log_b - beta * log_d])
    top = terms.max(axis=0)
    expd = np.exp(terms - top)
    total = expd.sum(axis=0)
    residual = top + np.log(total) - log_obs
    absr = np.abs(residual)
    value = np.sum(weights * np.where(absr <= delta, 0.5 * residual**2, delta * (absr - 0.5 * delta)))
    slope = weights * np.clip(residual, -delta, delta)  # Huber'(r)
    share = expd / total  # d log Lhat / d term_k
    grad = np.array([
        np.sum(slope * share[0]),
        np.sum(slope * share[1]),
        np.sum(slope * share[2]),
        -np.sum(slope * share[1] * log_n),
        -np.sum(slope * share[2] * log_d),
    ])  # fmt: skip
    return value, grad


def scipy_multistart(law: str, data: FitData, starts: np.ndarray, delta: float):
    """Best objective and parameters of SciPy L-BFGS-B (default tolerances) over ``starts``.

    Returns ``(best_value, best_params, values)`` with ``values`` the final objective of each start.
    """
    from scipy.optimize import minimize

    if law == "chinchilla":
        arrays = [np.asarray(a) for a in (*data.log_inputs, data.log_obs, data.weights)]

        def value_and_grad(theta):
            return chinchilla_value_and_grad(theta, *arrays, delta)
    else:
        import jax

        objective = HuberObjective(law, float(delta))
        compiled = jax.jit(jax.value_and_grad(objective))

        def value_and_grad(theta):
            value, grad = compiled(theta, data)
            return float(value), np.asarray(grad, dtype=np.float64)

    values = np.full(len(starts), np.inf)
    best_params = None
    for i, start in enumerate(np.asarray(starts, dtype=np.float64)):
        with np.errstate(all="ignore"):
            result = minimize(value_and_grad, start, jac=True, method="L-BFGS-B")
        if np.isfinite(result.fun):
            values[i] = result.fun
            if best_params is None or result.fun <= values[: i + 1].min():
                best_params = result.x
    return float(values.min()), best_params, values
