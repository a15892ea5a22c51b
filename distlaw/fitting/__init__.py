"""Fitting laws to run tables: the solver, the multi-start fit, bootstrap, and the fit job.

Modules:
  solver        the batched, box-constrained Levenberg-Marquardt solver over many starts
  gradient      the optax path: objectives beyond Huber least squares (asymmetric, priors, a
                user's loss) and any optax optimizer, batched over starts the same way
  programs      the solver's compiled programs stored beside JAX's compilation cache, so a
                repeated command skips tracing them
  starts        starting points: the paper's grids, distlaw's design, a CSV of starts
  multistart    the Huber objective in a box (fixed and tied coefficients), multi-start fits of
                one or many problems, identifiability, bootstrap replicates
  ridge         a law's ridge walked in coordinates where it is straight, before the polish
                in the law's own (the distillation law)
  derived       combinations of coefficients the data pin down (effective exponents), with
                standard errors and bootstrap intervals
  scaling_law   ``ScalingLaw(...).fit(runs) -> FitResult``: the whole job of ``distlaw fit``
  intervals     confidence and prediction intervals from a fit's bootstrap replicates
  isoflop       compute-optimal exponents from isoFLOP minima (Chinchilla's Approach 2)
  demo          ``distlaw demo``: tables drawn from the published laws, fitted back

May import: :mod:`distlaw.errors`, :mod:`distlaw.laws`, :mod:`distlaw.io` (and optax).
"""

import importlib as _importlib

# Loaded on first use: the planner and the atlas need the solver's step alone, and importing the
# whole package (optax, pandas through the run readers) cost a 33M-row atlas command 0.3 s.
_WHERE = {
    **dict.fromkeys(["BootstrapResult", "Constraints", "FitData", "HuberObjective", "Solution", "bootstrap",
                     "bootstrap_many", "constraints", "fit", "fit_data", "fit_many", "identifiability",
                     "stack_data"], "multistart"),
    "FitResult": "scaling_law", "ScalingLaw": "scaling_law", "SolverConfig": "solver",
}

__all__ = ["BootstrapResult", "Constraints", "FitData", "FitResult", "HuberObjective", "ScalingLaw", "Solution",
           "SolverConfig", "bootstrap", "bootstrap_many", "constraints", "fit", "fit_data", "fit_many",
           "identifiability", "stack_data"]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_WHERE])
