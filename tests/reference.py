"""Plain references the tests and benchmarks hold distlaw against (SciPy is imported lazily).

They live in tests/, not in the installed package: they need SciPy (a test extra), and users of
distlaw never call them.

``scipy_multistart`` is the method of the paper and of the published Chinchilla replication:
SciPy's L-BFGS-B from every start, one after another, keep the best. For the Chinchilla form
the objective and its gradient are written out in NumPy (the analytic gradient such loops
use); for the other laws the gradient comes from JAX, compiled once.
"""

from __future__ import annotations

import functools

import numpy as np

from distlaw.fitting import FitData, HuberObjective


def chinchilla_value_and_grad(theta, log_n, log_d, log_obs, weights, delta, overestimate_weight=1.0):
    """Summed Huber loss of log residuals of ``E + A/N^alpha + B/D^beta`` and its gradient:
    sum w a(r) Huber(r), a = ``overestimate_weight`` where the law predicts too high (r > 0), 1
    elsewhere (OLMo-core's asymmetric fit; 1: the plain objective).

    theta = (log E, log A, log B, alpha, beta). NumPy only (written out: the oracle shares no
    code with distlaw).
    """
    log_e, log_a, log_b, alpha, beta = theta
    terms = np.stack([np.full_like(log_n, log_e), log_a - alpha * log_n, log_b - beta * log_d])
    top = terms.max(axis=0)
    expd = np.exp(terms - top)
    total = expd.sum(axis=0)
    residual = top + np.log(total) - log_obs
    absr = np.abs(residual)
    weights = weights * np.where(residual > 0, overestimate_weight, 1.0)
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


def scipy_chinchilla_best(frame, delta: float, weights=None, overestimate_weight: float = 1.0, n_starts: int = 40,
                          seed: int = 0) -> float:
    """SciPy L-BFGS-B's best of ``n_starts`` random starts on :func:`chinchilla_value_and_grad`
    (columns ``params, tokens, loss``), in distlaw's default box: E, A, B >= 1e-6 (as logs),
    exponents in [0, 5]; starts log E in [-1, 1], log A, log B in [0, 10], exponents in [0, 1]."""
    import math

    from scipy.optimize import minimize

    arrays = (np.log(frame["params"].to_numpy(dtype=np.float64)), np.log(frame["tokens"].to_numpy(dtype=np.float64)),
              np.log(frame["loss"].to_numpy(dtype=np.float64)),
              np.ones(len(frame)) if weights is None else np.asarray(weights, dtype=np.float64))
    box = [(math.log(1e-6), None)] * 3 + [(0.0, 5.0)] * 2
    rng = np.random.default_rng(seed)
    best = math.inf
    for _ in range(n_starts):
        z0 = [rng.uniform(-1, 1), rng.uniform(0, 10), rng.uniform(0, 10), rng.uniform(0, 1), rng.uniform(0, 1)]
        fit = minimize(chinchilla_value_and_grad, z0, args=(*arrays, delta, overestimate_weight), jac=True,
                       method="L-BFGS-B", bounds=box, options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20000})
        best = min(best, float(fit.fun))
    return best


def scipy_multistart(law: str, data: FitData, starts: np.ndarray, delta: float, box=None):
    """Best objective and parameters of SciPy L-BFGS-B (default tolerances) over ``starts``.

    ``box`` (a :class:`distlaw.fitting.Constraints`) gives L-BFGS-B the same boxes, fixed and
    tied coefficients as distlaw's fit: it then works in the free coordinates, ``starts`` are
    full optimizer-space rows (reduced and clipped as distlaw does) and the parameters returned
    are free coordinates. Without ``box`` the problem is unconstrained in the full space.
    Returns ``(best_value, best_params, values)`` with ``values`` the final objective of each start.
    """
    from scipy.optimize import minimize

    starts = np.asarray(starts, dtype=np.float64)
    bounds = None
    if box is not None:
        starts = np.clip(box.reduce(starts), box.lower, box.upper)
        bounds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
                  for lo, hi in zip(box.lower, box.upper, strict=True)]
    if law == "chinchilla" and (box is None or box.source == tuple(range(5))):
        arrays = [np.asarray(a) for a in (*data.log_inputs, data.log_obs, data.weights)]

        def value_and_grad(theta):
            return chinchilla_value_and_grad(theta, *arrays, delta)
    else:
        import jax

        objective = box.objective(delta) if box is not None else HuberObjective(law, float(delta))
        compiled = jax.jit(jax.value_and_grad(objective))

        def value_and_grad(theta):
            value, grad = compiled(theta, data)
            return float(value), np.asarray(grad, dtype=np.float64)

    values = np.full(len(starts), np.inf)
    best_params = None
    for i, start in enumerate(starts):
        with np.errstate(all="ignore"):
            result = minimize(value_and_grad, start, jac=True, method="L-BFGS-B", bounds=bounds)
        if np.isfinite(result.fun):
            values[i] = result.fun
            if best_params is None or result.fun <= values[: i + 1].min():
                best_params = result.x
    return float(values.min()), best_params, values


