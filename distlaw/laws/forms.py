"""The scaling laws as pure JAX functions in log space, and their coefficient types.

Symbols (Busbridge et al., "Distillation Scaling Laws", ICML 2025) and the names used here:

    N      non-embedding parameters (raw count)        column ``params`` / ``student_params``
    D      training tokens (raw count)                 column ``tokens`` / ``student_tokens``
    L      cross-entropy, nats per token               column ``loss`` / ``student_loss``
    L_T    teacher cross-entropy, nats per token       column ``teacher_loss``
    Ltilde_S  the student's supervised loss L(N_S, D_S) from a supervised law

Every law is ``log_loss(params, *log_inputs) -> log L``: elementwise, broadcasting, so one
function serves a single run, a table and a dense grid, and it can be ``jit``-ed and
``vmap``-ped freely. Parameters are NamedTuples in the space the optimizer sees (scale
constants as logs); :class:`distlaw.laws.LawSpec` converts to and from the published form.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.nn import softplus


class ChinchillaParams(NamedTuple):
    """Hoffmann et al. (2022) form ``L = E + A/N^alpha + B/D^beta`` (natural logs of E, A, B)."""

    log_e: jnp.ndarray
    log_a: jnp.ndarray
    log_b: jnp.ndarray
    alpha: jnp.ndarray
    beta: jnp.ndarray


class SupervisedParams(NamedTuple):
    """Eq. 1 of the paper, ``L = E + (A/N^alpha + B/D^beta)^gamma``."""

    log_e: jnp.ndarray
    log_a: jnp.ndarray
    log_b: jnp.ndarray
    alpha: jnp.ndarray
    beta: jnp.ndarray
    gamma: jnp.ndarray


class DataConstrainedParams(NamedTuple):
    """Muennighoff et al. (2023), the Chinchilla form on effective parameters and data, with the
    decay constants R_D* and R_N* of repeated data (natural logs of E, A, B, R_D*, R_N*)."""

    log_e: jnp.ndarray
    log_a: jnp.ndarray
    log_b: jnp.ndarray
    alpha: jnp.ndarray
    beta: jnp.ndarray
    log_R_D: jnp.ndarray
    log_R_N: jnp.ndarray


class DistillationParams(NamedTuple):
    """Eq. 8 / Eq. 46: the primed constants A', B', alpha', beta', gamma' and c0, c1, f1, d1."""

    log_a: jnp.ndarray
    log_b: jnp.ndarray
    alpha: jnp.ndarray
    beta: jnp.ndarray
    gamma: jnp.ndarray
    c0: jnp.ndarray
    c1: jnp.ndarray
    f1: jnp.ndarray
    log_d1: jnp.ndarray


class DistillationRidgeParams(NamedTuple):
    """The distillation law in the coordinates its ridge is straight in (see
    :func:`distillation_ridge_log_loss`): gamma' log A'/N0^alpha', gamma' log B'/D0^beta', the
    effective exponents alpha' gamma', beta' gamma', then gamma', c0, c1, f1, log d1 as in
    :class:`DistillationParams`."""

    k_a: jnp.ndarray
    k_b: jnp.ndarray
    alpha_gamma: jnp.ndarray
    beta_gamma: jnp.ndarray
    gamma: jnp.ndarray
    c0: jnp.ndarray
    c1: jnp.ndarray
    f1: jnp.ndarray
    log_d1: jnp.ndarray


class KaplanParams(NamedTuple):
    """Kaplan et al. (2020), Eq. 1.5, ``L = ((N_c/N)^(alpha_N/alpha_D) + D_c/D)^alpha_D``
    (natural logs of N_c and D_c, in parameters and tokens)."""

    log_Nc: jnp.ndarray
    log_Dc: jnp.ndarray
    alpha_N: jnp.ndarray
    alpha_D: jnp.ndarray


def _log_sum_exp(*terms):
    """log(sum_k exp(t_k)), elementwise over broadcast terms, shifted by their maximum.

    Written out for a handful of terms rather than stacked into ``logsumexp``: the fitting
    solver differentiates the laws in forward mode millions of times, and this form measured
    1.45x faster there (same value to 3e-16). The shift is held constant under
    differentiation, as its derivative cancels exactly.
    """
    shift = jax.lax.stop_gradient(functools.reduce(jnp.maximum, terms))
    return shift + jnp.log(sum(jnp.exp(t - shift) for t in terms))


