"""Which runs next (issue 21): the cap and limits hold, the greedy choice against brute force,
and where the suggested runs help.

Oracle for the criterion: the linearized variance g^T I^-1 g recomputed here from the Chinchilla
form's gradient written out in NumPy (no JAX, no distlaw code), I = sum j j^T / sigma^2.
"""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from distlaw import ScalingLaw
from distlaw.laws import EPOCH_CHINCHILLA as C
from distlaw.laws.synthetic import chinchilla_table
from distlaw.planning.design import Limits, suggest


@pytest.fixture(scope="module")
def case():
    table = chinchilla_table(C, 60, noise=0.01, seed=8)
    fit = ScalingLaw("chinchilla", huber_delta=1e-3, starts=128).fit(table)
    return fit, table


def gradient(params, n, d):
    """d log L / d (log E, log A, log B, alpha, beta) for L = E + A/N^alpha + B/D^beta."""
    e, a, b, alpha, beta = (params[k] for k in ("E", "A", "B", "alpha", "beta"))
    terms = np.stack([np.full_like(n, e), a / n**alpha, b / d**beta])
    share = terms / terms.sum(axis=0)
    return np.stack([share[0], share[1], share[2], -share[1] * np.log(n), -share[2] * np.log(d)], axis=1)


def variance(fit, table, extra_n, extra_d, target):
    sigma = fit.record["residual_scale"]
    n = np.concatenate([table["params"].to_numpy(), extra_n])
    d = np.concatenate([table["tokens"].to_numpy(), extra_d])
    j = gradient(fit.params, n, d)
    g = gradient(fit.params, np.array([target[0]]), np.array([target[1]]))[0]
    return float(g @ np.linalg.solve(j.T @ j / sigma**2, g))


@pytest.mark.parametrize("target, cap, limits", [
    ("params=7e10,tokens=1.4e12", 2e21, Limits()),
    ("params=1e9,tokens=2e10", 5e19, Limits(max_params=2e9, min_tokens=5e9)),
    ("compute-optimal:1e24", 1e21, Limits(min_tokens_per_param=10, max_tokens_per_param=100)),
])
def test_the_cap_and_the_limits_always_hold(case, target, cap, limits):
    fit, table = case
    result = suggest(fit, table, [target], 5, cap, limits=limits)
    runs = result.runs
    assert len(runs) == 5 and runs["flops"].sum() <= cap * (1 + 1e-12)
    np.testing.assert_allclose(runs["flops"], 6 * runs["params"] * runs["tokens"], rtol=1e-12)
    ratio = table["tokens"] / table["params"]
    low = {"params": limits.min_params or table["params"].min(), "tokens": limits.min_tokens or table["tokens"].min(),
           "ratio": limits.min_tokens_per_param or ratio.min() / 2}
    high = {"params": limits.max_params or 4 * table["params"].max(),
            "tokens": limits.max_tokens or 4 * table["tokens"].max(),
            "ratio": limits.max_tokens_per_param or ratio.max() * 2}
    values = {"params": runs["params"], "tokens": runs["tokens"], "ratio": runs["tokens"] / runs["params"]}
    for name, value in values.items():
        assert (value >= low[name] * (1 - 1e-9)).all() and (value <= high[name] * (1 + 1e-9)).all(), name
    assert result.target_sd_after <= result.target_sd_now
    assert np.all(np.diff(runs["target_sd_after"]) <= 1e-15)


def test_the_reported_variance_is_the_linearized_variance(case):
    fit, table = case
    target = (7e10, 1.4e12)
    result = suggest(fit, table, ["params=7e10,tokens=1.4e12"], 4, 2e21)
    assert result.target_sd_now == pytest.approx(math.sqrt(variance(fit, table, [], [], target)), rel=1e-6)
    after = variance(fit, table, result.runs["params"].to_numpy(), result.runs["tokens"].to_numpy(), target)
    assert result.target_sd_after == pytest.approx(math.sqrt(after), rel=1e-6)


def test_a_pool_of_12_choosing_3_is_within_10_percent_of_the_best_subset(case):
    fit, table = case
    rng = np.random.default_rng(4)
    n = np.exp(rng.uniform(np.log(5e7), np.log(2e10), 12))
    d = n * np.exp(rng.uniform(np.log(3), np.log(300), 12))
    pool = pd.DataFrame({"params": n, "tokens": d, "cost": 6 * n * d})
    cap = float(np.sort(pool["cost"])[-3:].sum() * 0.6)  # binding: the three largest runs do not fit
    target = (7e10, 1.4e12)
    result = suggest(fit, table, ["params=7e10,tokens=1.4e12"], 3, cap, candidates=pool)
    chosen = variance(fit, table, result.runs["params"].to_numpy(), result.runs["tokens"].to_numpy(), target)
    best = min(variance(fit, table, n[list(s)], d[list(s)], target) for s in itertools.combinations(range(12), 3)
               if pool["cost"].to_numpy()[list(s)].sum() <= cap)
    assert len(list(itertools.combinations(range(12), 3))) == 220
    assert chosen <= 1.10 * best, (chosen, best)


