"""The figure kinds, as plain data (the CLI's choices; imports nothing heavy)."""

ATLAS_FIGURES = ("contours", "capacity-gap", "budget-split")
FIT_FIGURES = ("law", "isoflop", "residuals", "holdout", "bootstrap", "correlations", "frontier")
