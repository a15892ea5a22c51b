"""Atlases: sweep files, rows against the laws and the planner, Parquet read-back, resume, devices."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from distlaw.cli import main
from distlaw.laws import LAWS, PAPER_DISTILLATION, PAPER_SUPERVISED, predict_loss
from distlaw.atlas.sweep import SweepError, load_sweep

SMALL = """
law = "paper"
output = "out"
chunk_rows = 1024

[loss]
student_params = {min = 143e6, max = 7.75e9, count = 3}
student_tokens = {min = 1e9, max = 1e13, count = 40}
teacher_params = {min = 143e6, max = 12.6e9, count = 9}
teacher_tokens = {min = 1e9, max = 1e13, count = 10}

[plan]
student_params = {values = [3e8, 1e9]}
budget = {min = 1e20, max = 1e23, count = 4}
scenarios = ["supervised", "best-case", "teacher-inference"]
"""


@pytest.fixture
def sweep_file(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def _file_hashes(root: Path) -> dict:
    manifest = json.loads((root / "manifest.json").read_text())
    return {e["path"]: e["sha256"] for table in manifest["tables"].values() for e in table["files"]}


def test_atlas_rows_agree_with_the_laws_and_the_planner(sweep_file, tmp_path, capsys):
    assert main(["atlas", str(sweep_file)]) == 0
    out = tmp_path / "out"
    loss = pd.read_parquet(out / "loss")
    assert len(loss) == 3 * 40 * 9 * 10
    sample = loss.sample(1000, random_state=0)
    # Oracle: Eq. 1 and Eq. 8 written out here in natural form with NumPy, independent of
    # distlaw's log-space code path.
    s, d = PAPER_SUPERVISED, PAPER_DISTILLATION

    def supervised(n, tokens):
        return s["E"] + (s["A"] / n ** s["alpha"] + s["B"] / tokens ** s["beta"]) ** s["gamma"]

    n_s, d_s = sample.student_params.to_numpy(), sample.student_tokens.to_numpy()
    l_t = supervised(sample.teacher_params.to_numpy(), sample.teacher_tokens.to_numpy())
    np.testing.assert_allclose(sample.teacher_loss, l_t, rtol=1e-9)
    l_sup = supervised(n_s, d_s)
    l_s = l_t + l_t ** -d["c0"] * (1 + (l_t / (l_sup * d["d1"])) ** (1 / d["f1"])) ** (-d["c1"] * d["f1"]) * (
        d["A"] / n_s ** d["alpha"] + d["B"] / d_s ** d["beta"]) ** d["gamma"]
    np.testing.assert_allclose(sample.supervised_loss, l_sup, rtol=1e-9)
    np.testing.assert_allclose(sample.student_loss, l_s, rtol=1e-9)
    # Every grid point once.
    assert not loss.duplicated(["student_params", "student_tokens", "teacher_params", "teacher_tokens"]).any()
    # The plan atlas holds the rows of `distlaw plan --json`.
    capsys.readouterr()
    assert main(["plan", "--student-params", "3e8,1e9", "--budget", "1e20:1e23:4", "--scenario", "teacher-inference",
                 "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    plan = pd.read_parquet(out / "plan", filters=[("scenario", "==", "teacher-inference")])
    assert len(plan) == len(planned) == 8
    np.testing.assert_allclose(plan.student_loss, [r["student_loss"] for r in planned], rtol=1e-6)
    np.testing.assert_allclose(plan.teacher_params, [r["teacher_params"] for r in planned], rtol=1e-6)


def test_atlas_reads_back_with_pyarrow_and_duckdb(sweep_file, tmp_path):
    import duckdb  # a test dependency (pyproject.toml): never skipped
    assert main(["atlas", str(sweep_file)]) == 0
    out = tmp_path / "out"
    dataset = ds.dataset(out / "loss", partitioning="hive")
    assert dataset.count_rows() == 10800
    assert dataset.schema.field("student_loss").metadata[b"unit"] == b"nats per token"
    assert dataset.schema.field("flops_best_case").metadata[b"unit"] == b"FLOPs"
    meta = json.loads(dataset.schema.metadata[b"distlaw"])
    assert meta["law"]["params"] == PAPER_DISTILLATION and "content_hash" in meta
    (count,) = duckdb.sql(f"select count(*) from '{out}/loss/**/*.parquet'").fetchall()[0]
    assert count == 10800
    rows = duckdb.sql(f"select scenario, count(*) from read_parquet('{out}/plan/**/*.parquet', hive_partitioning=true) "
                      "group by 1 order by 1").fetchall()
    assert rows == [("best-case", 8), ("supervised", 8), ("teacher-inference", 8)]
    # DuckDB decodes the byte-stream-split floats to the values pyarrow reads.
    ours = dataset.to_table(columns=["student_params", "student_tokens", "teacher_params", "teacher_tokens",
                                     "student_loss", "flops_teacher_pretraining"]).to_pandas()
    theirs = duckdb.sql(f"select student_params, student_tokens, teacher_params, teacher_tokens, student_loss, "
                        f"flops_teacher_pretraining from '{out}/loss/**/*.parquet'").df()
    keys = ["student_params", "student_tokens", "teacher_params", "teacher_tokens"]
    pd.testing.assert_frame_equal(ours.sort_values(keys).reset_index(drop=True),
                                  theirs.sort_values(keys).reset_index(drop=True), check_exact=True)


def test_each_column_has_its_measured_encoding(sweep_file, tmp_path):
    """Axes and the teacher loss (few distinct values) as dictionaries; every other float split
    into byte planes (parquet_options: 24% smaller than plain floats, same write time)."""
    assert main(["atlas", str(sweep_file)]) == 0
    part = next((tmp_path / "out" / "loss").rglob("*.parquet"))
    meta = pq.read_metadata(part).row_group(0)
    encodings = {meta.column(i).path_in_schema: set(meta.column(i).encodings) for i in range(meta.num_columns)}
    repeated = {"student_params", "student_tokens", "teacher_params", "teacher_tokens", "teacher_loss"}
    for name, used in encodings.items():
        if name in repeated:
            assert "RLE_DICTIONARY" in used, name
        else:
            assert "BYTE_STREAM_SPLIT" in used and "RLE_DICTIONARY" not in used, name
    assert set(encodings) - repeated == {"supervised_loss", "student_loss", "flops_best_case", "flops_teacher_inference",
                                         "flops_teacher_pretraining", "flops_pretraining_inference"}


def test_dry_run_writes_nothing(sweep_file, tmp_path, capsys):
    assert main(["atlas", str(sweep_file), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "10,800 rows" in printed and "24 rows" in printed
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, key", [
    ("law = 'paper'\nbogus = 1\n[loss]\n", "bogus"),
    ("[loss]\nstudent_params = {min = 1e8, max = 1e9, count = 2}\n", "loss.student_tokens"),
    ("[plan]\nstudent_params = {min = 1e8, max = 1e9, count = 0}\nbudget = {values = [1e20]}\n", "plan.student_params.count"),
    ("[plan]\nstudent_params = {values = [1e9]}\nbudget = {min = -1, max = 1e20, count = 3}\n", "plan.budget"),
    ("[plan]\nstudent_params = {values = [1e9]}\nbudget = {values = [1e20]}\nscenarios = ['nope']\n", "plan.scenarios"),
    ("chunk_rows = 5\n[plan]\n", "chunk_rows"),
])  # fmt: skip
def test_bad_sweep_names_the_key(tmp_path, capsys, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SweepError, match=key.replace(".", r"\.")):
        load_sweep(path)
    assert main(["atlas", str(path)]) == 2
    err = capsys.readouterr().err
    assert key in err and "bad.toml" in err


def test_a_folder_of_another_sweep_is_refused(sweep_file, tmp_path, capsys):
    assert main(["atlas", str(sweep_file)]) == 0
    other = tmp_path / "other.toml"
    other.write_text(SMALL.replace("count = 40", "count = 41"))
    assert main(["atlas", str(other)]) == 2
    assert "different sweep" in capsys.readouterr().err


def _run_atlas(sweep: Path, output: Path, devices: int = 1, **popen):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "DISTLAW_CACHE_DIR": ""}
    command = [sys.executable, "-m", "distlaw", "atlas", str(sweep), "-o", str(output)]
    if popen:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(command, env=env, check=True, capture_output=True)
    return None


def test_one_and_four_devices_write_identical_rows(sweep_file, tmp_path):
    _run_atlas(sweep_file, tmp_path / "one", devices=1)
    _run_atlas(sweep_file, tmp_path / "four", devices=4)
    assert _file_hashes(tmp_path / "one") == _file_hashes(tmp_path / "four")


@pytest.mark.slow
def test_killed_and_resumed_equals_uninterrupted(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text(SMALL.replace("count = 3}", "count = 12}").replace("count = 40}", "count = 200}"))
    _run_atlas(big, tmp_path / "whole")
    process = _run_atlas(big, tmp_path / "killed", popen=True)
    loss = tmp_path / "killed" / "loss"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(loss.rglob("part-*.parquet"))) < 10:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = len(list(loss.rglob("part-*.parquet")))
    assert 0 < written < 12 * 18, "the kill should land mid-run"
    assert not (tmp_path / "killed" / "manifest.json").exists()
    _run_atlas(big, tmp_path / "killed")
    assert _file_hashes(tmp_path / "killed") == _file_hashes(tmp_path / "whole")
    frame = pd.read_parquet(tmp_path / "killed" / "loss")
    assert len(frame) == 12 * 200 * 9 * 10


def test_contours_lie_on_their_levels(sweep_file, tmp_path):
    assert main(["atlas", str(sweep_file)]) == 0
    out = tmp_path / "out"
    lines = pd.read_parquet(out / "contours")
    plan = pd.read_parquet(out / "plan")
    assert len(lines) and set(lines.columns) >= {"level", "path", "point", "x", "y", "scenario"}
    for scenario in ("best-case", "supervised"):
        part = plan[plan.scenario.astype(str) == scenario]
        grid = part.pivot_table(index="student_params", columns="budget", values="student_loss")
        x, y, z = np.log10(grid.columns.to_numpy()), np.log10(grid.index.to_numpy()), grid.to_numpy()
        for row in lines[lines.scenario.astype(str) == scenario].itertuples():
            # The level lies between the losses at the corners of the grid cell holding the point.
            j = min(np.searchsorted(x, np.log10(row.x)) , len(x) - 1)
            i = min(np.searchsorted(y, np.log10(row.y)), len(y) - 1)
            corners = z[max(i - 1, 0): i + 1, max(j - 1, 0): j + 1]
            assert corners.min() - 1e-9 <= row.level <= corners.max() + 1e-9


@pytest.mark.parametrize("kind", ["contours", "capacity-gap", "budget-split"])
def test_plots_are_written(sweep_file, tmp_path, kind):
    """The figures are written, and drawing them changes no matplotlib setting (backend,
    rcParams) and leaves nothing in pyplot: a notebook's own figures and backend are its own."""
    matplotlib = pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from distlaw.report.atlas_figures import atlas_figure

    def settings():  # read without resolving the "auto" backend (rcParams["backend"] would)
        return {key: matplotlib.rcParams._get(key) for key in matplotlib.rcParams}

    before = settings()
    pyplot_before = "matplotlib.pyplot" in sys.modules
    assert main(["atlas", str(sweep_file)]) == 0
    figure = tmp_path / f"{kind}.png"
    assert main(["plot", str(tmp_path / "out"), "--kind", kind, "-o", str(figure)]) == 0
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    assert isinstance(atlas_figure(tmp_path / "out", kind), Figure)
    assert settings() == before
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_before


