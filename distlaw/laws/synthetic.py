"""Synthetic run tables drawn from known laws, shaped like published scaling studies.

They serve as the built-in demo data, as test oracles (a fit must recover the coefficients
it was drawn from) and as benchmark inputs. Noise is multiplicative (Gaussian in log loss),
as real run-to-run variation is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .registry import LAWS, predict_loss

from .catalog import DISTILLATION_LAW, LAW_INFO, PAPER_DISTILLATION, PAPER_SUPERVISED, SUPERVISED_LAW, SYNTHETIC

# Non-embedding size ladder of the paper's experiments (Section 5 and Appendix of Busbridge et al.), in parameters.
PAPER_SIZES = np.array([
    143e6, 198e6, 266e6, 340e6, 435e6, 546e6, 664e6, 810e6, 975e6, 1.15e9, 1.35e9, 1.59e9,
    1.82e9, 2.1e9, 2.41e9, 2.72e9, 3.08e9, 3.48e9, 3.87e9, 4.82e9, 5.31e9, 5.87e9, 6.48e9,
    7.07e9, 7.75e9, 8.47e9, 9.17e9, 10e9, 10.8e9, 11.7e9, 12.6e9,
])  # fmt: skip
PAPER_BUDGETS = np.array([3e19, 1e20, 3e20, 1e21])  # IsoFLOP budgets, FLOPs
PAPER_MULTIPLIERS = np.array([20, 40, 80, 160, 320])  # tokens per parameter, M = D / N


def chinchilla_table(coefficients, n_runs: int = 240, noise: float = 0.01, seed: int = 0):
    """IsoFLOP-style supervised runs: ``params, tokens, loss`` (+ ``flops``).

    Budgets 6e18 to 3e21 FLOPs (log-spaced), model sizes 44M to 16B, tokens = C / (6 N), as in
    Hoffmann et al.'s IsoFLOP study. ``coefficients`` are natural (E, A, B, alpha, beta[, gamma]).
    """
    rng = np.random.default_rng(seed)
    budgets = np.geomspace(6e18, 3e21, 9)
    per_budget = int(np.ceil(n_runs / len(budgets)))
    rows = []
    for c in budgets:
        # Sizes spanning the IsoFLOP valley: 3 to 3,000 tokens per parameter.
        n = np.geomspace(np.sqrt(c / 6 / 3000), np.sqrt(c / 6 / 3), per_budget)
        rows.append(np.stack([n, c / (6 * n), np.full_like(n, c)], axis=1))
    table = np.concatenate(rows)[:n_runs]
    law = LAWS["supervised" if "gamma" in coefficients else "chinchilla"]
    loss = np.asarray(predict_loss(law, law.from_natural(coefficients), table[:, 0], table[:, 1]))
    loss = loss * np.exp(noise * rng.standard_normal(len(loss)))
    return pd.DataFrame({"params": table[:, 0], "tokens": table[:, 1], "flops": table[:, 2], "loss": loss})


def distillation_table(
    n_runs: int = 700,
    noise: float = 0.003,
    seed: int = 0,
    distillation=PAPER_DISTILLATION,
    supervised=PAPER_SUPERVISED,
):
    """Distillation runs following the paper's three protocols (Section 5 and Appendix of Busbridge et al.).

    Columns ``student_params, student_tokens, teacher_params, teacher_tokens, teacher_loss,
    student_loss, protocol``. Teachers are fixed-M (20 to 320 tokens per parameter) or IsoFLOP;
    the teacher loss is the supervised law's value at (N_T, D_T) with noise, and the student loss
    the distillation law's value with noise.
    """
    rng = np.random.default_rng(seed)
    sup = LAWS[SUPERVISED_LAW]
    dist = LAWS[DISTILLATION_LAW]
    sup_p, dist_p = sup.from_natural(supervised), dist.from_natural(distillation)
    sizes = PAPER_SIZES
    small = sizes[sizes <= 7.75e9]

    def isoflop_sizes(budget, k):
        # IsoFLOP profile: models from 5 to 1,000 tokens per parameter at 6ND = budget.
        return np.geomspace(np.sqrt(budget / 6 / 1000), np.sqrt(budget / 6 / 5), k)

    runs = []  # (N_S, D_S, N_T, D_T, protocol)
    # 1. Fixed-M teachers, IsoFLOP students.
    for n_t in sizes[::3]:
        d_t = 20 * n_t
        for c in PAPER_BUDGETS:
            for n_s in isoflop_sizes(c, 8):
                runs.append((n_s, c / (6 * n_s), n_t, d_t, "fixed-M teacher / IsoFLOP student"))
    # 2. IsoFLOP teachers, fixed-M students.
    for c in PAPER_BUDGETS:
        for n_t in isoflop_sizes(c, 8):
            for n_s in small[::3]:
                m = rng.choice(PAPER_MULTIPLIERS)
                runs.append((n_s, m * n_s, n_t, c / (6 * n_t), "IsoFLOP teacher / fixed-M student"))
    # 3. Capacity gap: fixed-M teachers and fixed-M students.
    for n_t in sizes[::2]:
        for n_s in small[::3]:
            runs.append((n_s, 20 * n_s, n_t, 20 * n_t, "fixed-M teacher / fixed-M student"))
    runs = np.array(runs, dtype=object)
    pick = rng.choice(len(runs), size=min(n_runs, len(runs)), replace=False)
    runs = runs[np.sort(pick)]
    n_s, d_s, n_t, d_t = (runs[:, i].astype(float) for i in range(4))
    l_t = np.asarray(predict_loss(sup, sup_p, n_t, d_t)) * np.exp(noise * rng.standard_normal(len(runs)))
    l_s = np.asarray(predict_loss(dist, dist_p, n_s, d_s, l_t, supervised=sup_p))
    l_s = l_s * np.exp(noise * rng.standard_normal(len(runs)))
    return pd.DataFrame({
        "student_params": n_s, "student_tokens": d_s, "teacher_params": n_t,
        "teacher_tokens": d_t, "teacher_loss": l_t, "student_loss": l_s,
        "protocol": runs[:, 4].astype(str),
    })  # fmt: skip


def generate(law: str, n_runs: int = 240, noise: float | None = None, seed: int = 0) -> pd.DataFrame:
    """A synthetic run table for ``law`` (``chinchilla``, ``supervised``, ``distillation``).

    Drawn from the law's published preset (:data:`distlaw.laws.catalog.SYNTHETIC`: Epoch's
    Chinchilla fit, Table 6 of the paper) with that law's default ``noise`` unless one is given.
    """
    from ..errors import InputError

    if law not in SYNTHETIC:
        raise InputError(f"law {law!r}: synthetic tables exist for {', '.join(SYNTHETIC)}", argument="law")
    preset, default_noise = SYNTHETIC[law]
    noise = default_noise if noise is None else noise
    if LAW_INFO[law].needs_supervised:
        return distillation_table(n_runs=n_runs, noise=noise, seed=seed)
    return chinchilla_table(LAW_INFO[law].presets[preset], n_runs=n_runs, noise=noise, seed=seed)
