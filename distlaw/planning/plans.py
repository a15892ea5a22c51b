"""Compute-optimal plans as one call: ``distlaw plan`` and its Python twin.

    >>> import distlaw
    >>> frame = distlaw.plan(student_params=[1e9, 3e9], budgets=[1e21, 1e22])   # doctest: +SKIP

:func:`plan` returns a DataFrame with one row per (student size, budget, scenario);
:func:`plan_records` the same rows as JSON-ready dicts (``None`` where a value does not exist).
Both validate their arguments the same way and raise :class:`~distlaw.errors.InputError`
(bad arguments), :class:`~distlaw.errors.FitFileError` (a fit that cannot plan) or
:class:`~distlaw.errors.InfeasibleError` (a teacher that cannot exist), each naming the argument
as this API spells it (``teacher_loss``), as the whole library does; the CLI shows its own flag
(``--teacher-loss``) in its place.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from ..errors import FitFileError, InfeasibleError, InputError
from ..laws.catalog import DISTILLATION_LAW, PLAN_SCENARIOS, SUPERVISED_LAW
from ..laws.precision import float64



def load_planning_laws(source: str = "paper", arch=None, where: str = "fit"):
    """:class:`~distlaw.planning.PlanningLaws` from ``paper`` or a distillation FIT.json.

    A distillation fit carries the supervised law it was fitted with (``supervised``), so one
    file gives both laws. ``where`` names the argument, flag or sweep key ``source`` came from,
    for the error message.
    """
    from ..laws.compute import Architecture
    from ..io.fitfile import load_fit
    from ..laws.registry import LAWS
    from .optimize import PlanningLaws

    record = load_fit(source, law=DISTILLATION_LAW)
    if record["law"] != DISTILLATION_LAW:
        raise FitFileError(f"{where} {source}: planning needs a distillation fit (it carries its supervised law), "
                           f"not a {record['law']} fit")
    return PlanningLaws(LAWS[SUPERVISED_LAW].from_natural(record["supervised"]),
                        LAWS[DISTILLATION_LAW].from_natural(record["params"]), arch or Architecture())


@float64
def plan_records(
    student_params: float | Sequence[float] | None,
    budgets: float | Sequence[float],
    *,
    fit: str = "paper",
    scenarios: str | Sequence[str] = "all",
    arch=None,
    students: float = 1.0,
    logit_cost: float = 1.0,
    teacher_loss: float | None = None,
    teacher_params: float | None = None,
    teacher_tokens: float | None = None,
    interval: float | None = 0.9,
) -> list[dict]:
    """Compute-optimal allocations for every (student size, budget) pair, as JSON-ready rows.

    Args:
      student_params: student non-embedding parameter count(s) N_S.
      budgets: total FLOP budget(s) C.
      fit: ``paper`` (Table 6 of Busbridge et al.) or a distillation FIT.json.
      scenarios: ``all`` or names from ``supervised``, ``best-case``, ``teacher-inference``,
        ``teacher-pretraining``, ``pretraining-inference`` (the paper's four, plus training the
        student alone).
      arch: :class:`~distlaw.compute.Architecture` pricing FLOPs (default: the paper's Eq. 69).
      students: students sharing one teacher's pretraining (k; its cost is split k ways).
      logit_cost: share of the teacher's forward pass paid per distillation token (0 to 1).
      teacher_loss, teacher_params, teacher_tokens: an existing teacher (its pretraining is
        sunk; its logits cost ``logit_cost`` forward passes of ``teacher_params``). Give its
        loss, or its size and tokens (the loss then comes from the supervised law).
      interval: with a fit made with ``--bootstrap``, every scenario row gains
        ``student_loss_lo/hi`` (this coverage's percentiles over the replicates, holding the
        point plan's loss), ``student_tokens_lo/hi``, ``teacher_params_lo/hi``,
        ``teacher_tokens_lo/hi`` and ``p_distill_better`` (the share of replicates in which the
        scenario's student beats supervised training at the same budget); each replicate is
        planned in the same batch. None: the point plan only.
    Returns:
      rows as described in :func:`distlaw.planning.plan_table`, plus ``existing-teacher`` rows
      when a teacher is given. A ``fit`` of a law of params and tokens (chinchilla, supervised,
      kaplan, a law of your own) plans supervised training: rows of :func:`law_plan_records`
      (``student_params`` optional; no scenarios or teachers).
    """
    from ..io.fitfile import load_fit
    from ..laws.compute import SCENARIOS, with_logit_cost, with_students
    from .optimize import plan_table

    law = load_fit(fit, law=DISTILLATION_LAW)["law"]
    if law != DISTILLATION_LAW:
        extra = [name for name, given in (("scenarios", scenarios not in ("all", "supervised", ["supervised"])),
                                          ("students", students != 1), ("logit_cost", logit_cost != 1),
                                          ("teacher_loss", teacher_loss is not None),
                                          ("teacher_params", teacher_params is not None),
                                          ("teacher_tokens", teacher_tokens is not None)) if given]
        if extra:
            raise InputError(f"{extra[0]}: a {law} fit plans supervised training only (no teacher, no scenarios)",
                             argument=extra[0])
        return law_plan_records(budgets, fit=fit, student_params=student_params, arch=arch)
    if student_params is None:
        raise InputError("student_params: a distillation plan needs the student's size(s)", argument="student_params")
    student_params = _positive_values(student_params, "student_params")
    budgets = _positive_values(budgets, "budgets")
    names = _scenario_names(scenarios)
    if not 0 <= logit_cost <= 1:
        raise InputError(f"logit_cost must be in [0, 1], got {logit_cost}", argument="logit_cost")
    if not students >= 1:
        raise InputError(f"students must be >= 1, got {students}", argument="students")
    laws = load_planning_laws(fit, arch)
    chosen = [None if n == "supervised" else with_logit_cost(with_students(SCENARIOS[n], students), logit_cost)
              for n in names]
    rows = plan_table(laws, student_params, budgets, chosen) if chosen else []
    replicates = replicate_laws(fit) if interval is not None and chosen else None
    if replicates is not None:
        from ..fitting.intervals import check_level

        add_replicate_columns(rows, laws, replicates, student_params, budgets, chosen, check_level(interval))
    if any(v is not None for v in (teacher_loss, teacher_params, teacher_tokens)):
        rows += _existing_teacher_rows(laws, student_params, budgets, teacher_loss, teacher_params, teacher_tokens,
                                       logit_cost)
    return rows


@float64
def law_plan_records(budgets, *, fit: str, student_params=None, arch=None) -> list[dict]:
    """Supervised plans under any fitted law of ``params`` and ``tokens`` (chinchilla,
    supervised, kaplan, or a law of your own): per budget C, the compute-optimal N*, D* = C /
    (3 F(N*)) and L* (``compute_optimal: true``), and, for each of ``student_params``, the
    loss of that size trained on the whole budget.
    """
    from ..io.fitfile import load_fit
    from ..laws.compute import Architecture
    from ..laws.user import resolve
    from .optimize import compute_optimal, loss_at_size

    budgets = _positive_values(budgets, "budgets")
    sizes = _positive_values(student_params, "student_params") if student_params is not None else []
    record = load_fit(fit)
    spec = resolve(record["law"])
    if spec.input_columns != ("params", "tokens"):
        raise FitFileError(f"fit {fit}: a {record['law']} law reads {', '.join(spec.input_columns)}; planning "
                           "needs a law of params and tokens, or a distillation fit")
    params = spec.from_natural(record["params"])
    arch = arch or Architecture()
    best = compute_optimal(spec, params, budgets, arch)
    rows = []
    for i, budget in enumerate(budgets):
        n, d, loss, on_bound = (float(best.params[i]), float(best.tokens[i]), float(best.loss[i]),
                                bool(best.on_bound[i]))
        rows.append(dict(law=record["law"], budget=budget, compute_optimal=True, params=n, tokens=d,
                         tokens_per_param=d / n, loss=loss, on_bound=on_bound))
        for size in sizes:
            tokens, loss, clipped = (float(a) for a in loss_at_size(spec, params, size, budget, arch))
            rows.append(dict(law=record["law"], budget=budget, compute_optimal=False, params=size, tokens=tokens,
                             tokens_per_param=tokens / size, loss=loss, on_bound=bool(clipped)))
    return rows


def replicate_laws(fit: str):
    """The distillation fit's bootstrap replicates as DistillationParams of [B] arrays, or None."""
    import numpy as np

    from ..io.fitfile import load_fit
    from ..laws.registry import LAWS

    record = load_fit(fit, law=DISTILLATION_LAW)
    stored = record.get("bootstrap_samples")
    if not stored or not stored.get("values"):
        return None
    spec = LAWS[DISTILLATION_LAW]
    rows = np.array([np.asarray(spec.from_natural(dict(zip(stored["names"], row, strict=True))))
                     for row in stored["values"]])
    return spec.params_type(*rows.T)


def add_replicate_columns(rows, laws, replicates, student_params, budgets, scenarios, level) -> None:
    """Add the replicate columns of :func:`plan_records` to ``rows`` (problem-major, as
    :func:`~distlaw.planning.optimize.plan_table` orders them)."""
    import numpy as np

    from ..io.fitfile import finite_or_none
    from .optimize import allocate_replicates, replicate_columns

    n_s, c = (a.ravel() for a in np.meshgrid(np.asarray(student_params, float), np.asarray(budgets, float),
                                             indexing="ij"))
    count = len(scenarios)
    for j, scenario in enumerate(scenarios):
        members = [rows[i * count + j] for i in range(len(n_s))]
        if scenario is None:  # supervised training: the fit's supervised law, the same in every replicate
            for row in members:
                row.update(student_loss_lo=row["student_loss"], student_loss_hi=row["student_loss"],
                           p_distill_better=None)
            continue
        alloc = allocate_replicates(laws, replicates, n_s, c, scenario.delta_lgt, scenario.delta_pre)
        point = np.array([np.nan if r["student_loss"] is None else r["student_loss"] for r in members])
        supervised = np.array([r["supervised_loss"] for r in members], dtype=np.float64)
        columns = replicate_columns(alloc, point, supervised, level)
        free_teacher = scenario.delta_lgt == 0 and scenario.delta_pre == 0
        for position, row in enumerate(members):
            extra = {name: float(values[position]) for name, values in columns.items()}
            if free_teacher:  # the free teacher's size is the cheapest model reaching L_T, not an allocation
                extra.update(teacher_params_lo=None, teacher_params_hi=None, teacher_tokens_lo=None,
                             teacher_tokens_hi=None)
            row.update(finite_or_none(extra))


def plan(student_params, budgets, **kwargs):
    """:func:`plan_records` as a pandas DataFrame (missing values as NaN, one row per plan)."""
    import pandas as pd

    return pd.DataFrame(plan_records(student_params, budgets, **kwargs))


def _positive_values(values, name: str) -> list[float]:
    values = [values] if isinstance(values, numbers.Real) else list(values)
    if not values:
        raise InputError(f"{name}: give at least one value", argument=name)
    for value in values:
        if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
            raise InputError(f"{name}: {value!r} is not a positive, finite number", argument=name)
    return [float(v) for v in values]


def _scenario_names(scenarios) -> list[str]:
    if isinstance(scenarios, str):
        scenarios = list(PLAN_SCENARIOS) if scenarios == "all" else [scenarios]
    unknown = [s for s in scenarios if s not in PLAN_SCENARIOS]
    if unknown:
        raise InputError(f"scenarios: unknown scenario {unknown[0]!r}; choose from all, {', '.join(PLAN_SCENARIOS)}",
                         argument="scenarios")
    return list(scenarios)


def require_reachable_teacher_loss(laws, teacher_loss: float, where: str, error=InfeasibleError,
                                   argument: str | None = None) -> None:
    """Refuse a teacher loss at or below the supervised law's irreducible E (no model reaches E).

    ``where`` names the argument or sweep key the value came from; ``error`` is the class raised.
    """
    floor = math.exp(float(laws.supervised.log_e))
    if not teacher_loss > floor:
        raise error(f"{where} {teacher_loss:g}: a teacher's loss must exceed the supervised law's "
                    f"irreducible loss E = {floor:.4g} (nats per token)", argument=argument)


def _existing_teacher_rows(laws, students, budgets, teacher_loss, teacher_params, teacher_tokens,
                           logit_cost) -> list[dict]:
    """Rows for a teacher that already exists: its pretraining is sunk, its logits cost F(N_T)."""
    import numpy as np

    from ..laws.compute import forward_flops
    from ..laws.forms import supervised_log_loss
    from ..io.fitfile import finite_or_none
    from .optimize import existing_teacher, supervised_loss_at_size

    if teacher_loss is None and (teacher_params is None or teacher_tokens is None):
        raise InputError("an existing teacher needs --teacher-loss, or --teacher-params and --teacher-tokens")
    if logit_cost > 0 and teacher_params is None:
        raise InputError("teacher_params is needed to price the teacher's logits (or a logit cost of 0)",
                         argument="teacher_params")
    if teacher_loss is not None:
        require_reachable_teacher_loss(laws, teacher_loss, "teacher_loss", argument="teacher_loss")
    if teacher_loss is None:
        teacher_loss = float(np.exp(supervised_log_loss(laws.supervised, np.log(teacher_params),
                                                        np.log(teacher_tokens))))
    rows = []
    for n_s in students:
        for c in budgets:
            d_s, loss, bound = (float(x) for x in existing_teacher(
                laws, n_s, c, teacher_loss, teacher_params or 1.0, logit_cost))
            sup = float(supervised_loss_at_size(laws, n_s, c)[1])
            student_flops = 3 * float(forward_flops(n_s, laws.arch)) * d_s
            logits_flops = logit_cost * float(forward_flops(teacher_params or 1.0, laws.arch)) * d_s
            student_share = student_flops / (student_flops + logits_flops)
            rows.append({"student_params": n_s, "budget": c, "scenario": "existing-teacher",
                         "student_tokens": d_s, "teacher_params": teacher_params,
                         "teacher_tokens": teacher_tokens, "teacher_loss": teacher_loss,
                         "student_loss": loss, "supervised_loss": sup,
                         "on_bound": ["student_tokens"] if bound else [], "feasible": True,
                         "flops_split": {"student": student_share, "logits": 1 - student_share, "pretraining": 0.0}})
    return [finite_or_none(row) for row in rows]
