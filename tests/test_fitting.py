"""Fits recover known laws, never lose to SciPy on the same objective, and batch correctly."""

import json

import numpy as np
import pytest
from conftest import FULL
from reference import chinchilla_value_and_grad, scipy_huber_least_squares, scipy_multistart

from distlaw import fitting
from distlaw.fitting import solver, starts
from distlaw.laws import EPOCH_CHINCHILLA, LAWS, PAPER_DISTILLATION, PAPER_SUPERVISED, predict_loss
from distlaw.laws.synthetic import chinchilla_table, distillation_table

CHIN = LAWS["chinchilla"]
SUP = LAWS["supervised"]
DIST = LAWS["distillation"]
OBJECTIVE_RTOL = 1e-9  # distlaw may not end above SciPy's best by more than rounding


def _data(spec, frame, **kw):
    return fitting.fit_data(spec, {c: frame[c].to_numpy() for c in frame.columns}, **kw)


def test_huber_objective_matches_numpy_reference():
    frame = chinchilla_table(EPOCH_CHINCHILLA, 60, noise=0.02, seed=3)
    data = _data(CHIN, frame)
    theta = np.array([0.5, 6.0, 7.0, 0.3, 0.35])
    import jax

    value, grad = jax.value_and_grad(fitting.HuberObjective("chinchilla", 1e-3))(theta, data)
    ref_value, ref_grad = chinchilla_value_and_grad(theta, *map(np.asarray, (*data.log_inputs, data.log_obs, data.weights)), 1e-3)
    assert float(value) == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10)


@pytest.mark.parametrize("noise", [0.0, 0.005])
def test_chinchilla_recovers_known_coefficients(noise):
    frame = chinchilla_table(EPOCH_CHINCHILLA, 240, noise=noise, seed=1)
    result = fitting.fit(CHIN, _data(CHIN, frame), delta=1e-3)
    if noise == 0:
        for name, value in EPOCH_CHINCHILLA.items():  # exact data: exact recovery
            assert result.natural[name] == pytest.approx(value, rel=1e-5), name
    else:
        # Exponents to 0.03; the predicted loss over the table's range to 0.3%.
        assert result.natural["alpha"] == pytest.approx(EPOCH_CHINCHILLA["alpha"], abs=0.03)
        assert result.natural["beta"] == pytest.approx(EPOCH_CHINCHILLA["beta"], abs=0.03)
        truth = CHIN.from_natural(EPOCH_CHINCHILLA)
        n, d = frame.params.to_numpy(), frame.tokens.to_numpy()
        got = predict_loss(CHIN, CHIN.params_type(*result.params), n, d)
        np.testing.assert_allclose(got, predict_loss(CHIN, truth, n, d), rtol=3e-3)


def test_supervised_recovers_paper_coefficients():
    frame = chinchilla_table(PAPER_SUPERVISED, 240, noise=0.0, seed=2)
    result = fitting.fit(SUP, _data(SUP, frame), delta=1e-4)
    for name, value in PAPER_SUPERVISED.items():
        assert result.natural[name] == pytest.approx(value, rel=1e-4), name


@pytest.mark.slow
@pytest.mark.parametrize("law, coefficients, delta", [
    ("chinchilla", EPOCH_CHINCHILLA, 1e-3),
    ("supervised", PAPER_SUPERVISED, 1e-4),
])  # fmt: skip
def test_never_worse_than_scipy_on_synthetic(law, coefficients, delta):
    spec = LAWS[law]
    frame = chinchilla_table(coefficients, 240, noise=0.02, seed=5)
    data = _data(spec, frame)
    grid = starts.paper_starts(spec)
    grid = grid if FULL else grid[np.random.default_rng(0).choice(len(grid), 300, replace=False)]
    ours = fitting.fit(spec, data, grid, delta=delta)
    theirs, _, _ = scipy_multistart(law, data, grid, delta)
    assert ours.objective <= theirs * (1 + OBJECTIVE_RTOL)


