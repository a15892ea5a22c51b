"""Intervals on predictions (issue 20): coverage by simulation, nesting, and the errors.

Oracle: the truth. Tables are drawn from Epoch's Chinchilla law with log-normal noise, fitted
with a bootstrap, and fresh runs are drawn from the same law and noise, inside the fitted
compute range and at 4x its largest compute; the 90% prediction interval must cover between
80% and 97% of them (the issue's band; sampling error at 450 runs is about 1.4%).
"""

import json

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


# --- Plans under uncertainty --------------------------------------------------------------------

def _distillation_fit(path, replicates):
    from distlaw.laws import PAPER_DISTILLATION, PAPER_SUPERVISED

    names = list(PAPER_DISTILLATION)
    record = {"law": "distillation", "params": dict(PAPER_DISTILLATION), "supervised": dict(PAPER_SUPERVISED),
              "bootstrap_samples": {"names": names, "values": [[r[n] for n in names] for r in replicates]}}
    path.write_text(json.dumps(record))
    return str(path)


def _perturbed(count, seed):
    from distlaw.laws import PAPER_DISTILLATION

    rng = np.random.default_rng(seed)
    return [{n: v * float(np.exp(0.03 * rng.standard_normal())) for n, v in PAPER_DISTILLATION.items()}
            for _ in range(count)]


SIZES, BUDGETS = [3e8, 2e9], [1e19, 1e21, 1e23]
SCENARIOS = ["supervised", "best-case", "teacher-inference", "teacher-pretraining"]


def test_p_distill_better_is_the_share_of_replicates_whose_own_plan_beats_supervised(tmp_path):
    """Oracle: every replicate planned on its own (a fit holding only its coefficients)."""
    from distlaw.planning.plans import plan_records

    replicates = _perturbed(8, seed=3)
    rows = plan_records(SIZES, BUDGETS, fit=_distillation_fit(tmp_path / "fit.json", replicates),
                        scenarios=SCENARIOS)
    alone = []
    for k, replicate in enumerate(replicates):
        single = _distillation_fit(tmp_path / f"r{k}.json", [])
        record = json.loads(open(single).read())
        record["params"] = replicate
        (tmp_path / f"r{k}.json").write_text(json.dumps(record))
        alone.append(plan_records(SIZES, BUDGETS, fit=single, scenarios=SCENARIOS))
    for index, row in enumerate(rows):
        assert row["student_loss_lo"] is None or row["student_loss_lo"] <= (row["student_loss"] or np.inf)
        if row["scenario"] == "supervised":
            assert row["p_distill_better"] is None
            continue
        losses = np.array([np.inf if a[index]["student_loss"] is None else a[index]["student_loss"] for a in alone])
        assert row["p_distill_better"] == pytest.approx(np.mean(losses < row["supervised_loss"]), abs=1e-12)
        assert 0.0 <= row["p_distill_better"] <= 1.0
        if row["student_loss"] is not None:
            assert row["student_loss_lo"] <= row["student_loss"] <= row["student_loss_hi"]
            finite = losses[np.isfinite(losses)]
            assert row["student_loss_hi"] == pytest.approx(max(np.quantile(finite, 0.95), row["student_loss"]),
                                                           rel=1e-9)
    # The replicates disagree somewhere (else the oracle above tests nothing uncertain).
    assert any(0 < r["p_distill_better"] < 1 for r in rows if r["scenario"] != "supervised")


def test_replicates_that_agree_give_certain_answers(tmp_path):
    from distlaw.laws import PAPER_DISTILLATION
    from distlaw.planning.plans import plan_records

    rows = plan_records(SIZES, BUDGETS, fit=_distillation_fit(tmp_path / "fit.json", [PAPER_DISTILLATION] * 5),
                        scenarios=SCENARIOS)
    for row in (r for r in rows if r["scenario"] != "supervised" and r["student_loss"] is not None):
        assert row["p_distill_better"] == float(row["student_loss"] < row["supervised_loss"])
        assert row["student_loss_lo"] == pytest.approx(row["student_loss"], rel=1e-12)
        assert row["student_loss_hi"] == pytest.approx(row["student_loss"], rel=1e-12)
    assert {r["p_distill_better"] for r in rows if r["scenario"] != "supervised"} <= {0.0, 1.0}


def test_atlas_plan_tables_gain_the_same_columns(tmp_path):
    """Oracle: distlaw.plan_records on the same fit and problems."""
    import distlaw
    from distlaw.planning.plans import plan_records

    fit = _distillation_fit(tmp_path / "fit.json", _perturbed(6, seed=4))
    (tmp_path / "sweep.toml").write_text(
        f'law = "{fit}"\noutput = "atlas"\n[plan]\nstudent_params = {{values = [3e8, 2e9]}}\n'
        'budget = {values = [1e19, 1e21, 1e23]}\nscenarios = ["supervised", "teacher-inference"]\n')
    table = distlaw.build_atlas(tmp_path / "sweep.toml").to_pandas("plan")
    rows = plan_records(SIZES, BUDGETS, fit=fit, scenarios=["supervised", "teacher-inference"])
    for row in (r for r in rows if r["scenario"] == "teacher-inference"):
        match = table[(table["scenario"] == "teacher-inference") & (table["student_params"] == row["student_params"])
                      & (table["budget"] == row["budget"])]
        assert float(match["p_distill_better"].iloc[0]) == pytest.approx(row["p_distill_better"], abs=1e-12)
        assert float(match["student_loss_hi"].iloc[0]) == pytest.approx(row["student_loss_hi"], rel=1e-12)
