"""The scaling laws, as pure JAX functions in log space, and their registry.

Symbols (Busbridge et al., "Distillation Scaling Laws", ICML 2025) and the names used here:

    N      non-embedding parameters (raw count)        column ``params`` / ``student_params``
    D      training tokens (raw count)                 column ``tokens`` / ``student_tokens``
    L      cross-entropy, nats per token               column ``loss`` / ``student_loss``
    L_T    teacher cross-entropy, nats per token       column ``teacher_loss``
    Ltilde_S  the student's supervised loss L(N_S, D_S) from a supervised law

Every law is ``log_loss(params, *log_inputs) -> log L``: elementwise, broadcasting, so one
function serves a single run, a table and a dense grid, and it can be ``jit``-ed and
``vmap``-ped freely. Parameters are NamedTuples in the space the optimizer sees (scale
constants as logs); ``LawSpec.to_natural`` / ``from_natural`` convert to the published form.

Example::

    >>> import jax.numpy as jnp
    >>> from distlaw.laws import LAWS
    >>> spec = LAWS["supervised"]
    >>> p = spec.from_natural(spec.presets["paper"])
    >>> float(jnp.exp(spec.log_loss(p, jnp.log(1e9), jnp.log(2e10))))  # doctest: +ELLIPSIS
    2.3746...
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.nn import softplus

from .errors import InputError


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


# Natural form <-> optimizer form: scale constants are optimized as logs (Appendix F).
def _log_fields(names: tuple[str, ...]) -> dict[str, str]:
    """Map optimizer field -> natural name, e.g. ``log_a -> A``, ``log_d1 -> d1``."""
    out = {}
    for name in names:
        if name.startswith("log_"):
            stem = name[4:]
            out[name] = stem.upper() if len(stem) == 1 else stem
        else:
            out[name] = name
    return out


class LawSpec(NamedTuple):
    """Everything the fitter, the CLI and the tests need to know about one law.

    Attributes:
      name: registry key.
      params_type: NamedTuple of optimizer-space coefficients.
      log_loss: ``log_loss(params, *log_inputs) -> log L``.
      input_columns: run-table columns feeding ``log_inputs`` in order (logs taken on load);
        the distillation law's last input, Ltilde_S, is computed from a supervised law.
      target_column: the observed loss column.
      presets: published coefficient sets in natural form.
      paper_starts: the paper's grid of initializations (natural-space values of optimizer
        fields: logs for scale constants), one tuple of values per field.
      bounds: the default box of every coefficient in natural form, ``{name: (lo, hi)}`` with
        ``None`` for an open side (see ``DEFAULT_BOUNDS``).
    """

    name: str
    params_type: type
    log_loss: Callable
    input_columns: tuple[str, ...]
    target_column: str
    presets: Mapping[str, Mapping[str, float]]
    paper_starts: Mapping[str, tuple[float, ...]]
    bounds: Mapping[str, tuple[float | None, float | None]]

    @property
    def fields(self) -> tuple[str, ...]:
        return self.params_type._fields

    @property
    def natural_names(self) -> tuple[str, ...]:
        mapping = _log_fields(self.fields)
        return tuple(mapping[f] for f in self.fields)

    def to_natural(self, params) -> dict[str, float]:
        """Optimizer-space params (NamedTuple or sequence) -> ``{natural name: value}``."""
        out = {}
        for field, natural, value in zip(self.fields, self.natural_names, params, strict=True):
            value = float(value)
            out[natural] = float(jnp.exp(value)) if field.startswith("log_") else value
        return out

    def from_natural(self, values: Mapping[str, float]):
        """``{natural name: value}`` -> optimizer-space NamedTuple of float64 scalars."""
        missing = [n for n in self.natural_names if n not in values]
        if missing:
            raise InputError(f"law {self.name!r} needs coefficients {missing}")
        vals = []
        for field, natural in zip(self.fields, self.natural_names, strict=True):
            v = float(values[natural])
            if field.startswith("log_"):
                if v <= 0:
                    raise InputError(f"coefficient {natural} must be > 0, got {v}")
                v = math.log(v)
            vals.append(v)
        return self.params_type(*vals)


# Table 6 of the paper (supervised: 73 runs; distillation: 697 runs).
PAPER_SUPERVISED = {"E": 1.220, "A": 3355.0, "B": 18186.0, "alpha": 0.408, "beta": 0.431, "gamma": 0.452}
PAPER_DISTILLATION = {
    "A": 2243.0, "B": 24181.0, "alpha": 0.321, "beta": 0.637, "gamma": 0.764,
    "c0": 2.549, "c1": 522.6, "f1": 0.090, "d1": 1.315,
}  # fmt: skip
# Hoffmann et al. (2022) approach 3, and Besiroglu et al. (2024)'s replication of it.
HOFFMANN_CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
EPOCH_CHINCHILLA = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}

# Muennighoff et al. (2023): the base coefficients fitted to Chinchilla's C4 isoFLOP points
# (alpha tied to beta), R_D* and R_N* fitted on their 182 runs (distlaw/data/SOURCES.md).
MUENNIGHOFF_DATA_CONSTRAINED = {
    "E": 1.8691436784054858, "A": 520.8249516599187, "B": 1487.716093782861,
    "alpha": 0.3526596, "beta": 0.3526596, "R_D": 15.387756, "R_N": 5.309743,
}  # fmt: skip

_SCALE_GRID = (0.0, 5.0, 10.0, 15.0, 20.0)
# Hoffmann et al.'s grid of Chinchilla-form starts as used by Besiroglu et al. (4,500 starts).
_HOFFMANN_GRID = {
    "log_e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "log_a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "log_b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}

# Default boxes, natural form, ``None`` for an open side. Physical meaning first: exponents
# (alpha, beta, gamma, c0) are non-negative (a negative one makes the loss grow with size or
# data) and below a generous 5 (published fits lie in 0.28-0.77; c0 = 2.549 in the paper);
# scale constants (E, A, B, d1) are positive through their log form, with a floor of 1e-6
# far below any published value (A and B are in the hundreds to tens of thousands, E and d1
# near 1) so that a term the data do not support ends *on the bound*, visibly, instead of
# drifting to log 0. The distillation constants: c1 >= 0 up to 1e4 (paper 522.6), f1 in
# [1e-3, 10] (paper 0.090; 1/f1 enters the law, so 0 is excluded), d1 in [1e-3, 1e3] (paper
# 1.315). Every published preset lies well inside its box (tests/test_laws.py).
_SCALE = (1e-6, None)
_EXPONENT = (0.0, 5.0)
DEFAULT_BOUNDS = {
    "chinchilla": {"E": _SCALE, "A": _SCALE, "B": _SCALE, "alpha": _EXPONENT, "beta": _EXPONENT},
    "supervised": {"E": _SCALE, "A": _SCALE, "B": _SCALE, "alpha": _EXPONENT, "beta": _EXPONENT,
                   "gamma": _EXPONENT},
    "distillation": {"A": _SCALE, "B": _SCALE, "alpha": _EXPONENT, "beta": _EXPONENT, "gamma": _EXPONENT,
                     "c0": (0.0, 20.0), "c1": (0.0, 1e4), "f1": (1e-3, 10.0), "d1": (1e-3, 1e3)},
    # alpha and beta enter as log alpha, log beta and beta/alpha (through G), so they stay off 0;
    # R_D*, R_N* (published 15.4, 5.3): repetitions worth between 0.01 and 1e4 fresh ones.
    "data_constrained": {"E": _SCALE, "A": _SCALE, "B": _SCALE, "alpha": (1e-3, 5.0), "beta": (1e-3, 5.0),
                         "R_D": (1e-2, 1e4), "R_N": (1e-2, 1e4)},
}

LAWS: dict[str, LawSpec] = {
    "chinchilla": LawSpec(
        name="chinchilla",
        params_type=ChinchillaParams,
        log_loss=chinchilla_log_loss,
        input_columns=("params", "tokens"),
        target_column="loss",
        # The supervised law at gamma = 1 is the Chinchilla form, so Table 6's supervised fit
        # is not a Chinchilla-form fit; ship the two published Chinchilla-form fits instead.
        presets={"hoffmann": HOFFMANN_CHINCHILLA, "epoch": EPOCH_CHINCHILLA},
        # Hoffmann et al.'s grid as used by Besiroglu et al. (4,500 starts).
        paper_starts=_HOFFMANN_GRID,
        bounds=DEFAULT_BOUNDS["chinchilla"],
    ),
    "supervised": LawSpec(
        name="supervised",
        params_type=SupervisedParams,
        log_loss=supervised_log_loss,
        input_columns=("params", "tokens"),
        target_column="loss",
        presets={"paper": PAPER_SUPERVISED},
        paper_starts={  # Appendix F: 9,600 starts.
            "log_e": (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5),
            "log_a": _SCALE_GRID,
            "log_b": _SCALE_GRID,
            "alpha": (0.0, 0.5, 1.0, 1.5),
            "beta": (0.0, 0.5, 1.0, 1.5),
            "gamma": (0.0, 0.5, 1.0, 1.5),
        },
        bounds=DEFAULT_BOUNDS["supervised"],
    ),
    "distillation": LawSpec(
        name="distillation",
        params_type=DistillationParams,
        log_loss=distillation_log_loss,
        input_columns=("student_params", "student_tokens", "teacher_loss"),
        target_column="student_loss",
        presets={"paper": PAPER_DISTILLATION},
        paper_starts={  # Appendix F: 216,000 starts.
            "log_a": _SCALE_GRID,
            "log_b": _SCALE_GRID,
            "alpha": (0.0, 0.5, 1.0),
            "beta": (0.0, 0.5, 1.0),
            "gamma": (0.0, 0.5, 1.0),
            "c0": (0.0, 0.5, 1.0, 1.5),
            "c1": (0.0, 0.5, 1.0, 1.5),
            "f1": (0.0, 0.5, 1.0, 1.5),
            "log_d1": (-1.0, -0.5, 0.0, 0.5, 1.0),
        },
        bounds=DEFAULT_BOUNDS["distillation"],
    ),
    "data_constrained": LawSpec(
        name="data_constrained",
        params_type=DataConstrainedParams,
        log_loss=data_constrained_log_loss,
        input_columns=("params", "tokens", "unique_tokens"),
        target_column="loss",
        presets={"muennighoff": MUENNIGHOFF_DATA_CONSTRAINED},
        # Hoffmann et al.'s grid for the base coefficients (exponents from 0.1: G needs
        # alpha, beta > 0) times 3 x 3 decay constants: 40,500 starts.
        paper_starts={
            **_HOFFMANN_GRID,
            "alpha": (0.1, *_HOFFMANN_GRID["alpha"][1:]),
            "beta": (0.1, *_HOFFMANN_GRID["beta"][1:]),
            "log_R_D": (0.0, 2.0, 4.0),
            "log_R_N": (0.0, 2.0, 4.0),
        },
        bounds=DEFAULT_BOUNDS["data_constrained"],
    ),
}


def require_x64() -> None:
    """Raise unless JAX runs in float64; the library never switches it on itself.

    Fits, plans, atlases and predictions all refuse float32: the Huber region of delta = 1e-4
    is below the resolution of a float32 log loss, and in float32 the compute-optimal N* at
    1e20 FLOPs comes out as 9.297e8 instead of 9.319e8.
    """
    if not jax.config.read("jax_enable_x64"):
        raise RuntimeError("distlaw needs float64: call jax.config.update('jax_enable_x64', True) first "
                           "(the distlaw command does)")


def get_law(name: str) -> LawSpec:
    """The registered law called ``name``; a ``ValueError`` lists the choices otherwise."""
    try:
        return LAWS[name]
    except KeyError:
        raise InputError(f"unknown law {name!r}; choose one of {sorted(LAWS)}") from None


def predict_loss(spec: LawSpec, params, *inputs, supervised=None):
    """Loss in nats per token for natural-unit inputs (N, D[, L_T]) under ``spec``.

    For the distillation law, ``supervised`` is the SupervisedParams (optimizer form) giving
    Ltilde_S = L(N_S, D_S).
    """
    require_x64()
    log_inputs = [jnp.log(jnp.asarray(x)) for x in inputs]
    if spec.name == "distillation":
        if supervised is None:
            raise InputError("the distillation law needs supervised coefficients for Ltilde_S")
        log_inputs.append(supervised_log_loss(supervised, log_inputs[0], log_inputs[1]))
    return jnp.exp(spec.log_loss(params, *log_inputs))
