"""The laws: pure JAX functions in log space, their coefficients, boxes, presets and costs.

Modules:
  catalog    the laws, scenarios and defaults as plain data (imports no JAX: the CLI's help,
             FIT.json checks and sweep checks read it)
  forms      the laws as JAX functions ``log_loss(params, *log_inputs)`` and their params types
  registry   ``LawSpec`` and ``LAWS``: one spec per law, built from the catalog and the forms
  user       laws users write: a Python function or ``PATH.py:FUNCTION``, registered beside them
  compute    the compute model F(N), Eq. 9, and the teacher-cost scenarios
  precision  float64 scoped to distlaw's own calls (never the caller's global setting)
  synthetic  run tables drawn from published laws

May import: :mod:`distlaw.errors` only (the bottom of the package). Names are loaded on first
use, so ``from distlaw.laws.catalog import LAW_NAMES`` does not import JAX.
"""

from __future__ import annotations

import importlib as _importlib

# Public name -> the module of this package that defines it.
_EXPORTS = {
    "LawInfo": "catalog", "LAW_INFO": "catalog", "LAW_NAMES": "catalog", "DEFAULT_BOUNDS": "catalog",
    "PAPER_SUPERVISED": "catalog", "PAPER_DISTILLATION": "catalog", "HOFFMANN_CHINCHILLA": "catalog",
    "EPOCH_CHINCHILLA": "catalog", "MUENNIGHOFF_DATA_CONSTRAINED": "catalog",
    "ChinchillaParams": "forms", "SupervisedParams": "forms", "DistillationParams": "forms",
    "DataConstrainedParams": "forms", "chinchilla_log_loss": "forms", "supervised_log_loss": "forms",
    "distillation_log_loss": "forms", "data_constrained_log_loss": "forms",
    "LAWS": "registry", "LawSpec": "registry", "get_law": "registry", "predict_loss": "registry",
    "KaplanParams": "forms", "kaplan_log_loss": "forms", "KAPLAN_2020": "catalog",
    "law_from_function": "user", "law_from_file": "user",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'distlaw.laws' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