def _real_tables():
    """One Chinchilla-form table per shipped study, as its authors would fit it: Muennighoff's
    runs without the mis-decoded one, Gadre's RedPajama runs, one Porian configuration (the
    same runs appear under several parameter-count conventions: never pool them)."""
    from distlaw import datasets

    muennighoff = datasets.load("muennighoff2023")
    gadre = datasets.load("gadre2024")
    porian = datasets.load("porian2024")
    return {
        "muennighoff2023": muennighoff[muennighoff.run_name != "4b284b12bc4opt2"],
        "gadre2024 rpj": gadre[gadre.dataset == "rpj"],
        "porian2024 rw step 5": porian[porian.configuration == "rw/tuned/short/const/standard/val"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", ["muennighoff2023", "gadre2024 rpj", "porian2024 rw step 5"])
def test_never_worse_than_scipy_on_real_tables(name):
    """Hoffmann et al.'s grid (every 15th start in CI), distlaw against SciPy L-BFGS-B in the
    same default box, on the same objective (delta 1e-3, as Hoffmann et al. and Epoch)."""
    frame = _real_tables()[name]
    data = _data(CHIN, frame)
    grid = starts.paper_starts(CHIN)
    grid = grid if FULL else grid[::15]
    ours = fitting.fit(CHIN, data, grid, delta=1e-3)
    theirs, _, _ = scipy_multistart("chinchilla", data, grid, 1e-3, box=fitting.constraints(CHIN))
    assert ours.objective <= theirs * (1 + OBJECTIVE_RTOL), name


@pytest.mark.slow
def test_distillation_fit_extrapolates_to_strong_students():
    """The paper's weak-to-strong check on a table of its design: fit L_S > 2.3, predict the rest."""
    frame = distillation_table(700, seed=0)
    sup = SUP.from_natural(PAPER_SUPERVISED)
    strong = (frame.student_loss <= 2.3).to_numpy()
    train = frame[~strong]
    n_starts = 2048 if FULL else 512
    result = fitting.fit(DIST, _data(DIST, train, supervised=sup), starts.design_starts(DIST, n_starts))
    truth = np.asarray(DIST.from_natural(PAPER_DISTILLATION))
    at_truth = float(fitting.HuberObjective("distillation", 1e-4)(truth, _data(DIST, train, supervised=sup)))
    assert result.objective <= at_truth  # the generating law is one candidate the fit must beat
    # Physical: every exponent non-negative (an unbounded fit found alpha' = -1.06 here), and
    # the paper's c1 flagged as not pinned down (positive control of the identifiability check).
    assert all(result.natural[name] >= 0 for name in ("alpha", "beta", "gamma", "c0"))
    assert "c1" in result.unidentified
    held = frame[strong]
    predicted = predict_loss(DIST, DIST.params_type(*result.params), held.student_params.to_numpy(),
                             held.student_tokens.to_numpy(), held.teacher_loss.to_numpy(), supervised=sup)
    assert np.max(np.abs(np.asarray(predicted) / held.student_loss.to_numpy() - 1)) < 0.01


def test_fix_holds_a_coefficient():
    frame = chinchilla_table(EPOCH_CHINCHILLA, 120, noise=0.01, seed=4)
    result = fitting.fit(CHIN, _data(CHIN, frame), delta=1e-3, fixed={"alpha": 0.3})
    assert result.natural["alpha"] == 0.3
    free = fitting.fit(CHIN, _data(CHIN, frame), delta=1e-3)
    assert result.objective >= free.objective * (1 - OBJECTIVE_RTOL)  # a constraint cannot help


def test_group_fit_equals_separate_fits():
    a = chinchilla_table(EPOCH_CHINCHILLA, 150, noise=0.01, seed=6)
    b = chinchilla_table({**EPOCH_CHINCHILLA, "alpha": 0.3, "E": 1.6}, 90, noise=0.01, seed=7)
    grid = starts.design_starts(CHIN, 256)
    together = fitting.fit_many(CHIN, fitting.stack_data([_data(CHIN, a), _data(CHIN, b)]), grid, delta=1e-3)
    for frame, grouped in zip((a, b), together, strict=True):
        alone = fitting.fit(CHIN, _data(CHIN, frame), grid, delta=1e-3)
        assert grouped.n_runs == len(frame)
        assert grouped.objective == pytest.approx(alone.objective, rel=1e-8)
        np.testing.assert_allclose(grouped.params, alone.params, rtol=1e-4, atol=1e-6)
    assert together[1].natural["alpha"] == pytest.approx(0.3, abs=0.03)


def _redrawn_fits(frame_args, n_tables, delta, starts_):
    """Fits of ``n_tables`` tables with the same design and freshly drawn noise: the sampling
    distribution of the estimator, known because the law and the noise are (optimizer space)."""
    tables = [_data(CHIN, chinchilla_table(*frame_args, seed=1000 + k)) for k in range(n_tables)]
    fits = fitting.fit_many(CHIN, fitting.stack_data(tables), starts_, delta=delta, identify=False)
    assert not any(f.failed or f.stopped_early for f in fits)
    return np.array([f.params for f in fits])


BOOT_TABLE = (EPOCH_CHINCHILLA, 120, 0.01)  # coefficients, runs, noise (log loss)


def test_bootstrap_is_reproducible_and_matches_a_scipy_resampling_reference():
    """Oracles for the bootstrap of a Chinchilla table with known noise (optimizer space: logs of
    E, A, B). (1) A plain reference on the same table, sharing no code with distlaw's bootstrap:
    NumPy draws rows with replacement and SciPy least_squares (TRF, Huber loss) refits each
    resample; the bootstraps' standard deviations and 90% interval widths agree within
    [0.8, 1.25] (at 400 replicates each, two independent references differ by at most 0.86-1.14
    on six tables: Monte Carlo error). (2) The spread of fits on 48 independently redrawn tables
    (the estimator's real sampling distribution): the bootstrap's standard deviation estimates it
    within a factor of 2. Plus: the same seed gives the same intervals, another seed others,
    and every interval covers the point fit."""
    delta, n_boot = 1e-3, 400
    frame = chinchilla_table(*BOOT_TABLE, seed=8)
    data = _data(CHIN, frame)
    point = fitting.fit(CHIN, data, delta=delta)
    one = fitting.bootstrap(CHIN, data, point, n_boot, seed=3, delta=delta)
    two = fitting.bootstrap(CHIN, data, point, n_boot, seed=3, delta=delta)
    assert one.intervals == two.intervals
    np.testing.assert_array_equal(one.samples, two.samples)
    assert one.samples.shape == (n_boot, 5) and one.n_failed == 0
    other = fitting.bootstrap(CHIN, data, point, n_boot, seed=4, delta=delta)
    assert not np.array_equal(other.samples, one.samples)
    for name, (lo, hi) in one.intervals.items():
        assert lo < hi
        assert lo <= point.natural[name] <= hi, name

    is_log = np.array([f.startswith("log_") for f in CHIN.fields])
    ours = np.where(is_log, np.log(one.samples), one.samples)
    # (1) NumPy resampling + SciPy least_squares.
    rng = np.random.default_rng(100)
    box = fitting.constraints(CHIN)
    reference = []
    for _ in range(n_boot):
        rows = frame.iloc[rng.integers(0, len(frame), len(frame))]
        result, _ = scipy_huber_least_squares(CHIN, _data(CHIN, rows), point.params[None], delta,
                                              box.lower, box.upper)
        reference.append(result.x)
    reference = np.array(reference)

    def width(x):
        lo, hi = np.quantile(x, [0.05, 0.95], axis=0)
        return hi - lo

    sd_ratio = ours.std(axis=0, ddof=1) / reference.std(axis=0, ddof=1)
    width_ratio = width(ours) / width(reference)
    assert np.all((0.8 <= sd_ratio) & (sd_ratio <= 1.25)), sd_ratio
    assert np.all((0.8 <= width_ratio) & (width_ratio <= 1.25)), width_ratio
    # The intervals sit in the same place: centres within a quarter of the reference's width.
    centre = lambda x: np.quantile(x, [0.05, 0.95], axis=0).mean(axis=0)  # noqa: E731
    assert np.all(np.abs(centre(ours) - centre(reference)) <= 0.25 * width(reference))
    # (2) The real sampling spread, from redrawn tables.
    truth = np.asarray(CHIN.from_natural(EPOCH_CHINCHILLA))
    redrawn = _redrawn_fits(BOOT_TABLE, 48, delta, np.array([truth, point.params]))
    ratio = ours.std(axis=0, ddof=1) / redrawn.std(axis=0, ddof=1)
    assert np.all((0.5 <= ratio) & (ratio <= 2.0)), ratio


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "distlaw's sandwich uses the IRLS weight min(1, delta/|r|) as the Huber curvature instead of "
    "1{|r| <= delta}: at delta = 1e-3 and 1% noise its standard errors are 2.4-3.7x below the "
    "spread of refits on redrawn tables here (2.9-4.6x below the bootstrap's on four tables)"))
