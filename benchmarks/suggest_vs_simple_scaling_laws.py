"""`distlaw suggest` against simple-scaling-laws' `suggest_runs`, on the same runs, cap and target.

    python benchmarks/suggest_vs_simple_scaling_laws.py [--ssl-python PATH] [--draws 30]

simple-scaling-laws 0.2.0 (PyPI) needs Python 3.12, so it runs in its own interpreter
(``--ssl-python``, default ``$SSL_PYTHON``; set one up with
``python3.12 -m venv /tmp/ssl312 && /tmp/ssl312/bin/pip install simple-scaling-laws==0.2.0``);
both are timed as whole calls. The case of ``suggest_vs_designs.py``: Epoch's Chinchilla law,
1% noise, 60 isoFLOP runs at 6e17-6e19 FLOPs. The target is simple-scaling-laws' own: the
compute-optimal model size N* at 1e23 FLOPs. Each tool suggests 6 runs: simple-scaling-laws on
the iso-cost curve of 2e21 / 6 FLOPs (its candidates are budgets; one budget at a sixth of the
cap keeps it within the same 2e21 FLOPs), distlaw anywhere within the cap and its default
limits. Both designs are then judged the same way: the linearized standard deviation of log N*
at distlaw's fit, and over ``--draws`` noise draws of the new runs, the refitted law's error in
log10 N*(1e23) against the truth (RMS).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suggest_vs_designs import NOISE, small_table, truth  # noqa: E402

from distlaw import ScalingLaw  # noqa: E402
from distlaw.laws import EPOCH_CHINCHILLA as C  # noqa: E402
from distlaw.laws import LAWS  # noqa: E402
from distlaw.laws.compute import Architecture  # noqa: E402
from distlaw.planning.design import _jacobians, suggest  # noqa: E402
from distlaw.planning.optimize import compute_optimal, optimal_size_gradient  # noqa: E402

BUDGET = 1e23
CAP = 2e21
COUNT = 6

SSL_SCRIPT = textwrap.dedent("""
    import json, sys, time
    import polars as pl
    from simple_scaling_laws import fit
    from simple_scaling_laws.cost import cost_model
    from simple_scaling_laws.design import suggest_runs
    start = time.perf_counter()
    runs = pl.read_csv(sys.argv[1])
    model = fit(runs, n_draws=200, seed=0)
    plan = suggest_runs(model, [float(sys.argv[2])], cost_model("power", k=6.0, a=1.0, b=1.0), n=int(sys.argv[3]),
                        candidate_budgets=[float(sys.argv[4])])
    print(json.dumps({"seconds": time.perf_counter() - start, "params": plan["model_size__n_params"].to_list(),
                      "tokens": plan["dataset_size__n_tokens"].to_list()}))
""")


def true_log10_optimum() -> float:
    """log10 N* at BUDGET under the truth (C = 6ND), by a fine search."""
    n = np.geomspace(1e8, 1e12, 400001)
    return float(np.log10(n[np.argmin(truth(n, BUDGET / (6 * n)))]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ssl-python", default=os.environ.get("SSL_PYTHON", "/tmp/ssl312/bin/python"))
    parser.add_argument("--draws", type=int, default=30)
    args = parser.parse_args()
    spec = LAWS["chinchilla"]
    table = small_table()
    law = ScalingLaw("chinchilla", huber_delta=1e-3, starts=256)
    fit = law.fit(table)
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "runs.csv"
        pd.DataFrame({"training_run_id": [f"run_{i}" for i in range(len(table))],
                      "train_set_id": [f"train_{i}" for i in range(len(table))], "test_set_id": "test",
                      "optimizer_seed": 0, "model_size__n_params": table["params"],
                      "dataset_size__n_tokens": table["tokens"], "test_loss__ce": table["loss"]}).to_csv(path, index=False)
        done = subprocess.run([args.ssl_python, "-c", SSL_SCRIPT, str(path), str(BUDGET), str(COUNT), str(CAP / COUNT)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"simple-scaling-laws failed ({args.ssl_python}): {done.stderr[-2000:]}")
        ssl = json.loads(done.stdout.strip().splitlines()[-1])
    start = time.perf_counter()
    ours = suggest(fit, table, [f"compute-optimal:{BUDGET}"], COUNT, CAP)
    ours_seconds = time.perf_counter() - start
    designs = {"distlaw suggest": (ours.runs["params"].to_numpy(), ours.runs["tokens"].to_numpy(), ours_seconds),
               "simple-scaling-laws suggest_runs": (np.array(ssl["params"]), np.array(ssl["tokens"]), ssl["seconds"])}
    theta = np.asarray(spec.from_natural(fit.params))
    g = np.asarray(optimal_size_gradient(spec, theta, BUDGET))
    sigma = fit.record["residual_scale"]
    true_star = true_log10_optimum()
    print(f"{time.strftime('%Y-%m-%d')}: 60 isoFLOP runs (Epoch's law, {NOISE:.0%} noise), {COUNT} new runs, "
          f"{CAP:.0e} FLOPs; target log N* at C = {BUDGET:.0e} (true N* = {10 ** true_star:.3g}); "
          f"{args.draws} noise draws")
    print(f"{'design':<34}{'FLOPs':>10}{'lin. sd log N*':>16}{'refit RMS log10 N*':>20}{'suggest s':>11}")
    for name, (n_new, d_new, seconds) in designs.items():
        n = np.concatenate([table["params"], n_new])
        d = np.concatenate([table["tokens"], d_new])
        j = _jacobians(spec, theta, {"params": n, "tokens": d})
        sd = math.sqrt(g @ np.linalg.solve(j.T @ j / sigma**2, g))
        errors = []
        for draw in range(args.draws):
            rng = np.random.default_rng(2000 + draw)
            new = pd.DataFrame({"params": n_new, "tokens": d_new,
                                "loss": truth(n_new, d_new) * np.exp(NOISE * rng.standard_normal(len(n_new)))})
            refit = law.fit(pd.concat([table, new], ignore_index=True))
            star = compute_optimal(spec, spec.from_natural(refit.params), np.array([BUDGET]), Architecture(six_nd=True))
            errors.append(math.log10(float(star.params[0])) - true_star)
        print(f"{name:<34}{float((6 * n_new * d_new).sum()):>10.3g}{sd:>16.5f}"
              f"{float(np.sqrt(np.mean(np.square(errors)))):>20.5f}{seconds:>11.2f}")
        print(f"    runs (log10 N, log10 D): {[(round(math.log10(a), 2), round(math.log10(b), 2)) for a, b in zip(n_new, d_new)]}")
    assert C  # the truth's coefficients (imported for the reader of this script)


if __name__ == "__main__":
    main()
