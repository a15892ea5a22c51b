"""The Python API the CLI is a shell over: ScalingLaw(...).fit(...) -> FitResult."""

import json

import numpy as np
import pytest

from distlaw import FitResult, ScalingLaw
from distlaw.laws import EPOCH_CHINCHILLA, LAWS, PAPER_SUPERVISED, predict_loss
from distlaw.laws.synthetic import chinchilla_table, distillation_table


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
    loaded = FitResult.load(path)
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
    with pytest.raises(ValueError, match="supervised is required"):
        ScalingLaw("distillation").fit(runs)
    supervised_runs = chinchilla_table(PAPER_SUPERVISED, 100, noise=0.003, seed=6)
    report = ScalingLaw("distillation", starts=64, supervised=supervised_runs).fit(runs)
    assert report.record["supervised_fit"]["n_runs"] == 100
    assert report.record["supervised"] == report.record["supervised_fit"]["params"]


def test_plan_frame_matches_hand_computations_the_planner_and_the_cli_json(capsys):
    """Every row of distlaw.plan against oracles computed by hand in NumPy (reference.py: Eq. 69
    F(N), Eq. 9, Eq. 1 and Eq. 8 written out with the paper's coefficients):

    - supervised rows: D = C / (3 F(N)) and L = Eq. 1 at (N, D); the FLOPs are all the student's;
    - compute-optimal columns: no model on a fine grid of N along the budget line does better;
    - teacher-inference rows: the teacher's loss is Eq. 1 at its (N_T, D_T), the student's loss
      is Eq. 8 (and predict_loss) at the plan's own D_S and L_T, Eq. 9 at the allocation spends
      exactly the budget, the FLOPs split sums to 1 and is Eq. 9's terms over C, and no teacher
      on a fine (N_T, D_T) grid, each with D_S = C / (3 F(N_S) + F(N_T)), gives a lower loss;
    and the frame is planning.allocate's answer and what `distlaw plan --json` prints."""
    import distlaw
    from distlaw import planning
    from distlaw.cli import main
    from distlaw.laws import PAPER_DISTILLATION
    from distlaw.planning.plans import load_planning_laws
    from reference import distillation_flops_by_hand, distillation_loss_by_hand, forward_flops_by_hand, \
        supervised_loss_by_hand

    sup_p, dist_p = PAPER_SUPERVISED, PAPER_DISTILLATION
    frame = distlaw.plan([3e8, 1e9], [1e21, 1e22], scenarios=["supervised", "teacher-inference"])
    assert len(frame) == 2 * 2 * 2 and set(frame.scenario) == {"supervised", "teacher-inference"}
    for row in frame.itertuples():
        n_s, c = row.student_params, row.budget
        # Compute-optimal supervised model: nothing on a grid of N (D = C / (3 F(N))) beats it.
        n_grid = np.geomspace(1e6, 1e17, 200001)
        d_grid = c / (3 * forward_flops_by_hand(n_grid))
        ok = (d_grid >= 1e6) & (d_grid <= 1e17)
        grid_best = supervised_loss_by_hand(sup_p, n_grid[ok], d_grid[ok]).min()
        assert row.compute_optimal_loss <= grid_best + 1e-12
        assert row.compute_optimal_loss == pytest.approx(grid_best, abs=1e-9)
        optimal_tokens = c / (3 * forward_flops_by_hand(row.compute_optimal_params))
        assert row.compute_optimal_tokens == pytest.approx(optimal_tokens, rel=1e-9)
        d_sup = c / (3 * forward_flops_by_hand(n_s))
        sup_by_hand = float(supervised_loss_by_hand(sup_p, n_s, d_sup))
        assert row.supervised_loss == pytest.approx(sup_by_hand, rel=1e-12)
        split = row.flops_split
        assert sum(split.values()) == pytest.approx(1.0, abs=1e-12)
        if row.scenario == "supervised":
            assert row.student_tokens == pytest.approx(d_sup, rel=1e-12)
            assert row.student_loss == row.supervised_loss
            assert split == {"student": 1.0, "logits": 0.0, "pretraining": 0.0}
            continue
        n_t, d_t, d_s, l_t = row.teacher_params, row.teacher_tokens, row.student_tokens, row.teacher_loss
        assert l_t == pytest.approx(float(supervised_loss_by_hand(sup_p, n_t, d_t)), rel=1e-12)
        by_hand = float(distillation_loss_by_hand(dist_p, sup_p, n_s, d_s, l_t))
        assert row.student_loss == pytest.approx(by_hand, rel=1e-12)
        direct = predict_loss(LAWS["distillation"], LAWS["distillation"].from_natural(dist_p), n_s, d_s, l_t,
                              supervised=LAWS["supervised"].from_natural(sup_p))
        assert row.student_loss == pytest.approx(float(direct), rel=1e-12)
        assert distillation_flops_by_hand(n_s, d_s, n_t, d_t, 1.0, 0.0) == pytest.approx(c, rel=1e-12)
        assert split["student"] == pytest.approx(3 * forward_flops_by_hand(n_s) * d_s / c, rel=1e-12)
        assert split["logits"] == pytest.approx(forward_flops_by_hand(n_t) * d_s / c, rel=1e-12)
        assert split["pretraining"] == 0.0
        # No teacher does better: not on a 600 x 600 grid of (log N_T, log D_T) over [1e6, 1e17]^2,
        # nor on 201 x 201 grids refining the best grid cell and the plan's own neighbourhood.
        def student_loss(log_n_t, log_d_t):
            grid_n_t = np.exp(log_n_t)
            grid_d_s = c / (3 * forward_flops_by_hand(n_s) + forward_flops_by_hand(grid_n_t))
            grid_l_t = supervised_loss_by_hand(sup_p, grid_n_t, np.exp(log_d_t))
            return distillation_loss_by_hand(dist_p, sup_p, n_s, grid_d_s, grid_l_t)

        def grid(centre, half_width, k):
            axes = [np.clip(np.linspace(x - half_width, x + half_width, k), np.log(1e6), np.log(1e17))
                    for x in centre]
            log_n_t, log_d_t = np.meshgrid(*axes, indexing="ij")
            values = student_loss(log_n_t, log_d_t)
            i = np.nanargmin(values)
            return values.flat[i], (log_n_t.flat[i], log_d_t.flat[i])

        middle, half = 0.5 * (np.log(1e6) + np.log(1e17)), 0.5 * (np.log(1e17) - np.log(1e6))
        coarse, where = grid((middle, middle), half, 600)
        refined, _ = grid(where, 2 * half / 599, 201)
        local, _ = grid((np.log(n_t), np.log(d_t)), 0.05, 201)
        best = min(coarse, refined, local)
        assert row.student_loss <= best + 1e-12, (row.student_loss, coarse, refined, local)
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
    ({"logit_cost": 2.0}, "InputError", "logit_cost must be in [0, 1]"),
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
    from distlaw.atlas.sweep import load_sweep

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
