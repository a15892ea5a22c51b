"""The experiments: a small version of each runs and reports, and the committed full-run results are honest.

Each experiment writes NAME.md (for people) and NAME.json (one object per compared quantity, the
markdown tables drawn from the same rows). The full run (experiments/run_all.py) writes
experiments/results/ and experiments/README.md, which are committed.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
RESULTS = EXPERIMENTS / "results"
NAMES = ("paper_coefficients", "fitting_synthetic", "real_runs", "errata")
# Every row has these keys; the values may be of these types (tolerance: a number or a rule in words).
KEY_TYPES = {"quantity": (str,), "published": (int, float, str, type(None)), "distlaw": (int, float, str, type(None)),
             "tolerance": (int, float, str, type(None)), "reproduced": (bool, type(None))}


def load_rows(folder: Path, name: str) -> list[dict]:
    """NAME.json of one experiment, checked for shape: a list of rows with the five keys, typed."""
    rows = json.loads((folder / f"{name}.json").read_text())
    assert isinstance(rows, list), name
    for row in rows:
        for key, types in KEY_TYPES.items():
            assert key in row, (name, row)
            assert isinstance(row[key], types), (name, key, row)
        for key in ("published", "distlaw", "tolerance"):  # strict JSON: no NaN or infinities
            assert not isinstance(row[key], float) or math.isfinite(row[key]), (name, key, row)
    return rows


def key(row: dict) -> tuple:
    """What names a row across runs: its section (report heading) and quantity."""
    return row.get("section"), row["quantity"]


def property_checks_hold(name: str, rows: list[dict]) -> None:
    """Rows without a published target may still check a property (a ``holds`` field): it must hold."""
    failing = [row["quantity"] for row in rows if row.get("holds") is False]
    assert not failing, (name, failing)


@pytest.mark.slow
def test_experiments_run_in_quick_mode(tmp_path):
    pytest.importorskip("matplotlib")
    # Two scripts at a time on CI's 2 cores: 49 s -> 38 s (their compilations are single-threaded).
    result = subprocess.run([sys.executable, str(EXPERIMENTS / "run_all.py"), "--quick", "--out", str(tmp_path),
                             "--jobs", "2"],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    readme = (tmp_path / "README.md").read_text()
    for link in [line.split("](")[1].split(")")[0] for line in readme.splitlines() if "![" in line]:
        assert (tmp_path / link).exists(), link

    for name in NAMES:
        assert (tmp_path / f"{name}.md").exists(), name
        rows = load_rows(tmp_path, name)
        if name != "real_runs":  # real_runs has rows only where the run tables are found
            assert rows, name
        keys = [key(row) for row in rows]
        assert len(keys) == len(set(keys)), f"{name}: two rows share a section and quantity"
        property_checks_hold(name, rows)
        # Verdicts. Quick mode shrinks grids, starts and resamples, not the question: every verdict
        # it gives must be the full run's. A row the full run reproduces (or a quick-only row, whose
        # quantity names a quick grid size) must be reproduced here, so a regression fails this test;
        # the rows the full run does not reproduce are findings (the paper's text against its own
        # coefficients, shown as such in experiments/README.md, see the test below) and must stay
        # not reproduced, so a change of verdict cannot go unnoticed in the committed results. The
        # one thing quick mode cannot judge, whether a 90% bootstrap interval covers the published
        # coefficient from 8 resamples (fitting_synthetic), the script itself leaves as null, with a note.
        full = {key(row): row["reproduced"] for row in load_rows(RESULTS, name)}
        for row in rows:
            if row["reproduced"] is None:
                continue
            expected = full.get(key(row))
            expected = True if expected is None else expected
            assert row["reproduced"] is expected, (name, row, f"full run: {expected}")
    coverage = [row for row in load_rows(tmp_path, "fitting_synthetic") if "covers_truth" in row]
    assert coverage and all(row["reproduced"] is None and row["note"] for row in coverage)


def test_committed_results_hide_no_failure():
    """The full-run results are committed for every experiment, and the README shows every row they
    do not reproduce as not reproduced (a failure can only be read, not hidden)."""
    readme = (EXPERIMENTS / "README.md").read_text().splitlines()
    marked = [line for line in readme if "**not reproduced**" in line]
    for name in NAMES:
        assert (RESULTS / f"{name}.md").exists(), name
        rows = load_rows(RESULTS, name)
        property_checks_hold(name, rows)
        if name != "real_runs":
            assert rows, name
        for row in (row for row in rows if row["reproduced"] is False):
            quantity = row["quantity"]
            # A table row (first cell the quantity) or a sentence that starts with it.
            shown = [line for line in marked if line.startswith(f"| {quantity} |")
                     or line.lower().startswith(quantity.lower())]
            assert shown, f"{name}: '{quantity}' is not reproduced, but experiments/README.md does not say so"
        # The report says 'not reproduced' exactly as often as its JSON has false rows (the quoted
        # legend of the verdict words aside): the two are drawn from the same rows.
        failures = sum(row["reproduced"] is False for row in rows)
        text = (RESULTS / f"{name}.md").read_text()
        assert text.count("**not reproduced**") - text.count("'**not reproduced**'") == failures, name
