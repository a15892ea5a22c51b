"""Edges users hit (issue 22, section 3): an underdetermined fit, an infeasible supervised plan
printed as the JSON says, a plan-only atlas's closing line, two atlas runs on one folder."""

import json
import subprocess
import sys

import pytest

from distlaw import ScalingLaw
from distlaw.errors import AtlasError, InputError
from distlaw.laws import EPOCH_CHINCHILLA
from distlaw.laws.synthetic import chinchilla_table


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "distlaw", *map(str, args)], cwd=cwd, capture_output=True, text=True)


def test_a_fit_with_fewer_runs_than_coefficients_is_refused(tmp_path):
    table = chinchilla_table(EPOCH_CHINCHILLA, 3, noise=0.01, seed=1)
    with pytest.raises(InputError, match="3 runs cannot determine the chinchilla law's 5 free coefficients: it needs "
                                         "at least 5 runs"):
        ScalingLaw("chinchilla").fit(table)
    table.to_csv(tmp_path / "three.csv", index=False)
    done = run_cli("fit", "three.csv", "--law", "chinchilla", "-o", "fit.json", cwd=tmp_path)
    assert done.returncode == 2 and "needs at least 5 runs" in done.stderr and not (tmp_path / "fit.json").exists()
    # Fixing coefficients leaves fewer to determine: 2 free, 3 runs.
    fit = ScalingLaw("chinchilla", fixed={"alpha": 0.35, "beta": 0.37, "E": 1.8}).fit(table)
    assert fit.params["alpha"] == 0.35


def test_a_group_with_too_few_runs_is_named(tmp_path):
    table = chinchilla_table(EPOCH_CHINCHILLA, 40, noise=0.01, seed=1)
    table["mix"] = ["a"] * 36 + ["b"] * 4
    with pytest.raises(InputError, match="4 runs, group mix=b cannot determine"):
        ScalingLaw("chinchilla", starts=32).fit(table, group_by="mix")


def test_an_infeasible_supervised_plan_prints_as_its_json_says(tmp_path):
    text = run_cli("plan", "--student-params", "1e9", "--budget", "1e15", cwd=tmp_path).stdout
    rows = json.loads(run_cli("plan", "--student-params", "1e9", "--budget", "1e15", "--json", cwd=tmp_path).stdout)
    supervised = next(r for r in rows if r["scenario"] == "supervised")
    assert supervised["feasible"] is False
    line = next(line for line in text.splitlines() if " supervised " in line)
    assert "infeasible" in line


def test_a_plan_only_atlas_names_the_tables_it_wrote(tmp_path):
    (tmp_path / "plan.toml").write_text('law = "paper"\noutput = "atlas"\n[plan]\nstudent_params = {values = [1e9]}\n'
                                        'budget = {values = [1e21, 1e22]}\nscenarios = ["supervised"]\n')
    done = run_cli("atlas", "plan.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    closing = done.stdout.strip().splitlines()[-1]
    assert "to_pandas('plan')" in closing and "'loss'" not in closing


def test_a_second_atlas_run_on_a_busy_folder_is_refused(tmp_path):
    from filelock import FileLock

    import distlaw

    (tmp_path / "plan.toml").write_text('law = "paper"\noutput = "atlas"\n[plan]\nstudent_params = {values = [1e9]}\n'
                                        'budget = {values = [1e21]}\nscenarios = ["supervised"]\n')
    (tmp_path / "atlas").mkdir()
    with FileLock(str(tmp_path / "atlas" / ".distlaw-atlas.process-0-of-1.lock")):  # another run holds it
        with pytest.raises(AtlasError, match="another distlaw atlas is writing this folder"):
            distlaw.build_atlas(tmp_path / "plan.toml")
    atlas = distlaw.build_atlas(tmp_path / "plan.toml")  # free again: it runs
    assert atlas.rows("plan") == 1
