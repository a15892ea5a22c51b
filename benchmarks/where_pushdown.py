"""``--where`` on a large Parquet log: filtered in Arrow (pushdown) against pandas' query.

    python benchmarks/where_pushdown.py [--rows 1e7] [--work DIR]

Writes a log of ROWS runs (params as int64, tokens, loss, a ``mixture`` text column of 10
values, a ``step`` column), then reads it with ``distlaw.io.read_runs`` as a fit does (the
law's columns and the filter's), each way in a fresh process, side by side: distlaw's
pushdown, and the same call with the Arrow filter turned off (every row to pandas, validated,
then ``DataFrame.query``: distlaw before the pushdown). Prints wall time, peak memory (RSS)
and the rows kept, and checks both ways keep the same rows with the same row numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import hashlib, json, sys, time
t = time.perf_counter()
from distlaw.io import runs
if sys.argv[3] == "pandas":
    runs._filter_in_arrow = lambda table, pushdown: None  # distlaw before the pushdown
table = runs.read_runs(sys.argv[1], required=("params", "tokens", "loss"), where=sys.argv[2],
                       columns=["params", "tokens", "loss"])
seconds = time.perf_counter() - t
rows = table.frame["_row"].to_numpy()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "rss_mb": peak_kb / 1024,
                  "kept": int(len(rows)), "rows_sha": hashlib.sha256(rows.tobytes()).hexdigest()[:16]}))
"""

WHERES = ["mixture == 'mix3' and step > 500", "loss < 2.6 and params > 1e9", "mixture in ['mix1', 'mix2']"]


def write_log(path: Path, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    params = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    tokens = np.exp(rng.uniform(np.log(1e8), np.log(1e12), n))
    loss = (1.82 + 482.0 / params**0.3478 + 2085.4 / tokens**0.3658) * np.exp(rng.normal(0, 0.02, n))
    mixture = pa.array(np.char.add("mix", rng.integers(0, 10, n).astype(str)).tolist())
    pq.write_table(pa.table({"params": np.round(params).astype(np.int64), "tokens": tokens, "loss": loss,
                             "mixture": mixture, "step": rng.integers(0, 1000, n)}), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="where-"))
    path = work / f"log_{int(args.rows)}.parquet"
    if not path.exists():
        write_log(path, int(args.rows))
    print(f"{int(args.rows):,} rows, {path.stat().st_size / 2**20:.0f} MB of Parquet; {time.strftime('%Y-%m-%d')}")
    print(f"{'where':<40}{'way':>9}{'seconds':>9}{'RSS MB':>9}{'rows kept':>11}   same rows")
    for where in WHERES:
        results = {}
        for way in ("arrow", "pandas"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), where, way], check=True,
                                 capture_output=True, text=True).stdout
            results[way] = json.loads(out.strip().splitlines()[-1])
        same = results["arrow"]["rows_sha"] == results["pandas"]["rows_sha"]
        for way, r in results.items():
            print(f"{where:<40}{way:>9}{r['seconds']:>9.2f}{r['rss_mb']:>9.0f}{r['kept']:>11,}   {same}")
        print(f"{'':<40}{'ratio':>9}{results['pandas']['seconds'] / results['arrow']['seconds']:>8.1f}x"
              f"{results['pandas']['rss_mb'] / results['arrow']['rss_mb']:>8.1f}x")
        if not same:
            sys.exit("the two ways kept different rows")


if __name__ == "__main__":
    main()
