"""The compute model: forward FLOPs per token, the cost of distillation, the paper's scenarios.

Forward FLOPs per token (Eq. 69; causal attention and the output projection counted):

    F(N) = 2N (1 + sigma1 n_ctx / N^(1/3) + sigma2 n_vocab / N^(2/3))
    sigma1 = (rho omega^2)^(-1/3),  sigma2 = (rho / omega)^(1/3),  omega = 12, rho = d_model / n_layers

Total compute of distillation (Eq. 9), in FLOPs:

    C = 3 F(N_S) D_S + F(N_T) (delta_lgt D_S + delta_pre 3 D_T),   deltas in [0, 1]

Supervised training of one model costs 3 F(N) D. With ``Architecture(six_nd=True)``,
F(N) = 2N: the common ``6ND`` rule. The settings (:class:`Architecture`) and the scenarios of
Table 2 (:data:`SCENARIOS`) are plain data in :mod:`distlaw.laws.catalog`.
"""

from __future__ import annotations

import jax.numpy as jnp

from ..errors import InputError
from .catalog import PAPER_ARCHITECTURE, SCENARIOS, Architecture, Scenario

__all__ = ["PAPER_ARCHITECTURE", "SCENARIOS", "Architecture", "Scenario", "distillation_flops", "flops_from_forward",
           "forward_flops", "with_logit_cost", "with_students"]


def forward_flops(n, arch: Architecture = PAPER_ARCHITECTURE):
    """F(N): forward FLOPs per token of a model with N non-embedding parameters (Eq. 69)."""
    n = jnp.asarray(n)
    sigma1 = (arch.rho * arch.omega**2) ** (-1.0 / 3.0)
    sigma2 = (arch.rho / arch.omega) ** (1.0 / 3.0)
    overhead = sigma1 * arch.n_ctx / n ** (1.0 / 3.0) + sigma2 * arch.n_vocab / n ** (2.0 / 3.0)
    # ``where``, not ``if``: the architecture may be a traced argument of a jitted planner.
    return 2.0 * n * (1.0 + jnp.where(arch.six_nd, 0.0, overhead))


def distillation_flops(n_s, d_s, n_t, d_t, delta_lgt, delta_pre, arch: Architecture = PAPER_ARCHITECTURE):
    """Eq. 9: student training, plus delta_lgt of the teacher's logits, plus delta_pre of its pretraining."""
    return flops_from_forward(forward_flops(n_s, arch), d_s, forward_flops(n_t, arch), d_t, delta_lgt, delta_pre)


def flops_from_forward(f_s, d_s, f_t, d_t, delta_lgt, delta_pre):
    """Eq. 9 from the forward FLOPs per token F(N_S), F(N_T) (for callers that tabulate F)."""
    return 3.0 * f_s * d_s + f_t * (delta_lgt * d_s + delta_pre * 3.0 * d_t)


def with_students(scenario: Scenario, k: float) -> Scenario:
    """The scenario with the teacher's pretraining shared by ``k`` students (delta_pre / k)."""
    if k < 1:
        raise InputError(f"students must be >= 1, got {k}", argument="students")
    return scenario._replace(delta_pre=scenario.delta_pre / k)


def with_logit_cost(scenario: Scenario, cost: float) -> Scenario:
    """The scenario with logits priced at ``cost`` of a forward pass (cached/quantized: < 1)."""
    if not 0 <= cost <= 1:
        raise InputError(f"logit_cost must be in [0, 1], got {cost}", argument="logit_cost")
    return scenario._replace(delta_lgt=scenario.delta_lgt * cost)