def chinchilla_log_loss(p: ChinchillaParams, log_n, log_d):
    """log L for ``L = E + A/N^alpha + B/D^beta`` = LSE(log E, log A - alpha log N, log B - beta log D).

    Args:
      p: coefficients (log E, log A, log B in nats of the loss; alpha, beta dimensionless).
      log_n: natural log of non-embedding parameters.
      log_d: natural log of training tokens.
    Returns:
      natural log of the loss (nats per token).
    """
    return _log_sum_exp(p.log_e, p.log_a - p.alpha * log_n, p.log_b - p.beta * log_d)


def kaplan_log_loss(p: KaplanParams, log_n, log_d):
    """log L for Kaplan et al.'s Eq. 1.5, ``L = ((N_c/N)^(alpha_N/alpha_D) + D_c/D)^alpha_D``:

        log L = alpha_D LSE((alpha_N / alpha_D)(log N_c - log N), log D_c - log D).

    No irreducible term: the loss falls toward 0 with N and D (Kaplan et al. fitted runs far
    from it). Inputs as in :func:`chinchilla_log_loss`.
    """
    return p.alpha_D * _log_sum_exp(p.alpha_N / p.alpha_D * (p.log_Nc - log_n), p.log_Dc - log_d)


def supervised_log_loss(p: SupervisedParams, log_n, log_d):
    """log L for Eq. 1, ``L = E + (A/N^alpha + B/D^beta)^gamma`` (Eqs. 41-44, typos fixed).

    log L = LSE(log E, gamma * LSE(log A - alpha log N, log B - beta log D)).
    Inputs as in :func:`chinchilla_log_loss`.
    """
    reducible = _log_sum_exp(p.log_a - p.alpha * log_n, p.log_b - p.beta * log_d)
    return _log_sum_exp(p.log_e, p.gamma * reducible)


def distillation_log_loss(p: DistillationParams, log_n_s, log_d_s, log_l_t, log_l_sup):
    """log L_S for Eq. 8 (log-space form Eqs. 47-49, typos fixed).

        L_S = L_T + L_T^(-c0) (1 + (L_T / (Ltilde_S d1))^(1/f1))^(-c1 f1)
                  (A'/N_S^alpha' + B'/D_S^beta')^gamma'

    Args:
      p: the distillation coefficients (A', B' as logs; d1 as a log).
      log_n_s: log student non-embedding parameters.
      log_d_s: log distillation tokens.
      log_l_t: log teacher cross-entropy (nats per token).
      log_l_sup: log Ltilde_S, the student's supervised loss L(N_S, D_S) from a supervised law.
    Returns:
      log student cross-entropy (nats per token).
    """
    reducible = _log_sum_exp(p.log_a - p.alpha * log_n_s, p.log_b - p.beta * log_d_s)
    # (1 + x^(1/f1))^(-c1 f1) with x = L_T / (Ltilde_S d1), in logs: -c1 f1 softplus(log x / f1).
    gap = -p.c1 * p.f1 * softplus((log_l_t - log_l_sup - p.log_d1) / p.f1)
    return _log_sum_exp(log_l_t, -p.c0 * log_l_t + gap + p.gamma * reducible)


# Reference sizes of the ridge coordinates (a student of 1B parameters on 20B tokens): centring
# log N and log D there keeps k_a and alpha' gamma' (k_b and beta' gamma') from trading off.
RIDGE_LOG_N0 = math.log(1e9)
RIDGE_LOG_D0 = math.log(2e10)


def distillation_ridge_log_loss(p: DistillationRidgeParams, log_n_s, log_d_s, log_l_t, log_l_sup):
    """log L_S for Eq. 8 in ridge coordinates: the same function as :func:`distillation_log_loss`.

    The reducible term (A'/N_S^alpha' + B'/D_S^beta')^gamma' is, in logs,

        gamma' LSE((k_a - a (log N_S - log N0)) / gamma', (k_b - b (log D_S - log D0)) / gamma'),

    with a = alpha' gamma', b = beta' gamma', k_a = gamma' log A' - a log N0 and k_b likewise: a
    soft maximum of two power laws with temperature gamma'. Where the data cannot tell a smooth
    switch between the N- and D-limited regimes from a sharp one, the fit's ridge runs along
    gamma' at fixed a, b, k_a, k_b: a straight line here, a hyperbola (alpha', log A' growing like
    1/gamma') in :class:`DistillationParams`, which a Levenberg-Marquardt solver walks in
    thousands of small steps (issue 22). Fits walk here first (:mod:`distlaw.fitting.ridge`).
    """
    reducible = p.gamma * _log_sum_exp((p.k_a - p.alpha_gamma * (log_n_s - RIDGE_LOG_N0)) / p.gamma,
                                       (p.k_b - p.beta_gamma * (log_d_s - RIDGE_LOG_D0)) / p.gamma)
    gap = -p.c1 * p.f1 * softplus((log_l_t - log_l_sup - p.log_d1) / p.f1)
    return _log_sum_exp(log_l_t, -p.c0 * log_l_t + gap + reducible)