def test_sandwich_standard_errors_match_the_spread_of_refits():
    """Oracle: the standard deviation of fits on 48 redrawn tables (same design, fresh noise of
    known size) is the estimator's sampling spread; ``Solution.std_errors`` (optimizer space)
    claims to approximate it. Held to a factor of 2 either way."""
    delta = 1e-3
    point = fitting.fit(CHIN, _data(CHIN, chinchilla_table(*BOOT_TABLE, seed=8)), delta=delta)
    truth = np.asarray(CHIN.from_natural(EPOCH_CHINCHILLA))
    spread = _redrawn_fits(BOOT_TABLE, 48, delta, np.array([truth, point.params])).std(axis=0, ddof=1)
    se = np.array([point.std_errors[name] for name in CHIN.natural_names])
    ratio = se / spread
    assert np.all((0.5 <= ratio) & (ratio <= 2.0)), ratio


def test_bootstrap_weights_match_explicit_resample():
    """A weight vector of resample counts is the same objective as the gathered resample."""
    import jax

    frame = chinchilla_table(EPOCH_CHINCHILLA, 50, noise=0.02, seed=9)
    counts = np.random.default_rng(0).multinomial(50, np.full(50, 1 / 50))
    weighted = fitting.fit_data(CHIN, frame, weights=counts)
    gathered = _data(CHIN, frame.iloc[np.repeat(np.arange(50), counts)])
    objective = fitting.HuberObjective("chinchilla", 1e-3)
    theta = np.array([0.6, 6.2, 7.6, 0.34, 0.36])
    assert float(objective(theta, weighted)) == pytest.approx(float(objective(theta, gathered)), rel=1e-12)
    g1, g2 = jax.grad(objective)(theta, weighted), jax.grad(objective)(theta, gathered)
    np.testing.assert_allclose(g1, g2, rtol=1e-10)


