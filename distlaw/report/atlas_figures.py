"""Figures from an atlas folder (matplotlib, installed with ``pip install 'distlaw[plot]'``).

Every figure is a ``matplotlib.figure.Figure`` made directly, never through pyplot: importing or
calling this module changes no matplotlib setting (backend, rcParams, pyplot's figure list).

Kinds:
  contours      student loss over budget and student size, one panel per scenario, with the
                iso-loss lines of the atlas's contour table and the supervised optimum's size;
  capacity-gap  student loss against teacher loss for several student sizes (the U-shape);
  budget-split  the share of the budget going to student training, teacher logits and teacher
                pretraining, against budget, per scenario, for one student size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AtlasError, InputError
from ..io.files import atomic_path

from .kinds import ATLAS_FIGURES as KINDS


def _new_figure(**kwargs):
    """A matplotlib ``Figure`` of its own: no pyplot, no global backend or state touched."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("plots need matplotlib: pip install 'distlaw[plot]'") from None
    return Figure(**kwargs)


def _read(atlas: Path, table: str) -> pd.DataFrame:
    from ..atlas.folder import Atlas

    opened = Atlas(atlas)
    if table not in opened.tables or opened.rows(table) == 0:
        section = "loss" if table == "loss" else "plan"
        raise AtlasError(f"{atlas}: no {table} table (run `distlaw atlas` with a [{section}] section)")
    return opened.to_pandas(table)


def atlas_figure(atlas: str | Path, kind: str, student_params: float | None = None):
    """The figure ``kind`` drawn from the atlas folder, as a matplotlib ``Figure`` (not shown,
    not registered with pyplot: put it in a notebook cell, or ``savefig`` it)."""
    if kind not in KINDS:
        raise InputError(f"kind {kind!r}: unknown plot kind; choose one of {', '.join(KINDS)}", argument="kind")
    draw = {"contours": _contours, "capacity-gap": _capacity_gap, "budget-split": _budget_split}[kind]
    from ..atlas.folder import Atlas

    Atlas(atlas).require_distillation(f"the {kind} figure")
    return draw(Path(atlas), student_params)


def plot(atlas: str | Path, kind: str, output: str | Path, student_params: float | None = None) -> Path:
    """Draw ``kind`` from the atlas folder into ``output`` (PNG, SVG or PDF by its suffix),
    written atomically; returns the path."""
    figure = atlas_figure(atlas, kind, student_params)
    output = Path(output)
    with atomic_path(output) as tmp:
        figure.savefig(tmp, dpi=120, bbox_inches="tight", format=output.suffix.lstrip(".").lower() or "png")
    return output


def _ordered(names) -> list[str]:
    """Scenarios in the paper's order (partitions read back alphabetically)."""
    from ..laws.catalog import PLAN_SCENARIOS

    present = set(names)
    return [n for n in PLAN_SCENARIOS if n in present]


def _contours(atlas, _):
    plan = _read(atlas, "plan")
    lines = _read(atlas, "contours") if (atlas / "contours").is_dir() else None
    scenarios = _ordered(plan["scenario"])
    figure = _new_figure(figsize=(4.2 * len(scenarios), 3.8))
    axes = figure.subplots(1, len(scenarios), sharey=True, squeeze=False)
    lo, hi = np.nanpercentile(plan["student_loss"], [1, 99])
    for ax, name in zip(axes[0], scenarios, strict=True):
        part = plan[plan["scenario"] == name]
        grid = part.pivot_table(index="student_params", columns="budget", values="student_loss")
        image = ax.pcolormesh(grid.columns, grid.index, grid.to_numpy(), shading="nearest", cmap="viridis_r",
                              vmin=lo, vmax=hi)
        if lines is not None:
            for (level, path), piece in lines[lines["scenario"] == name].groupby(["level", "path"]):
                ax.plot(piece["x"], piece["y"], color="white", lw=0.6, alpha=0.8)
                if path == 0 and round(level / 0.1, 6) % 1 == 0 and lo <= level <= hi:
                    mid = piece.iloc[len(piece) // 2]
                    ax.text(mid["x"], mid["y"], f"{level:.1f}", color="white", fontsize=7)
        optimum = part.groupby("budget")["compute_optimal_params"].first()
        ax.plot(optimum.index, optimum.to_numpy(), "r--", lw=1, label="supervised N*")
        ax.set(xscale="log", yscale="log", xlabel="budget C (FLOPs)", title=name)
        ax.set_ylim(grid.index.min(), grid.index.max())
    axes[0][0].set_ylabel("student size N_S (parameters)")
    axes[0][0].legend(loc="lower right", fontsize=7)
    figure.colorbar(image, ax=axes[0].tolist(), label="student loss L_S (nats/token)")
    figure.suptitle("Compute-optimal student loss (white: iso-loss lines every 0.05 nats)", y=1.03)
    return figure


def _capacity_gap(atlas, _):
    loss = _read(atlas, "loss")
    figure = _new_figure(figsize=(6.4, 4.2))
    ax = figure.subplots()
    sizes = np.unique(loss["student_params"])
    for n_s in sizes[:: max(1, len(sizes) // 6)]:
        part = loss[loss["student_params"] == n_s]
        # The student's tokens nearest to 20 per parameter (Chinchilla-like training).
        tokens = np.unique(part["student_tokens"])
        d_s = tokens[np.argmin(np.abs(np.log(tokens / (20 * n_s))))]
        part = part[part["student_tokens"] == d_s].sort_values("teacher_loss")
        ax.plot(part["teacher_loss"], part["student_loss"], ".", ms=2, label=f"N_S={n_s:.3g}, D_S={d_s:.2g}")
        best = part.loc[part["student_loss"].idxmin()]
        ax.plot(best["teacher_loss"], best["student_loss"], "k*", ms=7)
    ax.plot([], [], "k*", label="best teacher (capacity gap)")
    ax.set(xlabel="teacher loss L_T (nats/token)", ylabel="student loss L_S (nats/token)",
           title="Capacity gap: a stronger teacher is not always better")
    ax.legend(fontsize=7)
    return figure


def _budget_split(atlas, student_params):
    plan = _read(atlas, "plan")
    sizes = np.unique(plan["student_params"])
    n_s = sizes[len(sizes) // 2] if student_params is None else sizes[np.argmin(np.abs(np.log(sizes / student_params)))]
    part = plan[(plan["student_params"] == n_s) & (plan["scenario"] != "supervised")]
    scenarios = _ordered(part["scenario"])
    figure = _new_figure(figsize=(4 * len(scenarios), 3.4))
    axes = figure.subplots(1, len(scenarios), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], scenarios, strict=True):
        rows = part[part["scenario"] == name].sort_values("budget")
        split = pd.DataFrame(list(rows["flops_split"].map(lambda s: s or {"student": np.nan, "logits": np.nan,
                                                                         "pretraining": np.nan})))
        ax.stackplot(rows["budget"], split["student"], split["logits"], split["pretraining"],
                     labels=["student training", "teacher logits", "teacher pretraining"], alpha=0.85)
        ax.set(xscale="log", xlabel="budget C (FLOPs)", title=name, ylim=(0, 1))
    axes[0][0].set_ylabel("share of the budget")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    figure.suptitle(f"Where the compute goes, student of {n_s:.3g} parameters", y=1.03)
    return figure
