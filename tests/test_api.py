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