def test_a_bad_start_does_not_kill_the_fit():
    frame = chinchilla_table(EPOCH_CHINCHILLA, 80, noise=0.01, seed=10)
    grid = np.concatenate([starts.design_starts(CHIN, 64), [[np.nan] * 5, [1e300, 0, 0, 0, 0]]])
    result = fitting.fit(CHIN, _data(CHIN, frame), grid, delta=1e-3)
    assert np.isfinite(result.objective)
    assert result.status_counts.get("failed", 0) >= 1


def test_identifiability_flags_nothing_on_a_well_posed_table():
    """Negative control: 240 runs over the IsoFLOP valley pin down every Chinchilla coefficient,
    and the sandwich standard errors are finite and small."""
    frame = chinchilla_table(EPOCH_CHINCHILLA, 240, noise=0.01, seed=21)
    result = fitting.fit(CHIN, _data(CHIN, frame), delta=1e-3)
    assert result.unidentified == ()
    assert all(0 < se < 0.5 for se in result.std_errors.values()), result.std_errors


def test_identifiability_flags_what_a_one_token_count_design_cannot_separate():
    """Positive control with an exact degeneracy: every run on the same token count D makes
    E + B/D^beta one constant, so B and beta cannot be told apart from E; A and alpha can."""
    import pandas as pd

    n = np.geomspace(4e7, 1.6e10, 60)
    truth = CHIN.from_natural(EPOCH_CHINCHILLA)
    loss = np.asarray(predict_loss(CHIN, truth, n, np.full_like(n, 2e10))) * np.exp(0.005 * np.random.default_rng(0).standard_normal(len(n)))
    frame = pd.DataFrame({"params": n, "tokens": 2e10, "loss": loss})
    result = fitting.fit(CHIN, _data(CHIN, frame), delta=1e-3)
    assert {"B", "beta"} <= set(result.unidentified)
    assert "alpha" not in result.unidentified


def test_solver_reports_every_start():
    frame = chinchilla_table(EPOCH_CHINCHILLA, 60, noise=0.01, seed=11)
    data = _data(CHIN, frame)
    import jax

    grid = starts.design_starts(CHIN, 40)
    stacked = jax.tree.map(lambda x: x[None], data)
    box = fitting.constraints(CHIN)
    out = solver.minimize_starts(box.objective(1e-3), grid, np.zeros(40, int), stacked, box.lower, box.upper,
                                 solver.SolverConfig(width=16))
    assert out.value.shape == (40,)
    assert np.all(out.status != solver.RUNNING)
    # Every reported value is the objective at the reported parameters.
    objective = fitting.HuberObjective("chinchilla", 1e-3)
    for i in range(0, 40, 7):
        assert float(objective(out.params[i], data)) == pytest.approx(out.value[i], rel=1e-12)


