"""Sweep files: the TOML that defines an atlas run. Parsed and checked here, once.

A sweep names the law source, the output folder, the chunk size, and one table per section::

    law = "paper"                  # or a distillation FIT.json
    output = "atlas/paper"         # relative to the sweep file's folder
    chunk_rows = 1048576

    [loss]                         # the loss atlas: L_S, L_T, Ltilde_S and the FLOPs of each scenario
    student_params = {min = 143e6, max = 7.75e9, count = 16}
    student_tokens = {min = 1e9, max = 1e13, count = 64}
    teacher_params = {min = 143e6, max = 12.6e9, count = 32}
    teacher_tokens = {min = 1e9, max = 1e13, count = 64}
    # or, instead of teacher_params and teacher_tokens: teacher_loss = {min = 1.6, max = 3.0, count = 64}
    # quantiles = [0.05, 0.5, 0.95]  # L_S quantiles over the bootstrap replicates of a fit

    [plan]                         # the plan atlas: compute-optimal allocation per (N_S, budget, scenario)
    student_params = {min = 143e6, max = 7.75e9, count = 16}
    budget = {min = 1e18, max = 1e25, count = 64}
    scenarios = ["supervised", "best-case", "teacher-inference", "teacher-pretraining", "pretraining-inference"]
    # students = 4                 # students sharing one teacher's pretraining (delta_pre / k; default 1)
    # logit_cost = 0.5             # share of a teacher forward pass paid per token for logits (default 1)

    [compute]                      # the model F(N) prices (default: the paper's Eq. 69); both atlases use it
    six_nd = false                 # true: F(N) = 2N, the 6ND rule
    n_ctx = 4096                   # context length
    n_vocab = 32768                # vocabulary size
    aspect_ratio = 128             # d_model / n_layers

A fit of a law of params and tokens (chinchilla, supervised, kaplan, a law of your own, or a
preset such as ``epoch``) makes a *law atlas* instead, with these tables::

    law = "fit.json"               # or "epoch", "kaplan", ...
    [loss]                         # L(N, D) over the grid, with the training FLOPs 3 F(N) D
    params = {min = 1e8, max = 1e11, count = 64}
    tokens = {min = 1e9, max = 1e13, count = 128}
    [plan]                         # the compute-optimal N*, D*, L* for every budget
    budget = {min = 1e18, max = 1e25, count = 64}

Axes are log-spaced, ends included (``values = [...]`` lists them explicitly instead). Every
error names the file and the key. Everything in the file (the compute model, students, logit
cost included) is part of the definition that the atlas's files record and its content hash
covers, so a folder written under one compute model is never resumed under another.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

import numpy as np

from ..errors import SweepError
from ..laws.catalog import PLAN_SCENARIOS, Architecture

LOSS_AXES_TEACHER_SIZE = ("student_params", "student_tokens", "teacher_params", "teacher_tokens")
LOSS_AXES_TEACHER_LOSS = ("student_params", "student_tokens", "teacher_loss")
PLAN_AXES = ("student_params", "budget")
LAW_LOSS_AXES = ("params", "tokens")  # a law atlas (a fit of a law of params and tokens)
LAW_PLAN_AXES = ("budget",)
_TOP_KEYS = {"law", "output", "chunk_rows", "loss", "plan", "compute"}
# [compute] key -> (distlaw.laws.catalog.Architecture field, type check, what the message asks for)
_COMPUTE_KEYS = {
    "six_nd": ("six_nd", lambda v: isinstance(v, bool), "true or false"),
    "n_ctx": ("n_ctx", lambda v: _positive_number(v), "a positive number"),
    "n_vocab": ("n_vocab", lambda v: _positive_number(v), "a positive number"),
    "aspect_ratio": ("rho", lambda v: _positive_number(v), "a positive number"),
}


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A parsed sweep: axes as float64 arrays, in the order the rows enumerate them."""

    path: Path
    law: str
    output: Path
    chunk_rows: int
    loss_axes: dict | None  # name -> values
    plan_axes: dict | None
    scenarios: tuple[str, ...]
    definition: dict  # the TOML as parsed, for the files' metadata
    quantiles: tuple[float, ...] = ()  # per-point quantiles of L_S over a fit's bootstrap replicates
    compute: dict = dataclasses.field(default_factory=dict)  # Architecture fields from [compute]
    students: float = 1.0  # [plan]: students sharing a teacher's pretraining
    logit_cost: float = 1.0  # [plan]: share of a teacher forward pass paid per distillation token
    kind: str = "distillation"  # or "law": a fit of a law of params and tokens (see the module docstring)

    def architecture(self):
        """The :class:`distlaw.laws.catalog.Architecture` of the ``[compute]`` table (the paper's by default)."""
        return Architecture(**self.compute)


