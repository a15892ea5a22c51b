"""The command line end to end: fit, predict, generate; bad input exits 2 and writes nothing."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from distlaw.cli import main
from distlaw.laws import EPOCH_CHINCHILLA, LAWS
from distlaw.laws.synthetic import chinchilla_table


@pytest.fixture
def runs_csv(tmp_path):
    path = tmp_path / "runs.csv"
    frame = chinchilla_table(EPOCH_CHINCHILLA, 120, noise=0.01, seed=0)
    frame["family"] = np.where(np.arange(len(frame)) % 2 == 0, "a", "b")
    frame.to_csv(path, index=False)
    return path


def _fit(args, tmp_path, capsys, name="fit.json"):
    out = tmp_path / name
    code = main(["fit", *map(str, args), "-o", str(out)])
    captured = capsys.readouterr()
    return code, out, captured


def test_fit_writes_every_documented_key(runs_csv, tmp_path, capsys):
    code, out, captured = _fit([runs_csv, "--law", "chinchilla", "--huber-delta", "1e-3", "--starts", "64",
                                "--holdout", "params > 5e9", "--bootstrap", "16", "--seed", "1"],
                               tmp_path, capsys)
    assert code == 0, captured.err
    record = json.loads(out.read_text())
    for key in ("law", "params", "objective", "huber_delta", "n_runs", "n_starts", "converged_fraction",
                "intervals", "holdout", "distlaw_version"):
        assert key in record, key
    assert set(record["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert record["n_starts"] == 64
    assert record["huber_delta"] == 1e-3
    held = record["holdout"]
    assert held["n"] == int((pd.read_csv(runs_csv).params > 5e9).sum())
    assert record["n_runs"] == 120 - held["n"]
    assert 0 <= held["mean_abs_rel_error"] <= held["max_abs_rel_error"] < 0.05
    assert set(record["intervals"]) == set(record["params"])
    assert "objective" in captured.out and "held out" in captured.out


def test_same_seed_same_bytes(runs_csv, tmp_path, capsys):
    args = [runs_csv, "--law", "chinchilla", "--starts", "32", "--bootstrap", "8", "--seed", "5"]
    _, first, _ = _fit(args, tmp_path, capsys, "a.json")
    _, second, _ = _fit(args, tmp_path, capsys, "b.json")
    assert first.read_bytes() == second.read_bytes()


def test_group_by_and_predict(runs_csv, tmp_path, capsys):
    code, out, captured = _fit([runs_csv, "--law", "chinchilla", "--starts", "64", "--group-by", "family"],
                               tmp_path, capsys)
    assert code == 0, captured.err
    record = json.loads(out.read_text())
    assert [g["key"] for g in record["groups"]] == [{"family": "a"}, {"family": "b"}]
    assert [g["n_runs"] for g in record["groups"]] == [60, 60]
    predictions = tmp_path / "pred.parquet"
    assert main(["predict", str(out), str(runs_csv), "-o", str(predictions)]) == 0
    frame = pd.read_parquet(predictions)
    spec = LAWS["chinchilla"]
    p = record["params"]
    closed_form = p["E"] + p["A"] / frame.params ** p["alpha"] + p["B"] / frame.tokens ** p["beta"]
    np.testing.assert_allclose(frame.predicted_loss, closed_form, rtol=1e-10)
    assert "family" in frame.columns and len(frame) == 120
    del spec


def test_warm_start_and_starts_file(runs_csv, tmp_path, capsys):
    code, old, _ = _fit([runs_csv, "--law", "chinchilla", "--starts", "64"], tmp_path, capsys, "old.json")
    assert code == 0
    starts_file = tmp_path / "starts.csv"
    pd.DataFrame([EPOCH_CHINCHILLA, {**EPOCH_CHINCHILLA, "alpha": 0.5}]).to_csv(starts_file, index=False)
    code, new, captured = _fit([runs_csv, "--law", "chinchilla", "--starts", starts_file, "--warm-start", old],
                               tmp_path, capsys, "new.json")
    assert code == 0, captured.err
    old_record, new_record = json.loads(old.read_text()), json.loads(new.read_text())
    assert new_record["n_starts"] == 3
    assert new_record["objective"] <= old_record["objective"] * (1 + 1e-9)


def test_fix_is_reported(runs_csv, tmp_path, capsys):
    code, out, captured = _fit([runs_csv, "--law", "chinchilla", "--starts", "32", "--fix", "beta=0.3"],
                               tmp_path, capsys)
    assert code == 0, captured.err
    assert json.loads(out.read_text())["params"]["beta"] == 0.3
    assert "(fixed)" in captured.out


def test_flops_only_log_derives_tokens(tmp_path, capsys):
    frame = chinchilla_table(EPOCH_CHINCHILLA, 60, noise=0.01, seed=1).drop(columns=["tokens"])
    path = tmp_path / "flops.jsonl"
    frame.to_json(path, orient="records", lines=True)
    code, out, captured = _fit([path, "--law", "chinchilla", "--starts", "32"], tmp_path, capsys)
    assert code == 0, captured.err
    assert "tokens derived as flops / (6 params)" in captured.out
    assert any("tokens derived" in note for note in json.loads(out.read_text())["notes"])


def test_map_renames_a_foreign_column(runs_csv, tmp_path, capsys):
    foreign = tmp_path / "foreign.csv"
    pd.read_csv(runs_csv).rename(columns={"params": "Model Size"}).to_csv(foreign, index=False)
    code, out, captured = _fit([foreign, "--law", "chinchilla", "--starts", "32", "--map", "params=Model Size",
                                "--where", "loss < 3"], tmp_path, capsys)
    assert code == 0, captured.err
    assert json.loads(out.read_text())["n_runs"] == int((pd.read_csv(runs_csv).loss < 3).sum())


BAD_CELLS = [
    ("loss", "abc", "not a number"),
    ("loss", "nan", "NaN"),
    ("tokens", "inf", "infinite"),
    ("params", "0", "must be > 0"),
    ("params", "-5", "must be > 0"),
]


@pytest.mark.parametrize("column, value, message", BAD_CELLS)
def test_bad_cells_exit_2_naming_file_column_row(runs_csv, tmp_path, capsys, column, value, message):
    frame = pd.read_csv(runs_csv).astype({column: object})
    frame.loc[6, column] = value  # data row 7
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    code, out, captured = _fit([bad, "--law", "chinchilla"], tmp_path, capsys)
    assert code == 2
    line = captured.err.strip()
    assert "\n" not in line
    assert "bad.csv" in line and f"'{column}'" in line and "row 7" in line and message in line
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["missing.csv", "--law", "chinchilla"], "no such file"),
    (["{runs}", "--law", "distillation", "--supervised", "paper"], "missing column"),
    (["{runs}", "--law", "distillation"], "--supervised is required by the distillation law: FIT.json|paper"),
    (["{runs}", "--law", "chinchilla", "--supervised", "paper"], "--supervised applies to laws that read Ltilde_S (distillation), not chinchilla"),
    (["{runs}", "--law", "chinchilla", "--bounds", "alpha=0.5"], "expected LO:HI"),
    (["{runs}", "--law", "chinchilla", "--bounds", "alpha=1:0.5"], "must be below"),
    (["{runs}", "--law", "chinchilla", "--bounds", "gamma=0:1"], "has coefficients"),
    (["{runs}", "--law", "chinchilla", "--tie", "beta=E"], "scale constant"),
    (["{runs}", "--law", "chinchilla", "--where", "params > 1e30"], "no rows left"),
    (["{runs}", "--law", "chinchilla", "--fix", "zeta=1"], "cannot fix"),
    (["{runs}", "--law", "chinchilla", "--starts", "nothere.csv"], "no such starts file"),
    (["{runs}", "--law", "chinchilla", "--holdout", "params > 0"], "must select some runs but not all"),
    (["{runs}", "--law", "chinchilla", "--group-by", "nope"], "no column"),
])  # fmt: skip
def test_bad_arguments_exit_2(runs_csv, tmp_path, capsys, args, message):
    args = [a.replace("{runs}", str(runs_csv)) for a in args]
    code, out, captured = _fit(args, tmp_path, capsys)
    assert code == 2
    assert message in captured.err and captured.err.count("\n") == 1
    assert not out.exists()


def test_existing_output_survives_a_failed_fit(runs_csv, tmp_path, capsys):
    out = tmp_path / "fit.json"
    out.write_text("previous")
    assert main(["fit", str(tmp_path / "nope.csv"), "--law", "chinchilla", "-o", str(out)]) == 2
    assert out.read_text() == "previous"


def test_duplicates_are_reported(runs_csv, tmp_path, capsys):
    frame = pd.read_csv(runs_csv)
    doubled = tmp_path / "dup.csv"
    pd.concat([frame, frame.iloc[:3]]).to_csv(doubled, index=False)
    code, out, captured = _fit([doubled, "--law", "chinchilla", "--starts", "32"], tmp_path, capsys)
    assert code == 0
    assert "3 duplicate runs" in captured.out
    assert json.loads(out.read_text())["n_runs"] == 123  # reported, not dropped


def test_python_dash_m_and_console_script_run(tmp_path):
    result = subprocess.run([sys.executable, "-m", "distlaw", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("distlaw ")
    bad = subprocess.run([sys.executable, "-m", "distlaw", "fit", str(tmp_path / "x.csv"), "--law", "chinchilla",
                          "-o", str(tmp_path / "f.json")], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "x.csv: no such file" in bad.stderr


def test_group_by_with_bootstrap_gives_intervals_per_group(runs_csv, tmp_path, capsys):
    code, out, captured = _fit([runs_csv, "--law", "chinchilla", "--starts", "32", "--group-by", "family",
                                "--bootstrap", "12", "--seed", "2"], tmp_path, capsys)
    assert code == 0, captured.err
    record = json.loads(out.read_text())
    for fit in [record, *record["groups"]]:
        assert set(fit["intervals"]) == set(fit["params"])
        for lo, hi in fit["intervals"].values():
            assert lo <= hi
    # Different runs, different intervals.
    assert record["groups"][0]["intervals"] != record["groups"][1]["intervals"]


def test_bounds_ties_and_on_bound_are_recorded(runs_csv, tmp_path, capsys):
    code, out, captured = _fit([runs_csv, "--law", "chinchilla", "--huber-delta", "1e-3", "--starts", "64",
                                "--bounds", "alpha=:0.3", "--bounds", "E=1e-3:", "--tie", "beta=alpha"],
                               tmp_path, capsys)
    assert code == 0, captured.err
    record = json.loads(out.read_text())
    assert record["bounds"]["alpha"] == [None, 0.3]
    assert record["bounds"]["E"] == [1e-3, None]
    assert record["bounds"]["beta"] == [0.0, 5.0]  # the default box
    assert record["ties"] == {"beta": "alpha"}
    assert record["params"]["alpha"] == record["params"]["beta"] == pytest.approx(0.3)
    assert set(record["on_bound"]) == {"alpha", "beta"}  # the table's exponents are about 0.35
    assert "ended on a bound" in captured.out and "(tied to alpha)" in captured.out
    assert set(record["std_errors"]) == {"E", "A", "B", "alpha", "beta"}


def test_starts_file_rows_outside_the_box_are_reported(runs_csv, tmp_path, capsys):
    starts = tmp_path / "starts.csv"
    pd.DataFrame({"E": [1.8, 1.8, 1.7], "A": [400.0, 400, 500], "B": [2000.0, 2000, 1500],
                  "alpha": [0.3, -0.2, 0.4], "beta": [0.3, 0.3, 7.0]}).to_csv(starts, index=False)
    code, out, captured = _fit([runs_csv, "--law", "chinchilla", "--starts", starts], tmp_path, capsys)
    assert code == 0, captured.err
    assert "2 of 3 rows" in captured.out and "row 2" in captured.out
    assert any("outside the box" in note for note in json.loads(out.read_text())["notes"])


def test_distillation_fits_the_supervised_runs_first_when_given_a_table(tmp_path, capsys):
    """The paper's procedure in one command: --supervised RUNS fits Eq. 1 to those runs, uses it
    for Ltilde_S, and records that fit; it matches fitting the supervised table on its own."""
    from distlaw.laws import PAPER_SUPERVISED
    from distlaw.laws.synthetic import distillation_table

    sup_runs, dist_runs = tmp_path / "sup.csv", tmp_path / "dist.csv"
    chinchilla_table(PAPER_SUPERVISED, 120, noise=0.003, seed=3).to_csv(sup_runs, index=False)
    distillation_table(200, seed=4).to_csv(dist_runs, index=False)
    code, out, captured = _fit([dist_runs, "--law", "distillation", "--supervised", sup_runs, "--starts", "64"],
                               tmp_path, capsys)
    assert code == 0, captured.err
    record = json.loads(out.read_text())
    assert record["supervised_fit"]["n_runs"] == 120
    assert record["supervised"] == record["supervised_fit"]["params"]
    assert main(["fit", str(sup_runs), "--law", "supervised", "-o", str(tmp_path / "sup.json")]) == 0
    alone = json.loads((tmp_path / "sup.json").read_text())
    for name, value in alone["params"].items():
        assert record["supervised"][name] == pytest.approx(value, rel=1e-6), name


def test_an_unidentifiable_fit_writes_valid_json(tmp_path, capsys):
    """One token count for every run: B and beta have no finite standard error; FIT.json says
    null (JSON has no infinity) and the summary warns."""
    n = np.geomspace(4e7, 1.6e10, 40)
    runs = tmp_path / "one_d.csv"
    truth = LAWS["chinchilla"].from_natural(EPOCH_CHINCHILLA)
    from distlaw.laws import predict_loss

    pd.DataFrame({"params": n, "tokens": 2e10, "loss": np.asarray(predict_loss(LAWS["chinchilla"], truth, n, 2e10))}
                 ).to_csv(runs, index=False)
    code, out, captured = _fit([runs, "--law", "chinchilla", "--starts", "64"], tmp_path, capsys)
    assert code == 0, captured.err
    record = json.loads(out.read_text())
    assert {"B", "beta"} <= set(record["unidentified"])
    assert "cannot pin down" in captured.out
    assert all(v is None or v >= 0 for v in record["std_errors"].values())


def test_fit_reads_a_shipped_dataset_by_name(tmp_path, capsys):
    """`distlaw fit gadre2024 ...` reads the table shipped with distlaw; --where picks a dataset."""
    code, out, captured = _fit(["gadre2024", "--law", "chinchilla", "--huber-delta", "1e-3", "--starts", "64",
                                "--where", "dataset == 'rpj'"], tmp_path, capsys)
    assert code == 0, captured.err
    record = json.loads(out.read_text())
    assert record["n_runs"] == 35 and record["sources"] == ["gadre2024"]


# --- One error path: every case found by trying the CLI (issue 9, item 2) ---------------------

ONE_STUDENT_SWEEP = """
law = "{law}"
output = "{out}"
[plan]
student_params = {{min = 1e9, max = 1e9, count = 1}}
budget = {{min = 1e20, max = 1e24, count = 5}}
scenarios = {scenarios}
"""


def _sweep(tmp_path, law="paper", scenarios='["best-case"]', name="one.toml"):
    path = tmp_path / name
    path.write_text(ONE_STUDENT_SWEEP.format(law=law, out=tmp_path / f"atlas-{name}", scenarios=scenarios))
    return path


def _run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_atlas_with_one_student_size_skips_contours_with_a_note(tmp_path, capsys):
    code, out, err = _run(["atlas", _sweep(tmp_path)], capsys)
    assert code == 0, err
    assert "no iso-loss contours" in out
    manifest = json.loads((tmp_path / "atlas-one.toml" / "manifest.json").read_text())
    assert manifest["tables"]["plan"]["rows"] == 5


def test_atlas_into_an_unwritable_folder_is_one_line_exit_2(tmp_path, capsys):
    code, _, err = _run(["atlas", _sweep(tmp_path), "-o", "/proc/nope"], capsys)
    assert code == 2 and err.count("\n") == 1 and "/proc/nope" in err and "Traceback" not in err


def test_predict_with_a_fit_file_that_is_not_an_object(tmp_path, capsys):
    fit = tmp_path / "five.json"
    fit.write_text("5\n")
    runs = tmp_path / "r.csv"
    runs.write_text("params,tokens\n1e9,2e10\n")
    code, _, err = _run(["predict", fit, runs, "-o", tmp_path / "p.csv"], capsys)
    assert code == 2 and "five.json: not a fit record" in err and err.count("\n") == 1


def test_plot_on_an_empty_or_missing_atlas(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    (tmp_path / "empty" / "plan").mkdir(parents=True)
    code, _, err = _run(["plot", tmp_path / "empty", "--kind", "contours", "-o", tmp_path / "f.png"], capsys)
    assert code == 2 and "empty: not a finished atlas (no manifest.json" in err
    code, _, err = _run(["plot", tmp_path / "missing", "--kind", "contours", "-o", tmp_path / "f.png"], capsys)
    assert code == 2 and "missing: no such folder" in err


def test_plan_json_has_no_infinities_on_a_tiny_budget(capsys):
    code, out, err = _run(["plan", "--student-params", "1e9", "--budget", "1e12", "--json"], capsys)
    assert code == 0, err
    rows = json.loads(out)  # strict JSON: no Infinity or NaN tokens
    assert all(row["compute_optimal_loss"] is None for row in rows)
    assert not any(row["feasible"] for row in rows)
    code, out, err = _run(["plan", "--student-params", "1e9", "--budget", "1e12"], capsys)
    assert code == 0 and "cannot train any model" in out


def test_plan_refuses_a_teacher_loss_below_the_irreducible_loss(capsys):
    code, out, err = _run(["plan", "--student-params", "1e9", "--budget", "1e21", "--teacher-loss", "0",
                           "--teacher-params", "1e9"], capsys)
    assert code == 2 and "must exceed the supervised law's irreducible loss E = 1.22" in err
    assert "inf" not in out


def test_sweep_scenarios_as_one_name(tmp_path, capsys):
    code, _, err = _run(["atlas", _sweep(tmp_path, scenarios='"best-case"')], capsys)
    assert code == 0, err
    assert (tmp_path / "atlas-one.toml" / "plan" / "scenario=best-case").is_dir()


def test_sweep_law_pointing_at_a_chinchilla_fit_names_the_sweep_key(runs_csv, tmp_path, capsys):
    fit = tmp_path / "chin.json"
    assert main(["fit", str(runs_csv), "--law", "chinchilla", "--starts", "16", "-o", str(fit)]) == 0
    code, _, err = _run(["atlas", _sweep(tmp_path, law=fit, name="chin.toml")], capsys)
    assert code == 2 and "chin.toml: key 'law'" in err and "--fit" not in err


def test_unexpected_errors_are_one_line_exit_1_and_debug_shows_the_traceback(monkeypatch, capsys):
    import distlaw.planning.optimize

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(distlaw.planning.optimize, "plan_table", broken)
    code, _, err = _run(["plan", "--student-params", "1e9", "--budget", "1e21"], capsys)
    assert code == 1 and err.count("\n") == 1 and "internal error: ZeroDivisionError: boom" in err and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "plan", "--student-params", "1e9", "--budget", "1e21"])


def test_main_leaves_no_jax_settings_behind(runs_csv, tmp_path, monkeypatch):
    """x64 and the persistent cache are the command's, not the caller's: main() restores them."""
    import jax

    before = {name: getattr(jax.config, name) for name in ("jax_enable_x64", "jax_compilation_cache_dir")}
    monkeypatch.setenv("DISTLAW_CACHE_DIR", str(tmp_path / "cache"))
    jax.config.update("jax_enable_x64", False)
    try:
        assert main(["fit", str(runs_csv), "--law", "chinchilla", "--starts", "16", "-o", str(tmp_path / "f.json")]) == 0
        assert jax.config.jax_enable_x64 is False
        assert jax.config.jax_compilation_cache_dir == before["jax_compilation_cache_dir"]
    finally:
        jax.config.update("jax_enable_x64", before["jax_enable_x64"])


def test_planning_and_predict_compute_in_float64_without_touching_the_global_setting():
    """With JAX's default (float32) settings, distlaw still computes in float64 inside its own
    scope: the answers equal the float64 ones to the last bit (in float32 N* at 1e20 FLOPs would
    be 9.297e8, not 9.319e8), and the caller's setting is left as it was."""
    import jax

    from distlaw import planning
    from distlaw.laws import PAPER_DISTILLATION, PAPER_SUPERVISED, predict_loss

    laws = planning.PlanningLaws(LAWS["supervised"].from_natural(PAPER_SUPERVISED),
                                 LAWS["distillation"].from_natural(PAPER_DISTILLATION))
    chinchilla = LAWS["chinchilla"].from_natural(EPOCH_CHINCHILLA)
    expected_n = float(planning.supervised_optimum(laws, 1e20).params)
    expected_loss = float(predict_loss(LAWS["chinchilla"], chinchilla, 1e9, 2e10))
    # Oracle for the loss: the Chinchilla form in plain Python floats (float64).
    c = EPOCH_CHINCHILLA
    assert expected_loss == pytest.approx(c["E"] + c["A"] / 1e9 ** c["alpha"] + c["B"] / 2e10 ** c["beta"], rel=1e-14)
    jax.config.update("jax_enable_x64", False)
    try:
        optimum = planning.supervised_optimum(laws, 1e20)
        loss = predict_loss(LAWS["chinchilla"], chinchilla, 1e9, 2e10)
        assert optimum.params.dtype == "float64" and loss.dtype == "float64"
        assert float(optimum.params) == expected_n
        assert float(loss) == expected_loss
        assert jax.config.jax_enable_x64 is False
    finally:
        jax.config.update("jax_enable_x64", True)
