"""Combinations of coefficients (FIT.json ``derived``) and the distillation law's ridge (issue 22)."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest

from distlaw import ScalingLaw
from distlaw.laws import PAPER_DISTILLATION, PAPER_SUPERVISED
from distlaw.laws.synthetic import distillation_table, generate

PAPER_ALPHA_GAMMA = PAPER_DISTILLATION["alpha"] * PAPER_DISTILLATION["gamma"]  # 0.2452


def _narrow_distillation_table():
    """Issue 22's real-sized table: 328 runs, students 143M-1.8B, teacher losses 1.9-2.75."""
    frame = distillation_table(700, noise=0.003, seed=0)
    frame = frame[(frame.student_params >= 1.4e8) & (frame.student_params <= 1.9e9)
                  & (frame.teacher_loss >= 1.9) & (frame.teacher_loss <= 2.75)]
    return frame.sample(328, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def narrow_fit():
    frame = _narrow_distillation_table()
    return frame, ScalingLaw("distillation", supervised="paper").fit(frame)


def test_a_fixed_gamma_gives_gamma_times_alpha():
    """Closed form: with gamma fixed, alpha gamma is linear in alpha, so its standard error is
    gamma times alpha's (the delta method has nothing else to add)."""
    frame = generate("supervised", 240, seed=3)
    gamma = PAPER_SUPERVISED["gamma"]
    fit = ScalingLaw("supervised", fixed={"gamma": gamma}).fit(frame)
    derived = fit.record["derived"]
    assert derived["alpha_gamma"]["value"] == pytest.approx(fit.params["alpha"] * gamma, rel=1e-12)
    assert derived["alpha_gamma"]["std_error"] == pytest.approx(gamma * fit.std_errors["alpha"], rel=1e-5)
    assert derived["beta_gamma"]["std_error"] == pytest.approx(gamma * fit.std_errors["beta"], rel=1e-5)


def test_every_group_gets_its_own_combinations():
    """The same closed form per group: each group's alpha gamma is its own alpha times gamma,
    with gamma times its own alpha's standard error, not the pooled fit's."""
    import pandas as pd

    gamma = PAPER_SUPERVISED["gamma"]
    frame = pd.concat([generate("supervised", 160, seed=5).assign(family="a"),
                       generate("supervised", 160, seed=6, noise=0.02).assign(family="b")], ignore_index=True)
    fit = ScalingLaw("supervised", fixed={"gamma": gamma}).fit(frame, group_by="family")
    groups = fit.record["groups"]
    assert len(groups) == 2
    for group in groups:
        derived = group["derived"]["alpha_gamma"]
        assert derived["value"] == pytest.approx(group["params"]["alpha"] * gamma, rel=1e-12)
        assert derived["std_error"] == pytest.approx(gamma * group["std_errors"]["alpha"], rel=1e-5)
    assert groups[0]["derived"]["alpha_gamma"]["value"] != groups[1]["derived"]["alpha_gamma"]["value"]
    assert groups[1]["derived"]["alpha_gamma"]["std_error"] > groups[0]["derived"]["alpha_gamma"]["std_error"]


def test_bootstrap_intervals_of_combinations_are_the_replicates_percentiles():
    """Oracle: the percentiles of alpha * gamma over the replicates FIT.json stores."""
    frame = generate("supervised", 120, seed=4)
    fit = ScalingLaw("supervised").fit(frame, bootstrap=24, ci=0.8)
    samples = fit.record["bootstrap_samples"]
    columns = dict(zip(samples["names"], np.asarray(samples["values"]).T, strict=True))
    products = columns["alpha"] * columns["gamma"]
    lo, hi = fit.record["derived"]["alpha_gamma"]["interval"]
    assert lo == pytest.approx(np.quantile(products, 0.1), rel=1e-12)
    assert hi == pytest.approx(np.quantile(products, 0.9), rel=1e-12)


def test_the_ridge_pins_the_effective_exponent_not_its_factors(narrow_fit):
    """On issue 22's table alpha' and gamma' trade off along the ridge (flagged), while their
    product is pinned, and lies near the paper's 0.321 x 0.764 that drew the table."""
    _, fit = narrow_fit
    assert {"alpha", "gamma"} <= set(fit.unidentified)
    entry = fit.record["derived"]["alpha_gamma"]
    assert entry["identified"] is True and entry["std_error"] < 0.02
    assert abs(entry["value"] - PAPER_ALPHA_GAMMA) < max(4 * entry["std_error"], 0.01)
