"""The Python API the CLI is a shell over: ScalingLaw(...).fit(...) -> FitReport."""

import json

import numpy as np
import pytest

from distlaw import FitReport, ScalingLaw
from distlaw.laws import EPOCH_CHINCHILLA, LAWS, PAPER_SUPERVISED, predict_loss
from distlaw.synthetic import chinchilla_table, distillation_table


def test_a_dataframe_with_a_nan_loss_names_the_row():
    frame = chinchilla_table(EPOCH_CHINCHILLA, 40, noise=0.01, seed=1)
    frame.loc[6, "loss"] = np.nan
    with pytest.raises(ValueError, match=r"DataFrame: column 'loss', row 7: value is NaN"):
        ScalingLaw("chinchilla").fit(frame)


def test_fit_holdout_bootstrap_save_load_predict(tmp_path):
    frame = chinchilla_table(EPOCH_CHINCHILLA, 120, noise=0.01, seed=2)
    report = ScalingLaw("chinchilla", huber_delta=1e-3, starts=64).fit(frame, holdout="params > 5e9", bootstrap=16)
    assert report.holdout["n"] == int((frame.params > 5e9).sum())
    assert report.record["n_runs"] == len(frame) - report.holdout["n"]
    assert set(report.intervals) == set(report.params) and report.record["bootstrap_failed"] == 0
    path = report.save(tmp_path / "fit.json")
    loaded = FitReport.load(path)
    assert loaded.record == json.loads(path.read_text()) and loaded.params == report.params
    # predict: arrays and frames alike, equal to the law at the saved coefficients
    spec = LAWS["chinchilla"]
    expected = np.asarray(predict_loss(spec, spec.from_natural(report.params), frame.params.to_numpy(),
                                       frame.tokens.to_numpy()))
    np.testing.assert_allclose(loaded.predict((frame.params.to_numpy(), frame.tokens.to_numpy())), expected, rtol=1e-14)
    np.testing.assert_allclose(loaded.predict(frame), expected, rtol=1e-14)


def test_groups_and_constraints_through_the_api():
    frame = chinchilla_table(EPOCH_CHINCHILLA, 120, noise=0.01, seed=3)
    frame["family"] = np.where(np.arange(len(frame)) % 2 == 0, "a", "b")
    report = ScalingLaw("chinchilla", huber_delta=1e-3, starts=64, ties={"beta": "alpha"},
                        bounds={"alpha": (0.0, 0.3)}).fit(frame, group_by="family")
    assert [g["key"] for g in report.groups] == [{"family": "a"}, {"family": "b"}]
    assert report.params["alpha"] == report.params["beta"] <= 0.3
    assert report.record["ties"] == {"beta": "alpha"} and report.record["bounds"]["alpha"] == [0.0, 0.3]


def test_distillation_needs_a_supervised_law_and_accepts_a_frame_of_supervised_runs():
    runs = distillation_table(150, seed=5)
    with pytest.raises(ValueError, match="needs --supervised"):
        ScalingLaw("distillation").fit(runs)
    supervised_runs = chinchilla_table(PAPER_SUPERVISED, 100, noise=0.003, seed=6)
    report = ScalingLaw("distillation", starts=64, supervised=supervised_runs).fit(runs)
    assert report.record["supervised_fit"]["n_runs"] == 100
    assert report.record["supervised"] == report.record["supervised_fit"]["params"]