def slsqp_allocate(laws, student_params: float, budget: float, delta_lgt: float, delta_pre: float,
                   starts=None):
    """Compute-optimal distillation by SciPy SLSQP from several starts (the paper's method).

    Variables (log D_S, log N_T, log D_T) in [log 1e6, log 1e17], the budget as an inequality
    constraint log C - log C(D_S, N_T, D_T) >= 0, the student loss as the objective (value and
    gradient compiled by JAX once). Returns ``(best student loss, best x)``.
    """
    from scipy.optimize import minimize

    log_n_s, log_c = np.log(student_params), np.log(budget)
    compiled = _slsqp_functions(laws, log_n_s, log_c, delta_lgt, delta_pre)
    bounds = [(np.log(1e6), np.log(1e17))] * 3
    if starts is None:
        # Student tokens at 90%, 50% and 10% of the budget; teachers of 1B and 10B on 20x-1000x.
        starts = [(np.log(0.9 * budget / (6 * student_params)), np.log(n_t), np.log(m * n_t))
                  for n_t in (1e9, 1e10) for m in (20, 1000)]
        starts += [(np.log(0.1 * budget / (6 * student_params)), np.log(3e9), np.log(60e9))]
    best, best_x = np.inf, None
    for start in starts:
        x0 = np.clip(np.asarray(start, dtype=np.float64), bounds[0][0], bounds[0][1])
        with np.errstate(all="ignore"):
            result = minimize(compiled["value_grad"], x0, jac=True, method="SLSQP", bounds=bounds,
                              constraints=[{"type": "ineq", "fun": compiled["slack"], "jac": compiled["slack_grad"]}],
                              options={"maxiter": 500, "ftol": 1e-12})
        if result.success and compiled["slack"](result.x) >= -1e-9 and result.fun < best:
            best, best_x = float(result.fun), result.x
    return best, best_x


def _slsqp_functions(laws, log_n_s, log_c, delta_lgt, delta_pre):
    import jax
    import jax.numpy as jnp

    from distlaw.laws.compute import distillation_flops
    from distlaw.laws import distillation_log_loss, supervised_log_loss

    def loss(x):
        log_d_s, log_n_t, log_d_t = x[0], x[1], x[2]
        log_l_t = supervised_log_loss(laws.supervised, log_n_t, log_d_t)
        log_l_sup = supervised_log_loss(laws.supervised, log_n_s, log_d_s)
        return jnp.exp(distillation_log_loss(laws.distillation, log_n_s, log_d_s, log_l_t, log_l_sup))

    def slack(x):
        cost = distillation_flops(jnp.exp(log_n_s), jnp.exp(x[0]), jnp.exp(x[1]), jnp.exp(x[2]),
                                  delta_lgt, delta_pre, laws.arch)
        return log_c - jnp.log(cost)

    value_grad = jax.jit(jax.value_and_grad(loss))
    slack_value = jax.jit(slack)
    slack_grad = jax.jit(jax.grad(slack))
    return {
        "value_grad": lambda x: tuple(np.asarray(v, dtype=np.float64) for v in value_grad(x)),
        "slack": lambda x: float(slack_value(x)),
        "slack_grad": lambda x: np.asarray(slack_grad(x), dtype=np.float64),
    }


