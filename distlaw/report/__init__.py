"""What people look at: figures drawn from atlases, and fit reports.

Modules:
  atlas_figures  loss contours, capacity-gap curves and the budget split, as matplotlib
                 ``Figure`` objects (never pyplot's global state or backend)
  fit_report     a fit's report: the runs against the law, residuals, held-out runs, the
                 coefficients, the bootstrap and the compute-optimal frontier, as figures and as
                 one self-contained HTML page
  kinds          the figure kinds as plain data (the CLI's choices)

May import: everything below the CLI (errors, laws, io, fitting, planning, atlas).
"""

import importlib as _importlib

_EXPORTS = {"FitReport": "fit_report", "fit_report": "fit_report", "plot_fit": "fit_report",
            "FIT_FIGURES": "kinds", "ATLAS_FIGURES": "kinds"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):  # loaded on first use: the CLI reads ``kinds`` without NumPy
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'distlaw.report' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
