"""Compute-optimal planning: distill or train, how big a teacher, how many tokens, at a budget.

Modules:
  optimize  the batched solvers (jitted, vmapped): supervised optimum, distillation allocation
            in the four scenarios, existing teachers, capacity-gap curve, crossover budgets
  plans     ``plan()`` / ``plan_records()``: validated arguments in, one row per problem out
  design    ``suggest()``: which runs to train next, by the linearized variance of a target

May import: :mod:`distlaw.errors`, :mod:`distlaw.laws`, :mod:`distlaw.io`, :mod:`distlaw.fitting`.
"""

from .optimize import (
    Allocation,
    PlanningLaws,
    SupervisedOptimum,
    allocate,
    cheapest_teacher,
    compute_to_reach,
    crossover_budget,
    existing_teacher,
    lowest_reachable_loss,
    optimal_teacher_loss,
    plan_table,
    supervised_loss_at_size,
    supervised_optimum,
)
from .plans import load_planning_laws, plan, plan_records

__all__ = ["Allocation", "PlanningLaws", "SupervisedOptimum", "allocate", "cheapest_teacher", "compute_to_reach",
           "crossover_budget", "existing_teacher", "load_planning_laws", "lowest_reachable_loss",
           "optimal_teacher_loss", "plan", "plan_records", "plan_table", "supervised_loss_at_size",
           "supervised_optimum"]