def distillation_from_ridge(rows, alpha_max: float = math.inf, beta_max: float = math.inf):
    """[S, 9] ridge coordinates -> [S, 9] :class:`DistillationParams` rows (NumPy).

    alpha' = a / gamma', beta' = b / gamma', log A' = (k_a + a log N0) / gamma', log B' likewise.
    Where alpha' or beta' would pass ``alpha_max`` / ``beta_max``, gamma' is raised until they do
    not: a move along the ridge (a, b, k_a, k_b kept), which barely changes the loss, instead of
    clipping alpha' alone, which breaks the fit.
    """
    import numpy as np

    rows = np.array(rows, dtype=np.float64, ndmin=2)
    k_a, k_b, a, b, gamma = (rows[:, i] for i in range(5))
    gamma = np.maximum.reduce([gamma, a / alpha_max, b / beta_max])
    out = rows.copy()
    out[:, 0] = (k_a + a * RIDGE_LOG_N0) / gamma
    out[:, 1] = (k_b + b * RIDGE_LOG_D0) / gamma
    out[:, 2], out[:, 3], out[:, 4] = a / gamma, b / gamma, gamma
    return out


def distillation_to_ridge(rows):
    """[S, 9] :class:`DistillationParams` rows -> ridge coordinates (NumPy; the inverse above)."""
    import numpy as np

    rows = np.array(rows, dtype=np.float64, ndmin=2)
    log_a, log_b, alpha, beta, gamma = (rows[:, i] for i in range(5))
    out = rows.copy()
    out[:, 2], out[:, 3] = alpha * gamma, beta * gamma
    out[:, 0] = gamma * log_a - out[:, 2] * RIDGE_LOG_N0
    out[:, 1] = gamma * log_b - out[:, 3] * RIDGE_LOG_D0
    return out


def data_constrained_log_loss(p: DataConstrainedParams, log_n, log_d, log_u):
    """log L for Muennighoff et al.'s data-constrained law (their Eqs. 5-7, as in their code):

        L = E + A / N'^alpha + B / D'^beta,
        D' = U_D (1 + R_D* (1 - exp(-R_D / R_D*))),   R_D = D / U_D - 1  (repetitions of the data),
        N' = U_N (1 + R_N* (1 - exp(-R_N / R_N*))),   R_N = max(N / U_N - 1, 0),
        U_N = min(N, (U_D G)^(beta/alpha) G),         G = (alpha A / (beta B))^(1/(alpha+beta)),

    with U_D = min(U, D) the unique tokens seen (their code uses U; the same wherever D >= U, as in
    their runs). Excess parameters beyond what U_D unique tokens can use (the compute-optimal
    size for them, U_N) count with diminishing value, like repeated tokens. Computed in logs:
    log D' = log U_D + log1p(R_D* (-expm1(-R_D / R_D*))).

    Args:
      p: coefficients (log E, log A, log B, log R_D*, log R_N*; alpha, beta > 0).
      log_n, log_d, log_u: natural logs of parameters N, total training tokens D, unique tokens U.
    Returns:
      natural log of the loss (nats per token).
    """
    log_ud = jnp.minimum(log_u, log_d)
    log_g = (jnp.log(p.alpha) + p.log_a - jnp.log(p.beta) - p.log_b) / (p.alpha + p.beta)
    log_un = jnp.minimum(log_n, (p.beta / p.alpha) * (log_ud + log_g) + log_g)
    repeats_d = jnp.expm1(log_d - log_ud)  # D/U_D - 1 >= 0
    repeats_n = jnp.expm1(log_n - log_un)  # N/U_N - 1 >= 0
    r_d, r_n = jnp.exp(p.log_R_D), jnp.exp(p.log_R_N)
    log_d_eff = log_ud + jnp.log1p(-r_d * jnp.expm1(-repeats_d / r_d))
    log_n_eff = log_un + jnp.log1p(-r_n * jnp.expm1(-repeats_n / r_n))
    return _log_sum_exp(p.log_e, p.log_a - p.alpha * log_n_eff, p.log_b - p.beta * log_d_eff)
