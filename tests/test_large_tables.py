"""Large tables of runs: chunked normal equations, screening on a subsample then polishing,
the cluster bootstrap over runs, and reading only what a fit needs from Parquet.

Speed and memory are measured in benchmarks/large_tables.py, not here.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distlaw import ScalingLaw, fitting
from distlaw.fitting import multistart, solver
from distlaw.fitting.starts import design_starts
from distlaw.io.runs import read_runs
from distlaw.laws import EPOCH_CHINCHILLA, LAWS, PAPER_DISTILLATION, PAPER_SUPERVISED
from distlaw.laws.synthetic import distillation_table

CHIN = LAWS["chinchilla"]


def chinchilla_runs(n: int, seed: int = 0, noise: float = 0.01) -> pd.DataFrame:
    """``n`` runs from Epoch's law, log-uniform sizes and tokens, a few diverged (loss x3)."""
    rng = np.random.default_rng(seed)
    big_n = np.exp(rng.uniform(np.log(5e7), np.log(5e9), n))
    big_d = np.exp(rng.uniform(np.log(1e9), np.log(2e11), n))
    c = EPOCH_CHINCHILLA
    loss = (c["E"] + c["A"] / big_n ** c["alpha"] + c["B"] / big_d ** c["beta"]) * np.exp(noise * rng.standard_normal(n))
    loss[rng.choice(n, max(1, n // 2000), replace=False)] *= 3.0
    return pd.DataFrame({"params": big_n, "tokens": big_d, "loss": loss})


@pytest.mark.parametrize("law", ["chinchilla", "distillation"])
@pytest.mark.parametrize("chunk", [256, 1000, 4096])
def test_chunked_normal_equations_equal_the_unchunked_ones(law, chunk):
    """Oracle: the one-pass sums over the whole table (huber_pieces). Chunking changes only the
    order of summation: value, gradient, Gauss-Newton matrix and damping metric agree to 1e-12."""
    spec = LAWS[law]
    if law == "chinchilla":
        data = fitting.fit_data(spec, chinchilla_runs(3001, seed=1))
        z = np.asarray(spec.from_natural(EPOCH_CHINCHILLA)) * 1.03
    else:
        sup = LAWS["supervised"].from_natural(PAPER_SUPERVISED)
        data = fitting.fit_data(spec, distillation_table(700, seed=2), supervised=sup)
        z = np.asarray(spec.from_natural(PAPER_DISTILLATION)) * 1.02
    box = fitting.constraints(spec)
    for delta in (1e-4, 1e-2):
        objective = box.objective(delta, "log")
        whole = solver.huber_pieces(objective, jnp.asarray(z), data)
        stacked = jax.tree.map(lambda a: np.asarray(a)[None], data)
        chunked = solver.huber_pieces_chunked(objective, jnp.asarray(z), solver.pad_runs(stacked, chunk), 0, chunk)
        for name, a, b in zip(("value", "gradient", "gauss_newton", "scale"), whole, chunked, strict=True):
            a, b = np.asarray(a), np.asarray(b)
            assert np.allclose(b, a, rtol=1e-12, atol=1e-12 * np.max(np.abs(a))), (name, np.max(np.abs(a - b)))


def test_chunked_sandwich_equals_the_unchunked_one():
    data = fitting.fit_data(CHIN, chinchilla_runs(5000, seed=3))
    box = fitting.constraints(CHIN)
    objective = box.objective(1e-3, "log")
    z = np.asarray(CHIN.from_natural(EPOCH_CHINCHILLA))
    whole = multistart.identifiability(box, objective, z, data)
    chunked = multistart.identifiability(box, objective, z, data, chunk=1024)
    assert whole[0] == chunked[0]
    for name, value in whole[1].items():
        assert chunked[1][name] == pytest.approx(value, rel=1e-10)


def test_a_chunked_solver_reaches_the_same_fit():
    data = fitting.fit_data(CHIN, chinchilla_runs(3000, seed=4))
    starts = design_starts(CHIN, 64)
    config = multistart.default_config(64, 5)
    plain = fitting.fit(CHIN, data, starts=starts, delta=1e-3, config=config)
    chunked = fitting.fit(CHIN, data, starts=starts, delta=1e-3, config=config._replace(chunk=512))
    assert chunked.objective == pytest.approx(plain.objective, rel=1e-12)
    np.testing.assert_allclose(chunked.params, plain.params, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("seed", [5, 6])
def test_screening_then_polishing_reaches_the_full_multistart_optimum(seed):
    """Oracle: every start run to convergence on the whole table (the full multi-start). The
    large-table path screens them on a stratified subsample and polishes the best few; it must
    end at the same optimum (objective within 1e-10, coefficients within 1e-6 in optimizer
    space) and say so in the result."""
    frame = chinchilla_runs(6000, seed=seed, noise=0.02)
    data = fitting.fit_data(CHIN, frame)
    starts = design_starts(CHIN, 256, seed=seed)
    assert len(frame) > multistart.LARGE_TABLE_RUNS
    full = fitting.fit(CHIN, data, starts=starts, delta=1e-3, config=multistart.default_config(256, 5))
    screened = fitting.fit(CHIN, data, starts=starts, delta=1e-3)
    assert full.screen_runs == 0 and screened.screen_runs <= 640 + 2 * 2
    assert 1 <= screened.polished <= multistart.POLISH_CANDIDATES and screened.n_starts == 256
    assert screened.objective <= full.objective * (1 + 1e-10)
    np.testing.assert_allclose(screened.params, full.params, rtol=1e-6, atol=1e-8)


def test_the_supervised_law_on_a_large_table_matches_scipy():
    """Oracle: SciPy's least_squares (TRF, Huber) on the same objective, from the truth and from
    distlaw's answer: distlaw's screened-and-polished fit ends at or below it."""
    from reference import scipy_huber_least_squares

    from distlaw.laws.synthetic import chinchilla_table

    spec = LAWS["supervised"]
    frame = pd.concat([chinchilla_table(PAPER_SUPERVISED, 600, noise=0.01, seed=s) for s in range(6)],
                      ignore_index=True)
    data = fitting.fit_data(spec, frame)
    result = fitting.fit(spec, data, starts=design_starts(spec, 256), delta=1e-3)
    assert result.screen_runs > 0 and not result.stopped_early
    box = fitting.constraints(spec)
    truth = np.asarray(spec.from_natural(PAPER_SUPERVISED))
    reference, _ = scipy_huber_least_squares(spec, data, [truth, result.params], 1e-3, box.lower, box.upper)
    assert result.objective <= reference.cost * (1 + 1e-9) + 1e-15


def test_a_large_distillation_fit_says_when_it_stopped_short():
    """The distillation law's flat valley (issue 22) can stop the polish at the iteration limit;
    then the result must say so (stopped_early), never pass a point above SciPy's optimum off as
    converged."""
    from reference import scipy_huber_least_squares

    spec = LAWS["distillation"]
    sup = LAWS["supervised"].from_natural(PAPER_SUPERVISED)
    frame = pd.concat([distillation_table(700, seed=s, noise=0.003) for s in range(4)], ignore_index=True)
    data = fitting.fit_data(spec, frame, supervised=sup)
    result = fitting.fit(spec, data, starts=design_starts(spec, 256), delta=1e-4, max_iterations=600)
    assert result.screen_runs > 0
    box = fitting.constraints(spec)
    truth = np.asarray(spec.from_natural(PAPER_DISTILLATION))
    reference, _ = scipy_huber_least_squares(spec, data, [truth, result.params], 1e-4, box.lower, box.upper)
    assert result.objective <= reference.cost * (1 + 1e-9) + 1e-15 or result.stopped_early


def test_stratified_subsample_keeps_the_spread():
    frame = chinchilla_runs(20000, seed=7)
    data = fitting.fit_data(CHIN, frame)
    picked = multistart.stratified_subsample(data, 512, seed=0)
    assert 512 <= len(picked) <= 516 and np.all(np.diff(picked) > 0)
    for column in data.log_inputs:
        x = np.asarray(column)
        assert x[picked].min() == x.min() and x[picked].max() == x.max()  # the range's ends
        # Every quartile of the table holds about a quarter of the subsample.
        quartile = np.searchsorted(np.quantile(x, [0.25, 0.5, 0.75]), x[picked], side="right")
        counts = np.bincount(quartile, minlength=4)
        assert np.all(np.abs(counts - len(picked) / 4) <= 8), counts
    again = multistart.stratified_subsample(data, 512, seed=0)
    np.testing.assert_array_equal(picked, again)  # same seed, same runs


def test_cluster_bootstrap_resamples_runs_not_rows():
    """A table where every run has 10 identical checkpoints holds the information of one row
    per run. Resampling runs (run_id) gives the one-row-per-run table's intervals; resampling
    rows would give intervals about sqrt(10) times too narrow."""
    runs = chinchilla_runs(60, seed=8, noise=0.02)
    runs["run"] = [f"run-{i}" for i in range(len(runs))]
    checkpoints = runs.loc[np.repeat(runs.index, 10)].reset_index(drop=True)
    law = ScalingLaw("chinchilla", huber_delta=1e-3, starts=64)
    one = law.fit(runs, bootstrap=40, run_id="run")
    ten = law.fit(checkpoints, bootstrap=40, run_id="run")
    rows = law.fit(checkpoints, bootstrap=40)
    assert ten.record["n_runs"] == 60 and ten.record["n_rows"] == 600 and ten.record["run_id"] == "run"
    for name, (lo, hi) in one.intervals.items():
        assert ten.intervals[name] == pytest.approx([lo, hi], rel=1e-6), name
    width = {name: hi - lo for name, (lo, hi) in one.intervals.items()}
    narrow = {name: (hi - lo) / width[name] for name, (lo, hi) in rows.intervals.items()}
    assert np.median(list(narrow.values())) < 0.6, narrow


def test_a_fit_reads_only_the_columns_it_needs_from_a_hive_folder(tmp_path):
    """A hive-partitioned Parquet folder is one dataset (partition keys become columns) and
    only the law's columns, the group and the filter's columns are read."""
    frame = chinchilla_runs(4000, seed=9)
    frame["mixture"] = np.where(np.arange(len(frame)) % 2 == 0, "web", "code")
    frame["notes"] = "x" * 50  # a wide column a fit never needs
    folder = tmp_path / "runs"
    pq.write_to_dataset(pa.Table.from_pandas(frame), folder, partition_cols=["mixture"])
    table = read_runs(folder, required=("params", "tokens", "loss"), columns=["mixture"], where="loss > 0")
    assert set(table.frame.columns) >= {"params", "tokens", "loss", "mixture"}
    assert "notes" not in table.frame.columns and len(table.frame) == len(frame)
    everything = read_runs(folder, required=("params", "tokens", "loss"))
    assert "notes" in everything.frame.columns
    result = ScalingLaw("chinchilla", huber_delta=1e-3, starts=64).fit(folder, group_by="mixture")
    assert [g["key"]["mixture"] for g in result.groups] == ["code", "web"]
    assert sum(g["n_runs"] for g in result.groups) == result.record["n_runs"] == len(frame)


def test_large_table_bootstrap_from_the_point_optimum_matches_many_starts():
    """Oracle: every replicate (the same multinomial resample counts, seed 0) refitted on its own
    from 32 design starts plus the point optimum, all run to convergence. On a large table the
    bootstrap starts each replicate from the point optimum alone; the percentile intervals agree."""
    frame = chinchilla_runs(2200, seed=12, noise=0.02)
    assert len(frame) > multistart.LARGE_TABLE_RUNS
    data = fitting.fit_data(CHIN, frame)
    point = fitting.fit(CHIN, data, starts=design_starts(CHIN, 64), delta=1e-3)
    n_resamples = 6
    boot = fitting.bootstrap(CHIN, data, point, n_resamples, seed=0, ci=0.8, delta=1e-3)
    counts = np.random.default_rng(0).multinomial(len(frame), np.full(len(frame), 1 / len(frame)), size=n_resamples)
    starts = np.vstack([design_starts(CHIN, 32), point.params])
    samples = []
    for weights in counts:
        replicate = fitting.fit_data(CHIN, frame, weights=weights)
        fit = fitting.fit(CHIN, replicate, starts=starts, delta=1e-3, config=multistart.default_config(33, 5))
        samples.append([fit.natural[name] for name in CHIN.natural_names])
    lo, hi = np.quantile(np.array(samples), [0.1, 0.9], axis=0)
    for name, a, b in zip(CHIN.natural_names, lo, hi, strict=True):
        assert boot.intervals[name] == pytest.approx([a, b], rel=1e-6), name


def test_many_groups_start_from_the_pooled_optima_and_reach_each_groups_optimum(monkeypatch):
    """Oracle: every group fitted from the whole start design (the path of a few groups). With
    more than MANY_GROUPS groups, each starts from the pooled fit's optima and a small design;
    every group must end at the same objective."""
    from distlaw.fitting import scaling_law

    rng = np.random.default_rng(13)
    frames = []
    for g in range(scaling_law.MANY_GROUPS + 4):
        frame = chinchilla_runs(150, seed=100 + g, noise=0.01)
        frame["loss"] *= 1 + 0.03 * rng.standard_normal()  # each group its own irreducible level
        frame["mixture"] = g
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    law = ScalingLaw("chinchilla", huber_delta=1e-3, starts=128)
    fast = law.fit(table, group_by="mixture")
    monkeypatch.setattr(scaling_law, "MANY_GROUPS", 10**9)
    full = law.fit(table, group_by="mixture")
    assert fast.record["objective"] == full.record["objective"]
    for quick, slow in zip(fast.groups, full.groups, strict=True):
        assert quick["key"] == slow["key"]
        assert quick["objective"] == pytest.approx(slow["objective"], rel=1e-9), quick["key"]


def _mixed_runs(n: int = 600, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = chinchilla_runs(n, seed=seed)
    frame["params"] = np.round(frame["params"]).astype(np.int64)  # an integer column, as logs write it
    frame["mixture"] = rng.choice(["web", "code", "books"], n)
    frame["step"] = rng.integers(0, 1000, n)
    frame["final"] = rng.random(n) < 0.3
    return frame


WHERES = [
    "mixture == 'web'",
    "mixture != 'web' and step > 500",
    "(mixture == 'code') | (loss < 2.4)",
    "mixture in ['web', 'books'] and not final",
    "final",
    "~final & (step <= 10 * 40)",
    "params / tokens < 0.02",
    "1e8 < params <= 2e9",
    "step == [1, 2, 3, 500, 999] or mixture not in ('code',)",
    "params * 6 * tokens > 1e20 and mixture == 'books'",
    "mixture.str.startswith('bo')",  # beyond Arrow's subset: pandas filters
    "final and step > 100 | (loss > 3)",  # keywords mixed with |: pandas' precedence, so pandas
]


@pytest.mark.parametrize("where", WHERES)
def test_where_on_parquet_selects_the_rows_pandas_selects_with_their_row_numbers(tmp_path, where):
    """Oracle: the same table as CSV, filtered by ``DataFrame.query`` after validation. Read
    from Parquet, the filter runs in Arrow where it can; the same rows, values and row numbers."""
    frame = _mixed_runs()
    frame.to_csv(tmp_path / "runs.csv", index=False)
    frame.to_parquet(tmp_path / "runs.parquet", index=False)
    need = dict(required=("params", "tokens", "loss"), where=where)
    expected = read_runs(tmp_path / "runs.csv", **need).frame
    got = read_runs(tmp_path / "runs.parquet", columns=["mixture"], **need).frame
    assert len(expected) > 0
    for column in ("_row", "params", "tokens", "loss", "mixture"):
        np.testing.assert_array_equal(got[column].to_numpy(), expected[column].to_numpy(), err_msg=column)


def test_where_on_parquet_is_filtered_in_arrow_when_it_can_be(tmp_path, monkeypatch):
    """The pushdown happens (not only the fallback) for the expressions Arrow can take."""
    from distlaw.io import runs

    frame = _mixed_runs()
    frame.to_parquet(tmp_path / "runs.parquet", index=False)
    used = []
    original = runs._filter_in_arrow
    monkeypatch.setattr(runs, "_filter_in_arrow", lambda *a: used.append(original(*a) is not None) or original(*a))
    for where in WHERES:
        read_runs(tmp_path / "runs.parquet", required=("params", "tokens", "loss"), where=where)
    assert used == [True] * (len(WHERES) - 2) + [False, False]


def test_where_on_parquet_still_names_a_bad_row_it_filters_out(tmp_path):
    """Every row is checked, as for CSV: a bad loss in a row the filter drops is still named."""
    frame = _mixed_runs()
    frame.loc[7, "loss"] = -1.0
    frame.loc[7, "mixture"] = "code"
    frame.to_parquet(tmp_path / "runs.parquet", index=False)
    with pytest.raises(Exception, match=r"column 'loss', row 8: must be > 0"):
        read_runs(tmp_path / "runs.parquet", required=("params", "tokens", "loss"), where="mixture == 'web'")


def test_where_on_a_hive_folder_filters_on_its_partition_keys(tmp_path):
    frame = _mixed_runs()
    folder = tmp_path / "runs"
    pq.write_to_dataset(pa.Table.from_pandas(frame), folder, partition_cols=["mixture"])
    every = read_runs(folder, required=("params", "tokens", "loss")).frame
    some = read_runs(folder, required=("params", "tokens", "loss"), where="mixture == 'web' and step < 300").frame
    oracle = every[(every["mixture"] == "web") & (every["step"] < 300)]
    np.testing.assert_array_equal(some["_row"].to_numpy(), oracle["_row"].to_numpy())
    with pytest.raises(Exception, match="no rows left"):
        read_runs(folder, required=("params", "tokens", "loss"), where="mixture == 'none'")
