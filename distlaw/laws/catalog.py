"""What distlaw knows about its laws and scenarios, as plain data: no JAX is imported here.

Everything a command-line parser, a help text, a FIT.json check or a sweep check needs to know
about the laws (their names, formulas, inputs, coefficients, boxes, presets, start grids), the
teacher-cost scenarios of the paper and the fitting defaults lives here once, so
``distlaw --help`` and ``import distlaw`` stay instant and no list is written twice. The JAX
side (:mod:`distlaw.laws.registry`) builds each law's :class:`~distlaw.laws.registry.LawSpec`
from these entries and checks that the two agree.

Coefficients are named in their *natural* (published) form: ``E, A, B`` in nats per token,
exponents dimensionless. Scale constants (``scale`` below) are optimized as logs.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class LawInfo(NamedTuple):
    """One law as data.

    Attributes:
      name: registry key (``--law NAME``).
      formula: the law in one line (natural form).
      source: where the form comes from.
      coefficients: natural names, in the order of the law's optimizer fields.
      scale: the coefficients optimized as logs (positive scale constants).
      inputs: run-table columns the law reads, in order.
      target: the observed loss column.
      optional_columns: run-table columns kept when present (the teacher's size and tokens).
      needs_supervised: the law reads Ltilde_S from a supervised law (the distillation law).
      presets: published coefficient sets, ``{preset: {coefficient: value}}``.
      bounds: default box of every coefficient, ``{name: (lo, hi)}``, ``None`` an open side.
      paper_starts: the published grid of starts, one tuple per optimizer field (scale
        constants as logs), in field order.
      default_starts: size of distlaw's own start design.
      origin: for a user's law (:mod:`distlaw.laws.user`), where it came from and all it is
        (label, path, function, sha256, source, inputs, target, bounds, formula), as FIT.json
        keeps it; None for a built-in.
    """

    name: str
    formula: str
    source: str
    coefficients: tuple[str, ...]
    scale: frozenset
    inputs: tuple[str, ...]
    target: str
    optional_columns: tuple[str, ...]
    needs_supervised: bool
    presets: dict
    bounds: dict
    paper_starts: tuple[tuple[float, ...], ...]
    default_starts: int
    origin: dict | None = None


# ---------------------------------------------------------------------------------------------
# Published coefficients (natural form).

# Table 6 of Busbridge et al. (supervised: 73 runs; distillation: 697 runs).
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
# Kaplan et al. (2020), Eq. 1.5 and Table 2 (N non-embedding parameters, D tokens).
KAPLAN_2020 = {"Nc": 8.8e13, "Dc": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}
MUENNIGHOFF_DATA_CONSTRAINED = {
    "E": 1.8691436784054858, "A": 520.8249516599187, "B": 1487.716093782861,
    "alpha": 0.3526596, "beta": 0.3526596, "R_D": 15.387756, "R_N": 5.309743,
}  # fmt: skip

# ---------------------------------------------------------------------------------------------
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
    # N_c and D_c (published 8.8e13, 5.4e13) within three decades either side; the exponents
    # (published 0.076, 0.095) kept off 0, as alpha_N / alpha_D divides.
    "kaplan": {"Nc": (1e10, 1e17), "Dc": (1e10, 1e17), "alpha_N": (5e-3, 1.0), "alpha_D": (5e-3, 1.0)},
}  # fmt: skip

# ---------------------------------------------------------------------------------------------
# The published grids of starts (optimizer space: logs for scale constants).

_SCALE_GRID = (0.0, 5.0, 10.0, 15.0, 20.0)
# Hoffmann et al.'s grid of Chinchilla-form starts as used by Besiroglu et al. (4,500 starts):
# log E, log A, log B, alpha, beta.
HOFFMANN_GRID = (
    (-1.0, -0.5, 0.0, 0.5, 1.0),
    (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    (0.0, 0.5, 1.0, 1.5, 2.0),
    (0.0, 0.5, 1.0, 1.5, 2.0),
)

LAW_INFO: dict[str, LawInfo] = {
    "chinchilla": LawInfo(
        name="chinchilla",
        formula="L = E + A/N^alpha + B/D^beta",
        source="Hoffmann et al. (2022), Eq. 2",
        coefficients=("E", "A", "B", "alpha", "beta"),
        scale=frozenset({"E", "A", "B"}),
        inputs=("params", "tokens"),
        target="loss",
        optional_columns=(),
        needs_supervised=False,
        # The supervised law at gamma = 1 is the Chinchilla form, so Table 6's supervised fit
        # is not a Chinchilla-form fit; ship the two published Chinchilla-form fits instead.
        presets={"hoffmann": HOFFMANN_CHINCHILLA, "epoch": EPOCH_CHINCHILLA},
        bounds=DEFAULT_BOUNDS["chinchilla"],
        paper_starts=HOFFMANN_GRID,
        default_starts=512,
    ),
    "supervised": LawInfo(
        name="supervised",
        formula="L = E + (A/N^alpha + B/D^beta)^gamma",
        source="Busbridge et al. (2025), Eq. 1",
        coefficients=("E", "A", "B", "alpha", "beta", "gamma"),
        scale=frozenset({"E", "A", "B"}),
        inputs=("params", "tokens"),
        target="loss",
        optional_columns=(),
        needs_supervised=False,
        presets={"paper": PAPER_SUPERVISED},
        bounds=DEFAULT_BOUNDS["supervised"],
        paper_starts=(  # Appendix F: 9,600 starts.
            (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5), _SCALE_GRID, _SCALE_GRID,
            (0.0, 0.5, 1.0, 1.5), (0.0, 0.5, 1.0, 1.5), (0.0, 0.5, 1.0, 1.5),
        ),
        default_starts=768,
    ),
    "distillation": LawInfo(
        name="distillation",
        formula="L_S = L_T + L_T^(-c0) (1 + (L_T/(Ltilde_S d1))^(1/f1))^(-c1 f1) (A/N_S^alpha + B/D_S^beta)^gamma",
        source="Busbridge et al. (2025), Eq. 8 (A, B, alpha, beta, gamma are the primed constants)",
        coefficients=("A", "B", "alpha", "beta", "gamma", "c0", "c1", "f1", "d1"),
        scale=frozenset({"A", "B", "d1"}),
        inputs=("student_params", "student_tokens", "teacher_loss"),
        target="student_loss",
        optional_columns=("teacher_params", "teacher_tokens"),
        needs_supervised=True,
        presets={"paper": PAPER_DISTILLATION},
        bounds=DEFAULT_BOUNDS["distillation"],
        paper_starts=(  # Appendix F: 216,000 starts.
            _SCALE_GRID, _SCALE_GRID, (0.0, 0.5, 1.0), (0.0, 0.5, 1.0), (0.0, 0.5, 1.0),
            (0.0, 0.5, 1.0, 1.5), (0.0, 0.5, 1.0, 1.5), (0.0, 0.5, 1.0, 1.5), (-1.0, -0.5, 0.0, 0.5, 1.0),
        ),
        default_starts=2048,
    ),
    "data_constrained": LawInfo(
        name="data_constrained",
        formula="L = E + A/N'^alpha + B/D'^beta, D' = U_D (1 + R_D (1 - exp(-R_D'/R_D))), N' likewise",
        source="Muennighoff et al. (2023), Eqs. 5-7",
        coefficients=("E", "A", "B", "alpha", "beta", "R_D", "R_N"),
        scale=frozenset({"E", "A", "B", "R_D", "R_N"}),
        inputs=("params", "tokens", "unique_tokens"),
        target="loss",
        optional_columns=(),
        needs_supervised=False,
        presets={"muennighoff": MUENNIGHOFF_DATA_CONSTRAINED},
        bounds=DEFAULT_BOUNDS["data_constrained"],
        # Hoffmann et al.'s grid for the base coefficients (exponents from 0.1: G needs
        # alpha, beta > 0) times 3 x 3 decay constants: 40,500 starts.
        paper_starts=(*HOFFMANN_GRID[:3], (0.1, *HOFFMANN_GRID[3][1:]), (0.1, *HOFFMANN_GRID[4][1:]),
                      (0.0, 2.0, 4.0), (0.0, 2.0, 4.0)),
        default_starts=1024,
    ),
    "kaplan": LawInfo(
        name="kaplan",
        formula="L = ((Nc/N)^(alpha_N/alpha_D) + Dc/D)^alpha_D",
        source="Kaplan et al. (2020), Eq. 1.5",
        coefficients=("Nc", "Dc", "alpha_N", "alpha_D"),
        scale=frozenset({"Nc", "Dc"}),
        inputs=("params", "tokens"),
        target="loss",
        optional_columns=(),
        needs_supervised=False,
        presets={"kaplan": KAPLAN_2020},
        bounds=DEFAULT_BOUNDS["kaplan"],
        # No published grid: 6 x 6 x 5 x 5 = 900 starts over the box (log N_c, log D_c from
        # log 1e11 to log 1e16).
        paper_starts=(tuple(math.log(10.0**k) for k in range(11, 17)), tuple(math.log(10.0**k) for k in range(11, 17)),
                      (0.03, 0.06, 0.1, 0.2, 0.5), (0.03, 0.06, 0.1, 0.2, 0.5)),
        default_starts=256,
    ),
}

# Laws whose fits first walk their ridge in other coordinates (distlaw.fitting.ridge), keyed by
# the law: the same function with the well-pinned combinations as coordinates. Internal: never
# listed, never written to FIT.json. Its box: effective exponents in [0, 5] (published ones lie in
# 0.2-0.5), gamma' from 1e-3 (a sharp switch; the law's own box stops at 0, which these
# coordinates divide by), the rest as the law's. Its "paper_starts" are the ranges its design
# samples (distlaw.fitting.starts): k_a, k_b (the log reducible term at N0 = 1e9, D0 = 2e10,
# times gamma') within e^+-5, effective exponents 0.05-1, gamma' 0.03-2 (log-uniform).
RIDGE_INFO: dict[str, LawInfo] = {
    "distillation": LAW_INFO["distillation"]._replace(
        name="distillation@ridge",
        formula="the distillation law in k_a = gamma' log(A'/N0^alpha'), k_b, alpha' gamma', beta' gamma', gamma', c0, c1, "
                "f1, d1",
        coefficients=("k_a", "k_b", "alpha_gamma", "beta_gamma", "gamma", "c0", "c1", "f1", "d1"),
        scale=frozenset({"d1"}),
        presets={},
        bounds={"k_a": (None, None), "k_b": (None, None), "alpha_gamma": (0.0, 5.0), "beta_gamma": (0.0, 5.0),
                "gamma": (1e-3, 5.0), **{k: DEFAULT_BOUNDS["distillation"][k] for k in ("c0", "c1", "f1", "d1")}},
        paper_starts=((-5.0, 5.0), (-5.0, 5.0), (0.05, 1.0), (0.05, 1.0), (0.03, 2.0), (0.0, 4.0), (0.1, 1e4),
                      (0.02, 1.5), (-1.0, 1.0)),
    ),
}

# Combinations of coefficients that fits report beside them, with standard errors (and
# bootstrap intervals): what the data pin down where single coefficients trade off. In
# (A/N^alpha + B/D^beta)^gamma only the products alpha gamma and beta gamma (the loss's
# exponents in N where N limits, in D where D limits) are well pinned when gamma is not:
# Busbridge et al.'s supervised fit and the distillation law (issue 22).
DERIVED: dict[str, dict[str, tuple[str, object]]] = {
    law: {
        "alpha_gamma": ("alpha gamma: the loss's exponent in N where N limits", lambda c: c["alpha"] * c["gamma"]),
        "beta_gamma": ("beta gamma: the loss's exponent in D where D limits", lambda c: c["beta"] * c["gamma"]),
    }
    for law in ("supervised", "distillation")
}

LAW_NAMES: tuple[str, ...] = tuple(LAW_INFO)
# The law whose fits give Ltilde_S to the distillation law, and the one planning distills with.
SUPERVISED_LAW = "supervised"
DISTILLATION_LAW = "distillation"


# Synthetic run tables (``distlaw generate LAW``): the preset they are drawn from, and the default
# noise (standard deviation of the log loss; at 0.01 a distillation table's weak-to-strong
# extrapolation is no longer pinned down, so it gets 0.003).
SYNTHETIC = {"chinchilla": ("epoch", 0.01), "supervised": ("paper", 0.01), "distillation": ("paper", 0.003)}


# Run-table columns a user's law may read by naming an argument after them (others: INPUTS).
RUN_COLUMNS = frozenset({"params", "tokens", "flops", "unique_tokens", "student_params", "student_tokens",
                         "teacher_params", "teacher_tokens", "teacher_loss"})
USER_LAW_STARTS = 512  # distlaw's start design for a user's law
USER_LOG_SPAN = 1e3  # a positive box this wide (hi / lo, three decades) is searched in logs: a scale constant
USER_GRID_POINTS = 4  # per coefficient, the grid ``--starts paper`` gives a user's law


def user_law_info(origin: dict) -> LawInfo:
    """The catalog entry of a user's law from its ``origin`` (see :class:`LawInfo`; FIT.json's
    ``law_source``), with no JAX: named ``LABEL@DIGEST``, coefficients in the order of
    ``origin["bounds"]``, those with a positive box of at least ``USER_LOG_SPAN`` optimized as
    logs, and a ``USER_GRID_POINTS``-per-coefficient grid of starts inside the box."""
    bounds = {name: (float(lo), float(hi)) for name, (lo, hi) in origin["bounds"].items()}
    scale = frozenset(c for c, (lo, hi) in bounds.items() if lo > 0 and hi / lo >= USER_LOG_SPAN)

    def grid(name):
        lo, hi = bounds[name]
        lo, hi = (math.log(lo), math.log(hi)) if name in scale else (lo, hi)
        step = (hi - lo) / USER_GRID_POINTS
        return tuple(lo + step * (k + 0.5) for k in range(USER_GRID_POINTS))

    return LawInfo(
        name=f"{origin['label']}@{origin['sha256'][:12]}",
        formula=origin.get("formula") or f"L = {origin['function']}(...)",
        source=origin.get("path") or f"Python function {origin['function']}",
        coefficients=tuple(bounds),
        scale=scale,
        inputs=tuple(origin["inputs"]),
        target=origin["target"],
        optional_columns=(),
        needs_supervised=False,
        presets={},
        bounds=bounds,
        paper_starts=tuple(grid(c) for c in bounds),
        default_starts=USER_LAW_STARTS,
        origin=dict(origin),
    )


# Users' laws met in this process (``LABEL@DIGEST`` -> entry), kept apart from the built-ins.
USER_LAW_INFO: dict[str, LawInfo] = {}


def law_info(name: str) -> LawInfo:
    """The catalog entry of law ``name`` (built-in, or a user's law met in this process);
    :class:`~distlaw.errors.InputError` lists the choices."""
    from ..errors import InputError

    try:
        return LAW_INFO[name] if name in LAW_INFO else USER_LAW_INFO[name]
    except KeyError:
        raise InputError(f"unknown law {name!r}; choose one of {sorted(LAW_INFO)} or PATH.py:FUNCTION") from None


def describe_laws() -> list[dict]:
    """Every built-in law as plain data (``distlaw laws``): name, formula, source, inputs,
    target, and per coefficient its default box, whether it is fitted as a log, and its value
    in every preset. Imports no JAX."""
    out = []
    for name in LAW_NAMES:
        info = LAW_INFO[name]
        out.append({
            "law": name, "formula": info.formula, "source": info.source, "inputs": list(info.inputs),
            "target": info.target, "needs_supervised": info.needs_supervised,
            "coefficients": [{"name": c, "bounds": list(info.bounds[c]), "log": c in info.scale,
                              "presets": {p: values[c] for p, values in info.presets.items()}}
                             for c in info.coefficients],
            "presets": sorted(info.presets), "default_starts": info.default_starts,
            "paper_starts": math.prod(len(axis) for axis in info.paper_starts),
        })
    return out


def preset_names() -> set[str]:
    """Every preset name of every law (``paper``, ``hoffmann``, ...)."""
    return {preset for info in LAW_INFO.values() for preset in info.presets}


# ---------------------------------------------------------------------------------------------
# Fitting defaults.

DEFAULT_HUBER_DELTA = 1e-4  # the paper's; Hoffmann et al. and Epoch used 1e-3
RESIDUALS = ("log", "linear")  # log Lhat - log L (the paper's), or Lhat - L
DEFAULT_MAX_ITERATIONS = 400  # iterations of one start (FIT.json 'stopped_early' says when it bit)
DEFAULT_CI = 0.9  # coverage of bootstrap intervals


# ---------------------------------------------------------------------------------------------
# The compute model's settings and the paper's teacher-cost scenarios (Table 2).


class Architecture(NamedTuple):
    """Per-architecture settings of F(N) (Eq. 69); the paper's values are the defaults.

    Attributes:
      n_ctx: context length (tokens).
      n_vocab: vocabulary size (the paper prints 32168 once; its Table 13 needs 32768).
      rho: aspect ratio d_model / n_layers.
      omega: FFN width ratio term of the paper's parameter count (12).
      six_nd: use F(N) = 2N (the ``6ND`` rule) instead of Eq. 69.
    """

    n_ctx: float = 4096.0
    n_vocab: float = 32768.0
    rho: float = 128.0
    omega: float = 12.0
    six_nd: bool = False


PAPER_ARCHITECTURE = Architecture()


class Scenario(NamedTuple):
    """A teacher-cost scenario (Table 2): the shares of teacher logits and pretraining paid."""

    name: str
    delta_lgt: float
    delta_pre: float


# Table 2 of the paper. A teacher shared by k students: delta_pre = 1/k.
SCENARIOS = {
    "best-case": Scenario("best-case", 0.0, 0.0),
    "teacher-inference": Scenario("teacher-inference", 1.0, 0.0),
    "teacher-pretraining": Scenario("teacher-pretraining", 0.0, 1.0),
    "pretraining-inference": Scenario("pretraining-inference", 1.0, 1.0),
}
# What a plan can compare: training the student alone, then the four distillation scenarios.
PLAN_SCENARIOS: tuple[str, ...] = ("supervised", *SCENARIOS)

# Sizes and tokens a plan may choose, as in the paper (Eq. 10); the largest budget searched.
MIN_COUNT, MAX_COUNT = 1e6, 1e17
LOG_MIN_COUNT, LOG_MAX_COUNT = math.log(MIN_COUNT), math.log(MAX_COUNT)