def test_plan_frame_matches_the_planner_and_the_cli_json(capsys):
    """distlaw.plan is what `distlaw plan --json` prints, and each row is planning.allocate's answer."""
    import distlaw
    from distlaw import planning
    from distlaw.cli import main
    from distlaw.plans import load_planning_laws

    frame = distlaw.plan([3e8, 1e9], [1e21, 1e22], scenarios=["supervised", "teacher-inference"])
    assert len(frame) == 2 * 2 * 2 and set(frame.scenario) == {"supervised", "teacher-inference"}
    row = frame[(frame.student_params == 1e9) & (frame.budget == 1e22) & (frame.scenario == "teacher-inference")].iloc[0]
    oracle = planning.allocate(load_planning_laws("paper"), 1e9, 1e22, 1.0, 0.0)
    assert row.student_loss == pytest.approx(float(oracle.student_loss), abs=1e-12)
    assert main(["plan", "--student-params", "3e8,1e9", "--budget", "1e21,1e22", "--scenario", "teacher-inference",
                 "--json"]) == 0
    cli_rows = json.loads(capsys.readouterr().out)
    api_rows = distlaw.plan_records([3e8, 1e9], [1e21, 1e22], scenarios="teacher-inference")
    assert cli_rows == api_rows


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"scenarios": "best"}, "InputError", "unknown scenario 'best'"),
    ({"logit_cost": 2.0}, "InputError", "--logit-cost must be in [0, 1]"),
    ({"teacher_loss": 1.0, "teacher_params": 7e9}, "InfeasibleError", "must exceed the supervised law's irreducible"),
    ({"fit": "no-such.json"}, "FitFileError", "no-such.json: no such fit file"),
])
def test_plan_refuses_bad_requests_with_the_hierarchy(kwargs, error, message):
    import distlaw
    from distlaw import errors

    with pytest.raises(getattr(errors, error)) as caught:
        distlaw.plan(1e9, 1e21, **kwargs)
    assert message in str(caught.value)
    assert isinstance(caught.value, errors.DistlawError) and isinstance(caught.value, ValueError)


def test_build_atlas_from_a_sweep_object_and_read_it_back(tmp_path):
    """Build from a Sweep (no file), then read through Atlas: the manifest's files only, filters,
    and the same rows as reading the folder with pandas."""
    import dataclasses

    import pandas as pd

    import distlaw
    from distlaw.errors import AtlasError
    from distlaw.sweep import load_sweep

    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text('law = "paper"\noutput = "ignored"\n[loss]\nstudent_params = {values = [3e8, 1e9]}\n'
                          'student_tokens = {min = 1e9, max = 1e12, count = 5}\nteacher_loss = {values = [2.0, 2.5]}\n'
                          '[plan]\nstudent_params = {values = [3e8, 1e9]}\nbudget = {min = 1e20, max = 1e22, count = 3}\n'
                          'scenarios = ["supervised", "best-case"]\n')
    sweep = dataclasses.replace(load_sweep(sweep_file), output=tmp_path / "atlas")
    built = distlaw.build_atlas(sweep)
    assert built.tables == ["loss", "plan", "contours"] and built.rows("loss") == 2 * 5 * 2
    atlas = distlaw.Atlas(tmp_path / "atlas")
    assert atlas.law["params"] == built.law["params"] and atlas.sweep == built.sweep
    loss = atlas.to_pandas("loss")
    folder = pd.read_parquet(tmp_path / "atlas" / "loss")
    assert len(loss) == len(folder) == 20
    assert sorted(loss.student_loss) == sorted(folder.student_loss)
    best = atlas.to_pandas("plan", filter=("scenario", "==", "best-case"))
    assert len(best) == 6 and set(best.scenario) == {"best-case"}
    assert atlas.to_arrow("loss", columns=["student_loss"]).num_columns == 1
    # A stray file in the folder is not part of the atlas.
    stray = tmp_path / "atlas" / "loss" / "student_size_index=0" / "part-99999.parquet"
    stray.write_bytes((tmp_path / "atlas" / "loss" / "student_size_index=0" / "part-00000.parquet").read_bytes())
    assert len(distlaw.Atlas(tmp_path / "atlas").to_pandas("loss")) == 20
    with pytest.raises(AtlasError, match="no 'uncertainty' table"):
        atlas.to_pandas("uncertainty")
    (tmp_path / "atlas" / "manifest.json").unlink()
    with pytest.raises(AtlasError, match="not a finished atlas"):
        distlaw.Atlas(tmp_path / "atlas")