def load_sweep(path: str | Path, output: str | Path | None = None) -> Sweep:
    """Parse and check a sweep file; ``output`` overrides its ``output`` key."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: no such sweep file")
    try:
        definition = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SweepError(f"{path}: not valid TOML ({err})") from None
    unknown = sorted(set(definition) - _TOP_KEYS)
    if unknown:
        raise SweepError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    law = definition.get("law", "paper")
    if not isinstance(law, str):
        raise SweepError(f"{path}: key 'law' must be 'paper' or a FIT.json path")
    if law != "paper" and not Path(law).is_absolute():
        law = str((path.parent / law).resolve()) if (path.parent / law).exists() else law
    chunk_rows = definition.get("chunk_rows", 1 << 20)
    if not isinstance(chunk_rows, int) or chunk_rows < 1024:
        raise SweepError(f"{path}: key 'chunk_rows' must be an integer >= 1024, got {chunk_rows!r}")
    out = Path(output) if output is not None else path.parent / definition.get("output", path.stem)
    if "loss" not in definition and "plan" not in definition:
        raise SweepError(f"{path}: a sweep needs a [loss] or a [plan] table")
    kind = _law_kind(path, law)
    if kind == "law":
        return _law_sweep(path, definition, law, out, chunk_rows)
    loss_axes = plan_axes = None
    scenarios: tuple[str, ...] = ()
    if "loss" in definition:
        table = definition["loss"]
        names = LOSS_AXES_TEACHER_LOSS if "teacher_loss" in table else LOSS_AXES_TEACHER_SIZE
        _no_extra(path, "loss", table, set(names) | {"quantiles"})
        loss_axes = {name: parse_axis(path, f"loss.{name}", table.get(name)) for name in names}
        quantiles = table.get("quantiles", [])
        if (not isinstance(quantiles, list) or len(set(quantiles)) != len(quantiles)
                or not all(isinstance(q, float) and 0 < q < 1 for q in quantiles)):
            raise SweepError(f"{path}: key 'loss.quantiles' must be a list of distinct numbers in (0, 1), "
                             f"like [0.05, 0.5, 0.95]")
        if quantiles and law == "paper":
            raise SweepError(f"{path}: key 'loss.quantiles' needs 'law' to be a fit made with --bootstrap")
    students, logit_cost = 1.0, 1.0
    if "plan" in definition:
        table = definition["plan"]
        _no_extra(path, "plan", table, set(PLAN_AXES) | {"scenarios", "students", "logit_cost"})
        students, logit_cost = table.get("students", 1.0), table.get("logit_cost", 1.0)
        if not (_positive_number(students) and students >= 1):
            raise SweepError(f"{path}: key 'plan.students' must be a number >= 1, got {students!r}")
        if not (_positive_number(logit_cost, zero=True) and logit_cost <= 1):
            raise SweepError(f"{path}: key 'plan.logit_cost' must be a number in [0, 1], got {logit_cost!r}")
        plan_axes = {name: parse_axis(path, f"plan.{name}", table.get(name)) for name in PLAN_AXES}
        scenarios = table.get("scenarios", PLAN_SCENARIOS)
        # One name is one scenario (iterating a string would give its letters).
        scenarios = (scenarios,) if isinstance(scenarios, str) else tuple(scenarios)
        bad = [s for s in scenarios if s not in PLAN_SCENARIOS]
        if bad or not scenarios:
            raise SweepError(f"{path}: key 'plan.scenarios': unknown scenario {bad[0] if bad else '(none)'!r} "
                             f"(known: {', '.join(PLAN_SCENARIOS)})")
    quantiles = tuple(definition.get("loss", {}).get("quantiles", ()))
    compute = parse_compute(path, definition.get("compute", {}))
    return Sweep(path, law, out, chunk_rows, loss_axes, plan_axes, scenarios, definition, quantiles, compute,
                 float(students), float(logit_cost))


def _law_kind(path, law: str) -> str:
    """``distillation`` for ``paper`` or a distillation fit, ``law`` for a law of params and tokens."""
    from ..errors import FitFileError
    from ..io.fitfile import load_fit
    from ..laws.catalog import DISTILLATION_LAW, law_info

    if law == "paper":
        return "distillation"
    try:
        record = load_fit(law, law=DISTILLATION_LAW)
    except FitFileError as err:
        raise SweepError(f"{path}: key 'law': {err}") from None
    if record["law"] == DISTILLATION_LAW:
        return "distillation"
    inputs = law_info(record["law"]).inputs
    if inputs != LAW_LOSS_AXES:
        raise SweepError(f"{path}: key 'law': a {record['law']} law reads {', '.join(inputs)}; an atlas needs a "
                         "distillation fit or a law of params and tokens")
    return "law"


def _law_sweep(path, definition, law, out, chunk_rows) -> Sweep:
    """The sweep of a law atlas: ``[loss]`` over params x tokens, ``[plan]`` over budgets."""
    for section, allowed in (("loss", LAW_LOSS_AXES), ("plan", LAW_PLAN_AXES)):
        table = definition.get(section, {})
        other = sorted(set(table) - set(allowed)) if isinstance(table, dict) else []
        if other:  # most likely a distillation sweep pointed at another law's fit
            raise SweepError(f"{path}: key 'law' = {law} is a fit of a law of params and tokens, whose atlas takes "
                             f"[loss] {', '.join(LAW_LOSS_AXES)} and [plan] {', '.join(LAW_PLAN_AXES)}, not "
                             f"'{section}.{other[0]}' (a distillation sweep needs a distillation fit)")
    loss_axes = plan_axes = None
    if "loss" in definition:
        _no_extra(path, "loss", definition["loss"], set(LAW_LOSS_AXES))
        loss_axes = {name: parse_axis(path, f"loss.{name}", definition["loss"].get(name)) for name in LAW_LOSS_AXES}
    if "plan" in definition:
        _no_extra(path, "plan", definition["plan"], set(LAW_PLAN_AXES))
        plan_axes = {name: parse_axis(path, f"plan.{name}", definition["plan"].get(name)) for name in LAW_PLAN_AXES}
    compute = parse_compute(path, definition.get("compute", {}))
    return Sweep(path, law, out, chunk_rows, loss_axes, plan_axes, (), definition, (), compute, kind="law")


def _positive_number(value, zero: bool = False) -> bool:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return ok and (value >= 0 if zero else value > 0)


def parse_compute(path, table) -> dict:
    """The ``[compute]`` table -> :class:`distlaw.laws.catalog.Architecture` keyword arguments, every key
    checked (``path`` names the source in messages). Public: readers of an atlas rebuild its
    compute model from the sweep definition its manifest records."""
    _no_extra(path, "compute", table, set(_COMPUTE_KEYS))
    out = {}
    for key, value in table.items():
        field, ok, wanted = _COMPUTE_KEYS[key]
        if not ok(value):
            raise SweepError(f"{path}: key 'compute.{key}' must be {wanted}, got {value!r}")
        out[field] = float(value) if field != "six_nd" else value
    return out


def _no_extra(path, section, table, allowed):
    if not isinstance(table, dict):
        raise SweepError(f"{path}: key {section!r} must be a table")
    extra = sorted(set(table) - allowed)
    if extra:
        raise SweepError(f"{path}: unknown key '{section}.{extra[0]}' (known: {', '.join(sorted(allowed))})")


def parse_axis(path, key, spec) -> np.ndarray:
    """``{min, max, count}`` (log-spaced, ends included) or ``{values = [...]}`` -> float64 array.

    Public: readers of an atlas rebuild its axes from the sweep definition its manifest records.
    """
    if spec is None:
        raise SweepError(f"{path}: missing key {key!r}")
    if not isinstance(spec, dict):
        raise SweepError(f"{path}: key {key!r} must be a table like {{min = 1e9, max = 1e12, count = 16}}")
    if "values" in spec:
        values = spec["values"]
        if set(spec) != {"values"} or not isinstance(values, list) or not values:
            raise SweepError(f"{path}: key {key!r}: 'values' must be a non-empty list, alone")
        try:
            axis = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise SweepError(f"{path}: key '{key}.values' must hold numbers") from None
    else:
        missing = [k for k in ("min", "max", "count") if k not in spec]
        extra = sorted(set(spec) - {"min", "max", "count"})
        if missing or extra:
            raise SweepError(f"{path}: key {key!r}: {'missing ' + repr(missing[0]) if missing else 'unknown ' + repr(extra[0])}"
                             " (an axis is {min, max, count} or {values})")
        lo, hi, count = spec["min"], spec["max"], spec["count"]
        for name, value in (("min", lo), ("max", hi)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise SweepError(f"{path}: key '{key}.{name}' must be a number, got {value!r}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise SweepError(f"{path}: key '{key}.count' must be a positive integer, got {count!r}")
        if not (0 < lo <= hi) or (count == 1 and lo != hi):
            raise SweepError(f"{path}: key {key!r}: need 0 < min <= max (and min == max for count = 1)")
        axis = np.geomspace(float(lo), float(hi), count)
    if not np.all(np.isfinite(axis)) or np.any(axis <= 0):
        raise SweepError(f"{path}: key {key!r}: values must be positive and finite")
    return axis