@pytest.mark.slow
def test_quantiles_from_a_bootstrapped_fit(tmp_path, capsys):
    from distlaw.laws.synthetic import distillation_table

    runs = tmp_path / "runs.csv"
    distillation_table(300, seed=3).to_csv(runs, index=False)
    fit = tmp_path / "fit.json"
    assert main(["fit", str(runs), "--law", "distillation", "--supervised", "paper", "--starts", "64", "--bootstrap", "12", "-o", str(fit)]) == 0
    record = json.loads(fit.read_text())
    sweep = tmp_path / "q.toml"
    sweep.write_text(f"""
law = "{fit}"
output = "q"
chunk_rows = 1024
[loss]
student_params = {{values = [5e8, 2e9]}}
student_tokens = {{min = 1e10, max = 1e12, count = 30}}
teacher_loss = {{min = 1.8, max = 2.6, count = 50}}
quantiles = [0.05, 0.5, 0.95]
""")
    assert main(["atlas", str(sweep)]) == 0
    frame = pd.read_parquet(tmp_path / "q" / "loss").sample(200, random_state=1)
    sup = LAWS["supervised"].from_natural(record["supervised"])
    dist = LAWS["distillation"]
    names = record["bootstrap_samples"]["names"]
    per_sample = np.array([
        np.asarray(predict_loss(dist, dist.from_natural(dict(zip(names, row))), frame.student_params.to_numpy(),
                                frame.student_tokens.to_numpy(), frame.teacher_loss.to_numpy(), supervised=sup))
        for row in record["bootstrap_samples"]["values"]])
    for q, column in ((0.05, "student_loss_p05"), (0.5, "student_loss_p50"), (0.95, "student_loss_p95")):
        np.testing.assert_allclose(frame[column], np.quantile(per_sample, q, axis=0), rtol=1e-6)
    assert np.all(frame.student_loss_p05 <= frame.student_loss_p95)
    # A sweep asking for quantiles of the published law (no replicates) is refused.
    sweep.write_text(sweep.read_text().replace(f'law = "{fit}"', 'law = "paper"'))
    capsys.readouterr()
    assert main(["atlas", str(sweep)]) == 2
    assert "loss.quantiles" in capsys.readouterr().err