def scipy_huber_least_squares(spec, data: FitData, starts, delta: float, lower, upper, max_nfev: int = 3000,
                              require_convergence: bool = True):
    """SciPy's trust-region reflective least squares with the Huber loss, the best of ``starts``.

    ``least_squares(r, method="trf", loss="huber", f_scale=delta, bounds=(lower, upper))`` on the
    law's log residuals r(z) = log Lhat(z) - log L in optimizer space z (logs for scale
    constants): its cost 0.5 f^2 sum rho((r/f)^2) is sum Huber_delta(r), distlaw's objective at
    unit weights. Residuals and their Jacobian come from ``jax.jit(spec.log_loss)`` and
    ``jax.jacfwd``, evaluated in float64 NumPy; starts are clipped into the box; tolerances 1e-15.
    Every start must converge by a tolerance unless ``require_convergence`` is False (random
    starts, of which some wander until ``max_nfev``: the best of them is still SciPy's best).
    Returns ``(best OptimizeResult, residuals)`` with ``residuals(z)`` the NumPy residual function.
    """
    from scipy.optimize import least_squares

    assert np.all(np.asarray(data.weights) == 1), "unit weights only"
    log_inputs = tuple(np.asarray(a, dtype=np.float64) for a in data.log_inputs)
    log_obs = np.asarray(data.log_obs, dtype=np.float64)
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    values, jacobian = _compiled_log_fit(spec.name)

    def residuals(z):
        return np.asarray(values(np.asarray(z, dtype=np.float64), log_inputs), dtype=np.float64) - log_obs

    def jac(z):
        return np.asarray(jacobian(np.asarray(z, dtype=np.float64), log_inputs), dtype=np.float64)

    best = None
    for start in np.atleast_2d(np.asarray(starts, dtype=np.float64)):
        x0 = np.clip(start, lower, upper)
        result = least_squares(residuals, x0, jac=jac, method="trf", loss="huber", f_scale=delta,
                               bounds=(lower, upper), x_scale="jac", ftol=1e-15, xtol=1e-15, gtol=1e-15,
                               max_nfev=max_nfev)
        assert result.status > 0 or not require_convergence, result.message  # a tolerance, not max_nfev
        if best is None or result.cost < best.cost:
            best = result
    return best, residuals


@functools.cache
def _compiled_log_fit(law: str):
    """log Lhat(z; inputs) and its Jacobian in z, jitted once per law (the data are arguments)."""
    import jax

    from distlaw.laws import LAWS

    spec = LAWS[law]

    def log_fit(z, log_inputs):
        return spec.log_loss(spec.params_type(*z), *log_inputs)

    return jax.jit(log_fit), jax.jit(jax.jacfwd(log_fit))


# ---------------------------------------------------------------------------------------------
# The paper's compute model and laws written out by hand, in natural form (plain NumPy; no
# distlaw code): oracles for the planner.

PAPER_N_CTX, PAPER_N_VOCAB, PAPER_RHO, PAPER_OMEGA = 4096.0, 32768.0, 128.0, 12.0


def forward_flops_by_hand(n):
    """Eq. 69: F(N) = 2N (1 + sigma1 n_ctx / N^(1/3) + sigma2 n_vocab / N^(2/3)),
    sigma1 = (rho omega^2)^(-1/3), sigma2 = (rho / omega)^(1/3), omega = 12, rho = 128,
    n_ctx = 4096, n_vocab = 32768."""
    n = np.asarray(n, dtype=np.float64)
    sigma1 = (PAPER_RHO * PAPER_OMEGA**2) ** (-1.0 / 3.0)
    sigma2 = (PAPER_RHO / PAPER_OMEGA) ** (1.0 / 3.0)
    return 2.0 * n * (1.0 + sigma1 * PAPER_N_CTX / np.cbrt(n) + sigma2 * PAPER_N_VOCAB / np.cbrt(n) ** 2)


def distillation_flops_by_hand(n_s, d_s, n_t, d_t, delta_lgt, delta_pre):
    """Eq. 9: C = 3 F(N_S) D_S + F(N_T) (delta_lgt D_S + delta_pre 3 D_T)."""
    return (3.0 * forward_flops_by_hand(n_s) * d_s
            + forward_flops_by_hand(n_t) * (delta_lgt * d_s + delta_pre * 3.0 * d_t))


def supervised_loss_by_hand(p, n, d):
    """Eq. 1, natural coefficients ``p``: L = E + (A / N^alpha + B / D^beta)^gamma."""
    n, d = np.asarray(n, dtype=np.float64), np.asarray(d, dtype=np.float64)
    return p["E"] + (p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]) ** p["gamma"]


def distillation_loss_by_hand(p, sup, n_s, d_s, l_t):
    """Eq. 8, natural coefficients ``p`` (primed constants) and ``sup`` (Eq. 1, for Ltilde_S):

    L_S = L_T + L_T^(-c0) (1 + (L_T / (Ltilde_S d1))^(1/f1))^(-c1 f1) (A/N_S^alpha + B/D_S^beta)^gamma.
    """
    l_sup = supervised_loss_by_hand(sup, n_s, d_s)
    l_t = np.asarray(l_t, dtype=np.float64)
    gap = (1.0 + (l_t / (l_sup * p["d1"])) ** (1.0 / p["f1"])) ** (-p["c1"] * p["f1"])
    reducible = (p["A"] / np.asarray(n_s, dtype=np.float64) ** p["alpha"]
                 + p["B"] / np.asarray(d_s, dtype=np.float64) ** p["beta"]) ** p["gamma"]
    return l_t + l_t ** (-p["c0"]) * gap * reducible