def test_a_target_inside_the_runs_gains_less_than_one_far_outside(case):
    fit, table = case
    inside = suggest(fit, table, ["params=3e8,tokens=6e9"], 6, 2e21)
    outside = suggest(fit, table, ["params=7e10,tokens=1.4e12"], 6, 2e21)

    def gain(r):
        return 1 - r.target_sd_after / r.target_sd_now

    assert gain(inside) < gain(outside), (gain(inside), gain(outside))


def test_scheduled_runs_count_as_in_hand(case):
    fit, table = case
    first = suggest(fit, table, ["params=7e10,tokens=1.4e12"], 3, 2e21)
    then = suggest(fit, table, ["params=7e10,tokens=1.4e12"], 3, 2e21, exclude=first.runs[["params", "tokens"]])
    assert then.target_sd_now == pytest.approx(first.target_sd_after, rel=1e-9)


def test_suggest_from_the_cli(case, tmp_path):
    import subprocess
    import sys

    fit, table = case
    fit.save(tmp_path / "fit.json")
    table.to_csv(tmp_path / "runs.csv", index=False)
    done = subprocess.run([sys.executable, "-m", "distlaw", "suggest", "fit.json", "--runs", "runs.csv", "--target",
                           "params=7e10,tokens=1.4e12", "--count", "6", "--max-flops", "2e21", "-o", "next.csv"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "now" in done.stdout and "after" in done.stdout
    assert len(pd.read_csv(tmp_path / "next.csv")) == 6
    bad = subprocess.run([sys.executable, "-m", "distlaw", "suggest", "fit.json", "--runs", "runs.csv", "--target",
                          "params=7e10", "--count", "6", "--max-flops", "2e21", "-o", "next.csv"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "give params, tokens as positive numbers" in bad.stderr, bad.stderr


def test_a_distillation_fit_gets_student_runs_with_the_teachers_in_hand(tmp_path):
    """Distillation: candidates are student sizes and tokens with the table's teachers; the cost
    adds the teacher's logits (2 N_T D_S); the cap holds and the target's variance falls."""
    from distlaw.laws.synthetic import distillation_table

    table = distillation_table(240, seed=5)
    fit = ScalingLaw("distillation", supervised="paper", starts=256).fit(table)
    result = suggest(fit, table, ["student_params=3e9,student_tokens=6e10,teacher_loss=2.2"], 4, 5e20)
    runs = result.runs
    assert set(runs["teacher_loss"]) <= set(table["teacher_loss"])
    teacher = table.drop_duplicates("teacher_loss").set_index("teacher_loss")["teacher_params"]
    expected = 6 * runs["student_params"] * runs["student_tokens"] + 2 * teacher[runs["teacher_loss"]].to_numpy() \
        * runs["student_tokens"]
    np.testing.assert_allclose(runs["flops"], expected, rtol=1e-12)
    assert runs["flops"].sum() <= 5e20 and result.target_sd_after < result.target_sd_now
    with pytest.raises(Exception, match="compute-optimal targets are for laws of params and tokens"):
        suggest(fit, table, ["compute-optimal:1e23"], 2, 5e20)


def test_targets_from_a_csv_are_the_same_as_given_one_by_one(case, tmp_path):
    fit, table = case
    points = pd.DataFrame({"params": [7e10, 3e10], "tokens": [1.4e12, 6e11]})
    points.to_csv(tmp_path / "targets.csv", index=False)
    by_file = suggest(fit, table, [str(tmp_path / "targets.csv")], 3, 2e21)
    by_hand = suggest(fit, table, ["params=7e10,tokens=1.4e12", "params=3e10,tokens=6e11"], 3, 2e21)
    assert by_file.target_sd_now == by_hand.target_sd_now and by_file.runs.equals(by_hand.runs)


def test_the_bootstrap_criterion_starts_from_the_replicates_spread(tmp_path):
    """Oracle: the target's variance before any new run is the replicates' sample variance of
    its log prediction (ddof 1), recomputed here from FIT.json's bootstrap_samples."""
    from distlaw.laws import LAWS, predict_loss

    table = chinchilla_table(C, 60, noise=0.01, seed=8)
    fit = ScalingLaw("chinchilla", huber_delta=1e-3, starts=128).fit(table, bootstrap=40)
    result = suggest(fit, table, ["params=7e10,tokens=1.4e12"], 4, 2e21, criterion="bootstrap")
    spec = LAWS["chinchilla"]
    names, values = fit.record["bootstrap_samples"]["names"], fit.record["bootstrap_samples"]["values"]
    logs = [math.log(float(predict_loss(spec, spec.from_natural(dict(zip(names, row))), 7e10, 1.4e12)))
            for row in values]
    assert result.target_sd_now == pytest.approx(float(np.std(logs, ddof=1)), rel=1e-9)
    assert result.runs["flops"].sum() <= 2e21 and result.target_sd_after < result.target_sd_now
    with pytest.raises(Exception, match="needs a fit made with --bootstrap"):
        suggest(ScalingLaw("chinchilla", starts=64).fit(table), table, ["params=7e10,tokens=1.4e12"], 2, 2e21,
                criterion="bootstrap")
