"""distlaw: fit scaling laws (supervised and distillation) to training runs, and plan with them.

Public API (see the README):

    from distlaw import ScalingLaw, FitReport          # the fit job: fit, bootstrap, holdout, save
    from distlaw import plan, plan_records             # compute-optimal allocations (DataFrame, JSON rows)
    from distlaw import build_atlas, Atlas             # atlases: build from a sweep, read a finished one
    from distlaw import isoflop                        # compute-optimal exponents from isoFLOP minima
    from distlaw import LAWS, get_law, fit, fit_many, fit_data, bootstrap, predict_loss   # the pieces

The names are imported on first use (PEP 562), so ``import distlaw`` and ``distlaw --help`` do
not pay for importing JAX.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> the submodule that defines it.
_EXPORTS = {
    "FitData": "fitting", "FitResult": "fitting", "BootstrapResult": "fitting", "bootstrap": "fitting",
    "bootstrap_many": "fitting", "constraints": "fitting", "fit": "fitting", "fit_data": "fitting",
    "fit_many": "fitting", "stack_data": "fitting",
    "LAWS": "laws", "LawSpec": "laws", "get_law": "laws", "predict_loss": "laws",
    "SolverConfig": "solver",
    "ScalingLaw": "api", "FitReport": "api",
    "plan": "plans", "plan_records": "plans",
    "Atlas": "atlases", "build_atlas": "atlases",
    "isoflop": "isoflops",
}  # fmt: skip

__all__ = [
    "LAWS", "Atlas", "BootstrapResult", "FitData", "FitReport", "FitResult", "LawSpec", "ScalingLaw", "SolverConfig",
    "__version__", "bootstrap", "bootstrap_many", "build_atlas", "constraints", "fit", "fit_data", "fit_many",
    "get_law", "isoflop", "plan", "plan_records", "predict_loss", "stack_data",
]  # fmt: skip


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'distlaw' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