def test_every_bootstrap_replicate_is_an_optimum_of_its_own_resample():
    """Each replicate must move to a stationary point of its resampled objective (not stay at
    the warm start), and SciPy from the replicate's answer must not find a lower objective."""
    from scipy.optimize import minimize

    frame = chinchilla_table(EPOCH_CHINCHILLA, 120, noise=0.01, seed=12)
    data = _data(CHIN, frame)
    point = fitting.fit(CHIN, data, delta=1e-3)
    samples = fitting.bootstrap(CHIN, data, point, 24, seed=4, delta=1e-3).samples
    rng = np.random.default_rng(4)  # the same resamples bootstrap drew
    counts = rng.multinomial(120, np.full(120, 1 / 120), size=24).astype(float)
    objective = fitting.HuberObjective("chinchilla", 1e-3)
    moved = 0
    for natural, weights in zip(samples, counts, strict=True):
        theta = np.asarray(CHIN.from_natural(dict(zip(CHIN.natural_names, natural, strict=True))))
        resample = data._replace(weights=weights)
        arrays = [np.asarray(a) for a in (*resample.log_inputs, resample.log_obs, resample.weights)]
        polished = minimize(chinchilla_value_and_grad, theta, args=(*arrays, 1e-3), jac=True, method="L-BFGS-B")
        assert float(objective(theta, resample)) <= polished.fun * (1 + 1e-7)
        moved += not np.allclose(theta, point.params)
    assert moved == 24


# --- Boxes, ties and the bootstrap's failure handling ------------------------------------------


@pytest.mark.parametrize("law, coefficients, delta, bounds", [
    ("chinchilla", EPOCH_CHINCHILLA, 1e-3, None),  # the default box (not binding here)
    ("chinchilla", EPOCH_CHINCHILLA, 1e-3, {"alpha": (None, 0.3), "E": (1.9, None)}),  # binding
    ("supervised", PAPER_SUPERVISED, 1e-4, {"gamma": (0.5, 0.9)}),
])  # fmt: skip
def test_bounded_fit_agrees_with_scipy_lbfgsb_in_the_same_box(law, coefficients, delta, bounds):
    spec = LAWS[law]
    frame = chinchilla_table(coefficients, 160, noise=0.02, seed=13)
    data = _data(spec, frame)
    grid = starts.design_starts(spec, 48, seed=1)
    ours = fitting.fit(spec, data, grid, delta=delta, bounds=bounds)
    box = fitting.constraints(spec, bounds=bounds)
    theirs, _, _ = scipy_multistart(law, data, grid, delta, box=box)
    assert ours.objective <= theirs * (1 + OBJECTIVE_RTOL)
    z = box.reduce(ours.params)[0]
    assert np.all(z >= box.lower) and np.all(z <= box.upper)
    if bounds and law == "chinchilla":  # the truth lies outside: both coefficients end on their bound
        assert set(ours.on_bound) == {"alpha", "E"}
        assert ours.natural["alpha"] == pytest.approx(0.3, abs=1e-12)
    else:
        assert ours.on_bound == ()


def test_tied_fit_agrees_with_scipy_on_the_tied_form():
    frame = chinchilla_table({**EPOCH_CHINCHILLA, "beta": EPOCH_CHINCHILLA["alpha"]}, 120, noise=0.01, seed=14)
    data = _data(CHIN, frame)
    grid = starts.design_starts(CHIN, 48, seed=2)
    tied = fitting.fit(CHIN, data, grid, delta=1e-3, ties={"beta": "alpha"})
    assert tied.natural["alpha"] == tied.natural["beta"]
    box = fitting.constraints(CHIN, ties={"beta": "alpha"})
    assert box.n_free == 4
    theirs, _, _ = scipy_multistart("chinchilla", data, grid, 1e-3, box=box)
    assert tied.objective <= theirs * (1 + OBJECTIVE_RTOL)
    free = fitting.fit(CHIN, data, grid, delta=1e-3)
    assert tied.objective >= free.objective * (1 - OBJECTIVE_RTOL)  # a constraint cannot help


