"""A small version of every experiment runs and reports (the full run: experiments/run_all.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.mark.slow
def test_experiments_run_in_quick_mode(tmp_path):
    pytest.importorskip("matplotlib")
    result = subprocess.run([sys.executable, str(EXPERIMENTS / "run_all.py"), "--quick", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    readme = (tmp_path / "README.md").read_text()
    for name in ("paper_coefficients", "fitting_synthetic", "real_runs", "errata"):
        assert (tmp_path / f"{name}.md").exists(), name
    assert "reproduced" in readme
    for link in [line.split("](")[1].split(")")[0] for line in readme.splitlines() if "![" in line]:
        assert (tmp_path / link).exists(), link