def test_processes_split_the_atlas_without_merging(sweep_file, tmp_path):
    assert main(["atlas", str(sweep_file), "-o", str(tmp_path / "whole")]) == 0
    for index in (0, 1):
        assert main(["atlas", str(sweep_file), "-o", str(tmp_path / "split"), "--process-index", str(index),
                     "--process-count", "2"]) == 0
    whole = _file_hashes(tmp_path / "whole")
    split = {}
    for index in (0, 1):
        manifest = json.loads((tmp_path / "split" / f"manifest.process-{index}-of-2.json").read_text())
        for table in manifest["tables"].values():
            split.update({e["path"]: e["sha256"] for e in table["files"]})
    assert split == whole


@pytest.mark.slow
def test_jax_distributed_processes_write_their_own_files(sweep_file, tmp_path):
    import socket

    with socket.socket() as probe:  # a free local port for the coordinator
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _run_atlas(sweep_file, tmp_path / "whole")
    env = {**os.environ, "DISTLAW_CACHE_DIR": ""}
    processes = [subprocess.Popen([sys.executable, "-m", "distlaw", "atlas", str(sweep_file), "-o", str(tmp_path / "dist"),
                                   "--distributed", "--coordinator", f"127.0.0.1:{port}", "--process-count", "2",
                                   "--process-index", str(i)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
                 for i in (0, 1)]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()[-2000:]
    split = {}
    for i in (0, 1):
        manifest = json.loads((tmp_path / "dist" / f"manifest.process-{i}-of-2.json").read_text())
        for table in manifest["tables"].values():
            split.update({e["path"]: e["sha256"] for e in table["files"]})
    assert split == _file_hashes(tmp_path / "whole")


def test_resume_with_another_device_count_writes_exactly_the_missing_rows(sweep_file, tmp_path):
    """Written on 3 devices (chunk_rows 1024 does not divide by 3), one part deleted, resumed on 1:
    the files equal an uninterrupted 1-device run's, and the manifest counts the rows in them."""
    _run_atlas(sweep_file, tmp_path / "one", devices=1)
    _run_atlas(sweep_file, tmp_path / "three", devices=3)
    assert _file_hashes(tmp_path / "three") == _file_hashes(tmp_path / "one")
    (tmp_path / "three" / "loss" / "student_size_index=1" / "part-00002.parquet").unlink()
    assert main(["atlas", str(sweep_file), "-o", str(tmp_path / "three")]) == 0
    assert _file_hashes(tmp_path / "three") == _file_hashes(tmp_path / "one")
    manifest = json.loads((tmp_path / "three" / "manifest.json").read_text())
    loss = pd.read_parquet(tmp_path / "three" / "loss")
    assert manifest["tables"]["loss"]["rows"] == len(loss) == 3 * 40 * 9 * 10
    assert not loss.duplicated(["student_params", "student_tokens", "teacher_params", "teacher_tokens"]).any()


def test_resume_with_another_process_count(sweep_file, tmp_path):
    """Two processes split the work, one part is lost, one process finishes it: one manifest
    (the two-process ones are gone), and it lists every file with its rows."""
    from distlaw import Atlas

    out = tmp_path / "atlas"
    for index in (0, 1):
        assert main(["atlas", str(sweep_file), "-o", str(out), "--process-index", str(index),
                     "--process-count", "2"]) == 0
    assert Atlas(out).rows("loss") == 3 * 40 * 9 * 10  # the reader merges the two manifests
    (out / "loss" / "student_size_index=0" / "part-00001.parquet").unlink()
    assert main(["atlas", str(sweep_file), "-o", str(out)]) == 0
    assert not list(out.glob("manifest.process-*"))
    atlas = Atlas(out)
    assert atlas.rows("loss") == len(atlas.to_pandas("loss")) == 3 * 40 * 9 * 10
    assert sum(e["rows"] for e in atlas.manifest["tables"]["loss"]["files"]) == atlas.rows("loss")


def test_a_truncated_part_is_refused_and_nothing_else_changes(sweep_file, tmp_path, capsys):
    out = tmp_path / "atlas"
    assert main(["atlas", str(sweep_file), "-o", str(out)]) == 0
    manifest = (out / "manifest.json").read_bytes()
    part = out / "loss" / "student_size_index=2" / "part-00003.parquet"
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    capsys.readouterr()
    assert main(["atlas", str(sweep_file), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "part-00003.parquet: a damaged part file" in err and err.count("\n") == 1
    assert (out / "manifest.json").read_bytes() == manifest
    part.unlink()  # as the message says: delete it and rerun
    assert main(["atlas", str(sweep_file), "-o", str(out)]) == 0
    assert len(pd.read_parquet(out / "loss")) == 3 * 40 * 9 * 10


def test_compute_table_and_plan_options_reach_every_file(tmp_path):
    """[compute] six_nd prices FLOPs as 6ND in the loss atlas; [plan] students and logit_cost
    give the plan atlas exactly what `plan` gives for the same options; all of it is in the
    files' metadata, so another compute model is another atlas (refused in the same folder)."""
    import distlaw
    from distlaw.laws.compute import Architecture

    base = ('law = "paper"\noutput = "out"\n[loss]\nstudent_params = {values = [3e8, 1e9]}\n'
            'student_tokens = {min = 1e9, max = 1e12, count = 4}\nteacher_params = {values = [2e9]}\n'
            'teacher_tokens = {values = [1e11]}\n[plan]\nstudent_params = {values = [1e9]}\n'
            'budget = {values = [1e21, 1e22]}\nscenarios = ["teacher-pretraining"]\nstudents = 4\nlogit_cost = 0.5\n')
    sweep = tmp_path / "s.toml"
    sweep.write_text(base + "[compute]\nsix_nd = true\n")
    atlas = distlaw.build_atlas(sweep)
    loss = atlas.to_pandas("loss")
    np.testing.assert_allclose(loss.flops_best_case, 6 * loss.student_params * loss.student_tokens, rtol=1e-14)
    plan = atlas.to_pandas("plan")
    expected = distlaw.plan_records(1e9, [1e21, 1e22], scenarios="teacher-pretraining", students=4, logit_cost=0.5,
                                    arch=Architecture(six_nd=True))
    np.testing.assert_allclose(plan.student_loss, [r["student_loss"] for r in expected], rtol=1e-12)
    assert json.loads(ds.dataset(atlas.files("plan")[0]).schema.metadata[b"distlaw"])["sweep"]["compute"] == {"six_nd": True}
    sweep.write_text(base + "[compute]\nsix_nd = false\n")
    assert main(["atlas", str(sweep)]) == 2  # the folder holds the 6ND atlas


@pytest.mark.parametrize(("text", "key"), [
    ("[compute]\nsix_nd = 1\n", "compute.six_nd"),
    ("[compute]\nn_ctx = -4\n", "compute.n_ctx"),
    ("[compute]\nwidth = 4\n", "compute.width"),
])
def test_bad_compute_table_names_the_key(tmp_path, capsys, text, key):
    sweep = tmp_path / "s.toml"
    sweep.write_text(SMALL + text)
    assert main(["atlas", str(sweep)]) == 2
    assert key in capsys.readouterr().err


def test_the_chunk_layout_does_not_change_a_bit(tmp_path):
    """Chunks of 1,024 rows (cutting across D_S slices: rows gather their table entries), chunks
    of one whole partition (tables broadcast over the slices), and whole partitions split over
    4 devices (broadcast, sharded by slice) must write the same rows, bit for bit, in agreement
    with the NumPy evaluation: an atlas's bytes may not depend on how it was chunked. (With the
    tables computed inside the row program, XLA contracted the FLOPs columns' multiply-adds
    differently in the two programs, last bit off in 20% of the rows; benchmarks/README.md.)"""
    from distlaw import Atlas, build_atlas
    from distlaw.atlas.evaluate import numpy_loss_rows
    from distlaw.planning.plans import load_planning_laws

    sorted_rows = ["student_params", "student_tokens", "teacher_params", "teacher_tokens"]
    frames = {}
    for rows in (1024, 3600):  # 3600 = one whole partition (40 x 9 x 10)
        sweep = tmp_path / f"s{rows}.toml"
        sweep.write_text(SMALL.replace("chunk_rows = 1024", f"chunk_rows = {rows}").split("[plan]")[0])
        frames[rows] = build_atlas(sweep, output=tmp_path / f"a{rows}").to_pandas("loss")
    _run_atlas(tmp_path / "s3600.toml", tmp_path / "sharded", devices=4)
    frames["sharded"] = Atlas(tmp_path / "sharded").to_pandas("loss")
    gathered, broadcast, sharded = (frames[r].sort_values(sorted_rows).drop(columns="student_size_index")
                                    .reset_index(drop=True) for r in (1024, 3600, "sharded"))
    pd.testing.assert_frame_equal(gathered, broadcast, check_exact=True)
    pd.testing.assert_frame_equal(sharded, broadcast, check_exact=True)
    sweep_axes = load_sweep(tmp_path / "s3600.toml").loss_axes
    laws = load_planning_laws("paper")
    oracle = numpy_loss_rows(laws, float(sweep_axes["student_params"][0]), [sweep_axes[n] for n in sorted_rows[1:]])
    first = broadcast[broadcast.student_params == sweep_axes["student_params"][0]]
    np.testing.assert_allclose(first.student_loss.to_numpy(), oracle["student_loss"], rtol=1e-13)


def test_the_chunk_layout_does_not_change_a_bit_over_teacher_loss(tmp_path):
    """The same for an atlas over (N_S, D_S, L_T): 1,024-row chunks gather (they cut across D_S
    slices of 50 teacher losses), 2,000-row chunks (a whole partition) broadcast."""
    from distlaw import build_atlas
    from distlaw.atlas.evaluate import numpy_loss_rows
    from distlaw.planning.plans import load_planning_laws

    body = """law = "paper"
output = "out"
chunk_rows = {rows}
[loss]
student_params = {{values = [5e8, 2e9]}}
student_tokens = {{min = 1e10, max = 1e12, count = 40}}
teacher_loss = {{min = 1.8, max = 2.6, count = 50}}
"""
    keys = ["student_params", "student_tokens", "teacher_loss"]
    frames = {}
    for rows in (1024, 2000):
        sweep = tmp_path / f"s{rows}.toml"
        sweep.write_text(body.format(rows=rows))
        frames[rows] = (build_atlas(sweep, output=tmp_path / f"a{rows}").to_pandas("loss").sort_values(keys)
                        .drop(columns="student_size_index").reset_index(drop=True))
    pd.testing.assert_frame_equal(frames[1024], frames[2000], check_exact=True)
    axes = load_sweep(tmp_path / "s2000.toml").loss_axes
    oracle = numpy_loss_rows(load_planning_laws("paper"), 5e8, [axes["student_tokens"], axes["teacher_loss"]])
    first = frames[2000][frames[2000].student_params == 5e8]
    np.testing.assert_allclose(first.student_loss.to_numpy(), oracle["student_loss"], rtol=1e-13)
    np.testing.assert_allclose(first.flops_best_case.to_numpy(), oracle["flops_best_case"], rtol=1e-15)


def test_chunks_reuse_the_memory_of_written_chunks(tmp_path, monkeypatch):
    """Every chunk after the first few is computed into the memory of one already written (its
    buffers donated to the row program: no fresh pages to fault in), and the rows are the same
    as the NumPy evaluation's. A view of a written chunk kept alive anywhere would make JAX
    keep the buffer, and this fail."""
    import distlaw.atlas.write as atlas_write
    from distlaw import build_atlas
    from distlaw.atlas.evaluate import numpy_loss_rows
    from distlaw.planning.plans import load_planning_laws

    calls = []
    real = atlas_write.loss_chunk

    def recording(laws, tables, start, samples=None, recycled=None, **static):
        given = None if recycled is None else {v.unsafe_buffer_pointer() for v in recycled.values()}
        out = real(laws, tables, start, samples, recycled, **static)
        calls.append(None if given is None else given == {v.unsafe_buffer_pointer() for v in out.values()})
        return out

    monkeypatch.setattr(atlas_write, "loss_chunk", recording)
    sweep = tmp_path / "small.toml"
    sweep.write_text(SMALL.split("[plan]")[0])  # 3 partitions x 4 chunks of 1,024 rows
    frame = build_atlas(sweep, output=tmp_path / "atlas").to_pandas("loss")
    writers = atlas_write.writer_count("cpu")
    assert len(calls) == 12
    assert calls[: writers + 1] == [None] * (writers + 1)  # nothing written yet to reuse
    assert calls[writers + 1:] == [True] * (12 - writers - 1)
    axes = load_sweep(sweep).loss_axes
    first = frame[frame.student_params == axes["student_params"][0]].sort_values(
        ["student_tokens", "teacher_params", "teacher_tokens"])
    oracle = numpy_loss_rows(load_planning_laws("paper"), float(axes["student_params"][0]),
                             [axes["student_tokens"], axes["teacher_params"], axes["teacher_tokens"]])
    np.testing.assert_allclose(first.student_loss.to_numpy(), oracle["student_loss"], rtol=1e-13)