@pytest.mark.parametrize("kwargs, message", [
    ({"bounds": {"alpha": (0.5, 0.2)}}, "must be below"),
    ({"bounds": {"E": (-1.0, None)}}, "lower bound must be >= 0"),
    ({"bounds": {"zeta": (0, 1)}}, "has coefficients"),
    ({"ties": {"beta": "E"}}, "scale constant"),
    ({"ties": {"beta": "alpha"}, "fixed": {"alpha": 0.3}}, "fixed coefficient cannot be tied"),
    ({"ties": {"beta": "alpha"}, "bounds": {"alpha": (0, 0.2), "beta": (0.3, 1)}}, "do not overlap"),
])  # fmt: skip
def test_bad_constraints_are_refused_naming_the_coefficient(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fitting.constraints(CHIN, **kwargs)


def test_starts_outside_the_box_are_clipped_and_reported():
    box = fitting.constraints(CHIN)
    grid = starts.paper_starts(CHIN)  # log E down to -1, exponents 0..2: inside; make some outside
    grid[:3, 3] = -0.5  # alpha < 0
    assert box.outside(grid).sum() == 3
    frame = chinchilla_table(EPOCH_CHINCHILLA, 80, noise=0.01, seed=15)
    result = fitting.fit(CHIN, _data(CHIN, frame), grid[:40], delta=1e-3)
    assert result.natural["alpha"] >= 0


def test_a_replicate_whose_starts_all_fail_does_not_abort_the_bootstrap():
    """A run with a non-finite input poisons every replicate that draws it (about 64% of them):
    those are counted and left out; the others still give intervals."""
    frame = chinchilla_table(EPOCH_CHINCHILLA, 30, noise=0.01, seed=16)
    data = _data(CHIN, frame)
    point = fitting.fit(CHIN, data, delta=1e-3)
    poisoned = data._replace(log_obs=np.concatenate([data.log_obs[:-1], [np.inf]]))
    result = fitting.bootstrap(CHIN, poisoned, point, 40, seed=0, delta=1e-3)
    assert 0 < result.n_failed < 40
    assert result.samples.shape == (40 - result.n_failed, 5)
    assert all(np.isfinite(lo) and np.isfinite(hi) for lo, hi in result.intervals.values())


@pytest.mark.slow
def test_bootstrap_intervals_cover_the_truth_about_as_often_as_they_claim():
    """Coverage: many synthetic tables with known coefficients, every bootstrap in one batched
    call. A 90% percentile interval should cover the truth in roughly 90% of tables for each
    identified coefficient (binomial spread: +-0.08 at 60 tables; percentile intervals of a
    nonlinear fit undercover a little, so the floor is 0.75)."""
    n_tables = 120 if FULL else 60
    n_boot = 200 if FULL else 100
    frames = [chinchilla_table(EPOCH_CHINCHILLA, 60, noise=0.02, seed=1000 + k) for k in range(n_tables)]
    problems = fitting.stack_data([_data(CHIN, f) for f in frames])
    grid = starts.design_starts(CHIN, 64)
    points = fitting.fit_many(CHIN, problems, grid, delta=1e-3)
    results = fitting.bootstrap_many(CHIN, problems, points, n_boot, seed=7, delta=1e-3)
    for name, truth in EPOCH_CHINCHILLA.items():
        covered = np.mean([r.intervals[name][0] <= truth <= r.intervals[name][1] for r in results])
        assert 0.75 <= covered <= 0.99, (name, covered)


def test_a_best_start_stopped_by_the_iteration_limit_says_so(tmp_path, capsys):
    """From a far start, 3 iterations cannot reach the optimum: the fit must say it stopped
    early (and the CLI print it); with the default limit the same start converges."""
    from distlaw.cli import main

    frame = chinchilla_table(EPOCH_CHINCHILLA, 80, noise=0.01, seed=21)
    data = _data(CHIN, frame)
    far = np.array([[1.5, 2.0, 12.0, 1.5, 0.1]])
    short = fitting.fit(CHIN, data, far, delta=1e-3, max_iterations=3)
    full = fitting.fit(CHIN, data, far, delta=1e-3)
    assert short.stopped_early and not full.stopped_early
    assert full.objective < short.objective
    runs = tmp_path / "runs.csv"
    frame.to_csv(runs, index=False)
    assert main(["fit", str(runs), "--law", "chinchilla", "--starts", "8", "--max-iterations", "2",
                 "-o", str(tmp_path / "f.json")]) == 0
    assert "stopped at the iteration limit" in capsys.readouterr().out
    assert json.loads((tmp_path / "f.json").read_text())["stopped_early"] is True
