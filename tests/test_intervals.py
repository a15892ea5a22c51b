"""Intervals on predictions (issue 20): coverage by simulation, nesting, and the errors.

Oracle: the truth. Tables are drawn from Epoch's Chinchilla law with log-normal noise, fitted
with a bootstrap, and fresh runs are drawn from the same law and noise, inside the fitted
compute range and at 4x its largest compute; the 90% prediction interval must cover between
80% and 97% of them (the issue's band; sampling error at 450 runs is about 1.4%).
"""

import numpy as np
import pandas as pd
import pytest

from distlaw import ScalingLaw
from distlaw.errors import FitFileError, InputError
from distlaw.fitting import intervals
from distlaw.laws import EPOCH_CHINCHILLA as C
from distlaw.laws.synthetic import chinchilla_table

NOISE = 0.02


def truth(n, d):
    return C["E"] + C["A"] / n ** C["alpha"] + C["B"] / d ** C["beta"]


def fresh_runs(n, d, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"params": n, "tokens": d, "loss": truth(n, d) * np.exp(NOISE * rng.standard_normal(len(n)))})


@pytest.fixture(scope="module")
def fit():
    table = chinchilla_table(C, 180, noise=NOISE, seed=21)
    return ScalingLaw("chinchilla", huber_delta=1e-3).fit(table, bootstrap=200), table


def _coverage(result, runs):
    out = result.predictions(runs, interval=0.9)
    inside = (out["loss"] >= out["prediction_lo"]) & (out["loss"] <= out["prediction_hi"])
    return float(inside.mean()), out


def test_the_90_percent_prediction_interval_covers_80_to_97_percent_inside_the_fitted_range(fit):
    result, table = fit
    again = chinchilla_table(C, 450, noise=NOISE, seed=99)  # the same design, new noise
    coverage, out = _coverage(result, again[["params", "tokens", "loss"]])
    assert 0.80 <= coverage <= 0.97, coverage
    assert result.record["residual_scale"] == pytest.approx(NOISE, rel=0.25)


def test_the_90_percent_prediction_interval_covers_80_to_97_percent_at_4x_the_largest_compute(fit):
    result, table = fit
    budget = 4 * table["flops"].max()
    n = np.exp(np.random.default_rng(5).uniform(np.log(3e8), np.log(3e10), 450))  # 3 to 3,000 tokens per param
    coverage, out = _coverage(result, fresh_runs(n, budget / (6 * n), seed=6))
    assert 0.80 <= coverage <= 0.97, coverage


def test_intervals_nest_around_the_point_prediction(fit):
    result, table = fit
    out = result.predictions(table, interval=0.9)
    assert (out["prediction_lo"] <= out["confidence_lo"]).all() and (out["confidence_lo"] <= out["predicted_loss"]).all()
    assert (out["predicted_loss"] <= out["confidence_hi"]).all() and (out["confidence_hi"] <= out["prediction_hi"]).all()
    assert (out["prediction_hi"] - out["prediction_lo"] > out["confidence_hi"] - out["confidence_lo"]).all()
    wider = result.predictions(table, interval=0.99)
    assert (wider["prediction_hi"] >= out["prediction_hi"]).all() and (wider["prediction_lo"] <= out["prediction_lo"]).all()


def test_the_mixture_quantile_is_the_normal_quantile_when_replicates_agree():
    """Oracle: with every replicate equal, the mixture is one normal: mu +- z sigma."""
    mu = np.full((50, 3), 1.25)
    q = intervals._mixture_quantile(mu, 0.02, 0.95)
    np.testing.assert_allclose(q, 1.25 + 1.6448536269514722 * 0.02, rtol=1e-12)


def test_intervals_need_replicates_and_a_level(fit, tmp_path):
    result, table = fit
    plain = ScalingLaw("chinchilla", huber_delta=1e-3, starts=64).fit(table)
    with pytest.raises(FitFileError, match="--bootstrap"):
        plain.predictions(table, interval=0.9)
    with pytest.raises(InputError, match="coverage in"):
        result.predictions(table, interval=90)
