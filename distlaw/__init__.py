"""distlaw: fit scaling laws (supervised and distillation) to training runs, and plan with them.

Public API (see the README):

    from distlaw import LAWS, get_law, fit, fit_many, fit_data, bootstrap, predict_loss
"""

__version__ = "0.1.0"

from .fitting import FitData, FitResult, bootstrap, bootstrap_many, fit, fit_data, fit_many, stack_data  # noqa: E402
from .laws import LAWS, LawSpec, get_law, predict_loss  # noqa: E402
from .solver import SolverConfig  # noqa: E402

__all__ = [
    "LAWS", "FitData", "FitResult", "LawSpec", "SolverConfig", "bootstrap", "bootstrap_many", "fit", "fit_data",
    "fit_many", "get_law", "predict_loss", "stack_data", "__version__",
]  # fmt: skip
