"""Run every experiment and assemble experiments/README.md from their reports.

    python experiments/run_all.py [--quick] [--out DIR] [--jobs N]

Each experiment is its own script (run in its own process, so one failure does not hide the
others); each writes OUT/NAME.md, OUT/NAME.json (the same comparisons, one object per row) and its
figures. The README puts the reports together, each result beside the published one, with the
command that reproduces it, and counts the verdicts of every script at the top.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from os.path import relpath as os_relpath
from pathlib import Path

from _report import arguments

HERE = Path(__file__).resolve().parent
EXPERIMENTS = ["paper_coefficients", "fitting_synthetic", "real_runs", "errata"]

INTRO = """# Experiments: distlaw beside the literature

Every number below is computed by the scripts in this folder from distlaw's public API; the
published value stands beside it, with the difference and a verdict. `python
experiments/run_all.py` reruns all of them (about 2 minutes on 2 CPU cores) and rewrites this
file; `--quick` runs small versions (the test suite does, in CI). Figures are in `results/`; each
script's rows are also in `results/NAME.json` (quantity, published, distlaw, tolerance, reproduced:
true, false, or null where there is no published target). `REFERENCE.md` in this folder is the
project's reference for the laws, the compute model, the reference values and the paper's errata
(the paper released no code); "REFERENCE.md section N" below points into it.
"""


def verdict_counts(path: Path) -> str:
    """How many rows of OUT/NAME.json are reproduced, not reproduced, or have no verdict."""
    if not path.exists():
        return "no results"
    verdicts = [row["reproduced"] for row in json.loads(path.read_text())]
    counts = [(verdicts.count(True), "reproduced"), (verdicts.count(False), "**not reproduced**"),
              (verdicts.count(None), "without a published target")]
    return ", ".join(f"{count} {label}" for count, label in counts if count) or "no rows"


def run_script(name: str, out: Path, quick: bool) -> tuple[subprocess.CompletedProcess, float]:
    """One experiment in its own process: its result and wall seconds."""
    command = [sys.executable, str(HERE / f"{name}.py"), "--out", str(out)] + (["--quick"] if quick else [])
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return result, time.perf_counter() - start


def main() -> None:
    args = arguments(__doc__.splitlines()[0], jobs=True)
    out = Path(args.out)
    sections, summary = [], []
    # Side by side with --jobs > 1 (the scripts write different files; the test suite runs two at
    # once on 2 cores): their times then include waiting for a core.
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        runs = list(pool.map(lambda name: run_script(name, out, args.quick), EXPERIMENTS))
    for name, (result, seconds) in zip(EXPERIMENTS, runs, strict=True):
        summary.append(f"| `{name}.py` | {'ok' if result.returncode == 0 else 'FAILED'} | {seconds:.0f} s | "
                       f"{verdict_counts(out / f'{name}.json') if result.returncode == 0 else ''} |")
        report = out / f"{name}.md"
        if result.returncode == 0 and report.exists():
            text = report.read_text()
            # Figures are linked relative to the report; the README sits in experiments/.
            target_dir = HERE if not args.quick else out
            relative = Path(os_relpath(out, target_dir))
            text = text.replace("](", f"]({relative.as_posix()}/")
            sections.append(text)
        else:
            sections.append(f"## {name}\n\nFailed:\n\n```\n{result.stderr[-3000:]}\n```\n")
        print(f"{name}: {'ok' if result.returncode == 0 else 'FAILED'} in {seconds:.0f}s", flush=True)
    readme = "\n".join([INTRO, "| script | status | time | rows |", "|---|---|---|---|", *summary, "", *sections])
    target = HERE / "README.md" if not args.quick else out / "README.md"
    target.write_text(readme)
    print(f"wrote {target}")
    if any("FAILED" in line for line in summary):
        sys.exit(1)


if __name__ == "__main__":
    main()
