"""The built-in demonstration (``distlaw demo``): draw run tables from the published laws, fit
them back, and set the recovered coefficients beside the published ones.

    >>> from distlaw.fitting.demo import demo
    >>> fits = demo("distlaw-demo")                                  # doctest: +SKIP
    >>> fits["distillation"].params, fits["distillation"].holdout    # doctest: +SKIP

No data needed: the tables come from Table 6 of Busbridge et al. (``distlaw.laws.synthetic``).
"""

from __future__ import annotations

from pathlib import Path

from ..io.runs import write_table
from ..laws.catalog import DISTILLATION_LAW, LAW_INFO, SUPERVISED_LAW
from ..laws.synthetic import generate
from .scaling_law import FitResult, ScalingLaw

# (law, runs, noise, fit settings, fit() arguments): a 240-run supervised table, and a 700-run
# distillation table whose students below L_S = 2.3 are held out to test extrapolation.
STEPS = (
    (SUPERVISED_LAW, 240, 0.005, {}, {}),
    # Ltilde_S from the supervised law the table was drawn from, as the paper did with its own.
    (DISTILLATION_LAW, 700, None, {"supervised": "paper"}, {"holdout": "student_loss <= 2.3"}),
)


def demo(folder: str | Path = "distlaw-demo", progress: bool | None = None) -> dict[str, FitResult]:
    """Write ``LAW_runs.csv`` and ``LAW_fit.json`` for each step into ``folder``; return the fits.

    Each table is drawn from the law's published preset with a fixed seed, so the same folder
    comes out every time.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fits = {}
    for law, runs, noise, settings, arguments in STEPS:
        table = folder / f"{law}_runs.csv"
        write_table(generate(law, n_runs=runs, noise=noise), table)
        fits[law] = ScalingLaw(law, **settings).fit(table, progress=progress, **arguments)
        fits[law].save(folder / f"{law}_fit.json")
    return fits


def recovered(fits: dict[str, FitResult]) -> dict[str, dict[str, tuple[float, float]]]:
    """``{law: {coefficient: (fitted, published)}}`` against Table 6."""
    return {law: {name: (fit.params[name], value) for name, value in LAW_INFO[law].presets["paper"].items()}
            for law, fit in fits.items()}
