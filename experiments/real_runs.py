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
from _report import arguments, table, verdict, write_report

from distlaw import bootstrap, datasets, fit, fit_data, planning, predict_loss
from distlaw.compute import Architecture
from distlaw.laws import LAWS, PAPER_DISTILLATION
from distlaw.runs import read_runs

CHIN = LAWS["chinchilla"]
DATA = Path(datasets.__file__).resolve().parent / "data"  # the tables shipped with distlaw
PUBLISHED_GADRE_ERROR = 0.007  # Gadre et al. (2024): 0.7% relative error on the largest runs
PUBLISHED_PORIAN_A = (0.834, 0.497)  # Porian et al. (2024): from their first to their last configuration


def find(data: Path, name: str) -> list[Path]:
    """The run table of study ``name`` (not its table of reported fits)."""
    return sorted(p for p in data.rglob("*") if name in p.name.lower() and p.suffix in {".csv", ".parquet", ".jsonl"}
                  and "reported_fits" not in p.name)


def muennighoff(data, n_boot):
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
    rows = [[n, result.natural[n], f"[{intervals[n][0]:.4g}, {intervals[n][1]:.4g}]"] for n in CHIN.natural_names]
    return f"{len(frame)} single-epoch runs.\n\n" + table(["coefficient", "distlaw", "90% interval"], rows)


def gadre(data):
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
    return table(["quantity", "published", "distlaw", "difference", "reproduced?"],
                 [["mean relative error on the largest models", "0.7%", f"{error:.2%}",
                   f"{error - PUBLISHED_GADRE_ERROR:+.2%}", verdict(error <= 2 * PUBLISHED_GADRE_ERROR)]])


def porian(data):
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
        rows.append([str(name), f"{PUBLISHED_PORIAN_A[0]} ... {PUBLISHED_PORIAN_A[1]}", f"{a:.3f}",
                     f"{result.natural['beta'] / (result.natural['alpha'] + result.natural['beta']):.3f}"])
    return table(["configuration", "published a (range)", "distlaw a (planning)", "beta/(alpha+beta)"], rows)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    data = Path(os.environ.get("DISTLAW_SHARED_DATA", DATA))
    n_boot = 16 if args.quick else 1000
    md = ["## Real runs (Chinchilla form)", "", "Command: `python experiments/real_runs.py`.", ""]
    if not data.is_dir():
        md += [(f"The shared data folder `{data}` was not present when this report was made, so none of these "
               "fits ran. The script is ready; rerun it where the folder exists."), ""]
    else:
        md += ["### Muennighoff et al.: single-epoch runs", "", muennighoff(data, n_boot), "",
               "### Gadre et al.: predict the largest models from the smaller ones", "", gadre(data), "",
               "### Porian et al.: compute-optimal exponent per configuration", "", porian(data), ""]
    write_report(args.out, "real_runs", md)


if __name__ == "__main__":
    main()
