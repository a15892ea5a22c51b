"""distlaw: fit scaling laws (supervised and distillation) to training runs, and plan with them.

Public API (see the README):

    from distlaw import LAWS, get_law, fit, fit_many, fit_data, bootstrap, predict_loss
"""

__version__ = "0.1.0"

from .fitting import FitData, FitResult, bootstrap, bootstrap_many, fit, fit_data, fit_many, stack_data
from .laws import LAWS, LawSpec, get_law, predict_loss
from .solver import SolverConfig

__all__ = [
    "LAWS",
    "FitData",
    "FitResult",
    "LawSpec",
    "SolverConfig",
    "__version__",
    "bootstrap",
    "bootstrap_many",
    "fit",
    "fit_data",
    "fit_many",
    "get_law",
    "predict_loss",
    "stack_data",
]  # fmt: skip
