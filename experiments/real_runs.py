"""Chinchilla-form fits of the real, public run tables shipped in distlaw/data (see its SOURCES.md).

    python experiments/real_runs.py [--quick] [--out DIR]     (DISTLAW_SHARED_DATA=DIR to point elsewhere)

- Muennighoff et al. (2023): the single-epoch runs, fitted with bootstrap intervals.
- Gadre et al. (2024): fit the smaller models, predict the largest; published error 0.7%.
- Porian et al. (2024): the compute-optimal exponent a of N* ~ C^a for each configuration,
  through distlaw's planning (6ND compute), beside the published 0.834 ... 0.497.

Tables are found by name under the data folder and read through distlaw's run-table reader
(canonical columns params, tokens or flops, loss). Where the folder or a table is missing, the
report says so instead of a number.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
from _report import Results, arguments, rows_table, write_report

from distlaw import bootstrap, datasets, fit, fit_data, planning, predict_loss
from distlaw.compute import Architecture
from distlaw.laws import LAWS, PAPER_DISTILLATION
from distlaw.runs import read_runs

CHIN = LAWS["chinchilla"]
DATA = Path(datasets.__file__).resolve().parent / "data"  # the tables shipped with distlaw
PUBLISHED_GADRE_ERROR = 0.007  # Gadre et al. (2024): 0.7% relative error on the largest runs
PUBLISHED_PORIAN_A = (0.834, 0.497)  # Porian et al. (2024): from their first to their last configuration
GADRE_TOLERANCE = 2.0  # reproduced if distlaw's error is at most twice the published one


def interval_text(row) -> str:
    """A row's interval as ``[lo, hi]`` (4 significant digits; a missing end, NaN in the fit, as n/a)."""
    return "[" + ", ".join("n/a" if end is None else f"{end:.4g}" for end in row["interval"]) + "]"


def find(data: Path, name: str) -> list[Path]:
    """The run table of study ``name`` (not its table of reported fits)."""
    return sorted(p for p in data.rglob("*") if name in p.name.lower() and p.suffix in {".csv", ".parquet", ".jsonl"}
                  and "reported_fits" not in p.name)


def muennighoff(results: Results, data, n_boot):
    """Single-epoch Chinchilla fit with bootstrap intervals (no published numbers to compare with)."""
    files = find(data, "muennighoff")
    if not files:
        return f"No Muennighoff table under `{data}`: not run."
    table_ = read_runs(files, required=("params", "tokens", "loss"))
    frame = table_.frame
    if "epochs" in frame:
        frame = frame[frame["epochs"] == 1]
    d = fit_data(CHIN, frame)
    result = fit(CHIN, d, delta=1e-3)
    intervals = bootstrap(CHIN, d, result, n_boot, delta=1e-3).intervals
    rows = [results.add(n, None, result.natural[n], None, None, interval=intervals[n],
                        note="fitted here; no published value") for n in CHIN.natural_names]
    columns = [("coefficient", "quantity"), ("distlaw", "distlaw"), ("90% interval", interval_text)]
    return f"{len(frame)} single-epoch runs.\n\n" + rows_table(columns, rows)


def gadre(results: Results, data):
    """Fit all but the largest models, predict the largest: mean relative error against the published 0.7%."""
    files = find(data, "gadre")
    if not files:
        return f"No Gadre table under `{data}`: not run."
    frame = read_runs(files, required=("params", "tokens", "loss")).frame
    largest = frame["params"] >= frame["params"].max() * 0.999
    result = fit(CHIN, fit_data(CHIN, frame[~largest]), delta=1e-3)
    held = frame[largest]
    predicted = np.asarray(predict_loss(CHIN, CHIN.params_type(*result.params), held.params.to_numpy(),
                                        held.tokens.to_numpy()))
    error = float(np.mean(np.abs(predicted / held.loss.to_numpy() - 1)))
    row = results.add("mean relative error on the largest models", PUBLISHED_GADRE_ERROR, error,
                      f"{GADRE_TOLERANCE:g}x published", error <= GADRE_TOLERANCE * PUBLISHED_GADRE_ERROR,
                      difference=error - PUBLISHED_GADRE_ERROR,
                      fmt={"published": ".1%", "distlaw": ".2%", "difference": "+.2%"})
    columns = [("quantity", "quantity"), ("published", "published"), ("distlaw", "distlaw"),
               ("difference", "difference"), ("reproduced?", lambda r: r.verdict())]
    return rows_table(columns, [row])


def porian(results: Results, data):
    """The compute-optimal exponent a per configuration; the paper gives only the range over them."""
    files = find(data, "porian")
    if not files:
        return f"No Porian table under `{data}`: not run."
    table_ = read_runs(files, required=("params", "tokens", "loss"))
    frame = table_.frame
    key = next((c for c in ("configuration", "config", "setting", "experiment") if c in frame), None)
    groups = frame.groupby(key) if key else [("all", frame)]
    rows = []
    for name, part in groups:
        result = fit(CHIN, fit_data(CHIN, part), delta=1e-3)
        laws = planning.PlanningLaws(LAWS["supervised"].from_natural({**result.natural, "gamma": 1.0}),
                                     LAWS["distillation"].from_natural(PAPER_DISTILLATION), Architecture(six_nd=True))
        budgets = np.array([1e19, 1e21])
        n_star = np.asarray(planning.supervised_optimum(laws, budgets).params)
        a = float(np.log(n_star[1] / n_star[0]) / np.log(budgets[1] / budgets[0]))
        rows.append(results.add(str(name), f"{PUBLISHED_PORIAN_A[0]} ... {PUBLISHED_PORIAN_A[1]}", a, None, None,
                                beta_over_alpha_plus_beta=(result.natural["beta"]
                                                           / (result.natural["alpha"] + result.natural["beta"])),
                                note="the paper gives the range over its configurations, not one value each",
                                fmt=".3f"))
    columns = [("configuration", "quantity"), ("published a (range)", "published"), ("distlaw a (planning)", "distlaw"),
               ("beta/(alpha+beta)", "beta_over_alpha_plus_beta")]
    return rows_table(columns, rows)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    data = Path(os.environ.get("DISTLAW_SHARED_DATA", DATA))
    n_boot = 16 if args.quick else 1000
    results = Results()
    md = ["## Real runs (Chinchilla form)", "", "Command: `python experiments/real_runs.py`.", ""]
    if not data.is_dir():
        md += [(f"The shared data folder `{data}` was not present when this report was made, so none of these "
               "fits ran. The script is ready; rerun it where the folder exists."), ""]
    else:
        md += [results.begin("Muennighoff et al.: single-epoch runs"), "", muennighoff(results, data, n_boot), "",
               results.begin("Gadre et al.: predict the largest models from the smaller ones"), "",
               gadre(results, data), "",
               results.begin("Porian et al.: compute-optimal exponent per configuration"), "",
               porian(results, data), ""]
    write_report(args.out, "real_runs", md, results)


if __name__ == "__main__":
    main()
