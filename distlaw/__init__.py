"""distlaw: fit scaling laws (supervised and distillation) to training runs, and plan with them.

Public API (see the README and ARCHITECTURE.md):

    from distlaw import ScalingLaw, FitResult          # the fit job: fit, bootstrap, holdout, save, predict
    from distlaw import plan, plan_records             # compute-optimal allocations (DataFrame, JSON rows)
    from distlaw import build_atlas, Atlas             # atlases: build from a sweep, read a finished one
    from distlaw import isoflop                        # compute-optimal exponents from isoFLOP minima
    from distlaw import LAWS, get_law, predict_loss    # the laws
    from distlaw import law_from_function, law_from_file   # laws of your own (also ScalingLaw(function))
    from distlaw import fit, fit_many, fit_data, bootstrap, Solution   # the fitting engine underneath

Everything computes in float64 inside its own scope and leaves JAX's global settings as the
caller had them. The names are imported on first use (PEP 562), so ``import distlaw`` and
``distlaw --help`` do not pay for importing JAX.
"""

import importlib as _importlib

from .version import __version__

# Public name -> the module that defines it.
_EXPORTS = {
    "ScalingLaw": "fitting.scaling_law", "FitResult": "fitting.scaling_law",
    "Solution": "fitting.multistart", "FitData": "fitting.multistart", "BootstrapResult": "fitting.multistart",
    "bootstrap": "fitting.multistart", "bootstrap_many": "fitting.multistart", "constraints": "fitting.multistart",
    "fit": "fitting.multistart", "fit_data": "fitting.multistart", "fit_many": "fitting.multistart",
    "stack_data": "fitting.multistart", "SolverConfig": "fitting.solver", "isoflop": "fitting.isoflop",
    "LAWS": "laws.registry", "LawSpec": "laws.registry", "get_law": "laws.registry",
    "predict_loss": "laws.registry", "law_from_function": "laws.user", "law_from_file": "laws.user",
    "plan": "planning.plans", "plan_records": "planning.plans",
    "Atlas": "atlas.folder", "build_atlas": "atlas.folder",
    "datasets": "io.datasets", "errors": "errors",
}  # fmt: skip
_MODULES = {"datasets", "errors"}  # exported as modules, not as names inside them

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'distlaw' has no attribute {name!r}")
    loaded = _importlib.import_module(f"{__name__}.{module}")
    value = loaded if name in _MODULES else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
