"""Tests for distlaw.runs: reading, validating and atomically writing run tables."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from distlaw.io.runs import ROW, SOURCE, RunTable, RunTableError, read_runs, write_table

SUPERVISED = ("params", "tokens", "loss")


def runs_frame(n: int = 6) -> pd.DataFrame:
    """Clean supervised runs plus extra columns of several types, which must survive untouched."""
    params = np.geomspace(1e8, 1e10, n)
    tokens = 20 * params
    return pd.DataFrame({
        "params": params,
        "tokens": tokens,
        "loss": 1.7 + 400 / params**0.34 + 410 / tokens**0.28,
        "name": [f"run-{i}" for i in range(n)],
        "seed": np.arange(n, dtype=np.int64),
        "stable": [i % 2 == 0 for i in range(n)],
    })


def write_csv(path, text: str):
    path.write_text(text)
    return path


def error_of(*args, **kwargs) -> str:
    with pytest.raises(RunTableError) as info:
        read_runs(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".pq", ".jsonl", ".ndjson"])
def test_round_trip_gives_the_same_frame(tmp_path, ext):
    original = runs_frame()
    path = tmp_path / f"runs{ext}"
    write_table(original, path)
    table = read_runs(path, required=SUPERVISED)

    assert isinstance(table, RunTable) and len(table) == len(original)
    assert table.sources == (str(path),) and table.notes == () and table.duplicates == 0
    for column in SUPERVISED:
        assert table.frame[column].dtype == np.float64
    assert list(table.frame[SOURCE]) == [str(path)] * len(original)
    assert list(table.frame[ROW]) == list(range(1, len(original) + 1))
    # Exact: CSV and JSON Lines write floats with repr, which round-trips bit for bit.
    back = table.frame.drop(columns=[SOURCE, ROW])
    pd.testing.assert_frame_equal(back, original, check_dtype=False)
    assert back["seed"].dtype.kind == "i" and back["stable"].dtype == bool


def test_all_formats_read_identically(tmp_path):
    frames = []
    for ext in (".csv", ".parquet", ".jsonl"):
        write_table(runs_frame(), tmp_path / f"runs{ext}")
        frames.append(read_runs(tmp_path / f"runs{ext}", required=SUPERVISED).frame.drop(columns=[SOURCE]))
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other, check_dtype=False)


def test_folder_of_several_files_is_read_recursively_in_path_order(tmp_path):
    frame = runs_frame(6)
    (tmp_path / "sub").mkdir()
    write_table(frame.iloc[:2], tmp_path / "b.csv")
    write_table(frame.iloc[2:4], tmp_path / "a.parquet")
    write_table(frame.iloc[4:], tmp_path / "sub" / "c.jsonl")
    (tmp_path / "README.md").write_text("not a table")
    (tmp_path / ".hidden.csv").write_text("garbage")

    table = read_runs(tmp_path, required=SUPERVISED)
    expected = [str(tmp_path / "a.parquet"), str(tmp_path / "b.csv"), str(tmp_path / "sub" / "c.jsonl")]
    assert table.sources == tuple(expected)
    assert list(table.frame[SOURCE]) == [s for s in expected for _ in range(2)]
    assert list(table.frame[ROW]) == [1, 2] * 3
    assert list(table.frame["name"]) == ["run-2", "run-3", "run-0", "run-1", "run-4", "run-5"]


def test_several_paths_union_their_columns(tmp_path):
    a = write_csv(tmp_path / "a.csv", "params,tokens,loss,lr\n1e8,2e9,3.0,0.001\n")
    b = write_csv(tmp_path / "b.csv", "params,tokens,loss,batch\n2e8,4e9,2.8,256\n")
    table = read_runs([a, str(b)], required=SUPERVISED)
    assert table.sources == (str(a), str(b))
    assert {"lr", "batch"} <= set(table.frame.columns)
    assert np.isnan(table.frame["batch"][0]) and table.frame["batch"][1] == 256


def test_column_map_renames_source_columns(tmp_path):
    path = write_csv(tmp_path / "runs.csv",
                     "Model Size,Tokens Seen,Eval Loss,notes\n1e8,2e9,3.0,ok\n2e8,4e9,2.8,ok\n")
    table = read_runs(path, required=SUPERVISED,
                      column_map={"params": "Model Size", "tokens": "Tokens Seen", "loss": "Eval Loss"})
    assert list(table.frame["params"]) == [1e8, 2e8]
    assert "Model Size" not in table.frame.columns and list(table.frame["notes"]) == ["ok", "ok"]


def test_where_filters_after_renaming(tmp_path):
    path = write_csv(tmp_path / "runs.csv", "N,tokens,loss\n1e8,2e9,3.0\n2e8,4e9,2.8\n4e8,8e9,2.6\n")
    table = read_runs(path, required=SUPERVISED, column_map={"params": "N"}, where="params >= 2e8")
    assert list(table.frame["params"]) == [2e8, 4e8]
    assert list(table.frame[ROW]) == [2, 3]  # provenance still counts rows of the file


def test_tokens_derived_from_flops_with_a_note(tmp_path):
    path = write_csv(tmp_path / "runs.csv", "params,flops,loss\n1e8,6e18,3.0\n2e8,2.4e19,2.8\n")
    table = read_runs(path, required=SUPERVISED)
    np.testing.assert_allclose(table.frame["tokens"], [1e10, 2e10], rtol=1e-15)
    assert table.notes == (f"tokens derived as flops / (6 params) for 2 rows of {path}",)
    assert "flops" in table.frame.columns

    with pytest.raises(RunTableError, match="missing column 'tokens'"):
        read_runs(path, required=SUPERVISED, derive_tokens=False)
    message = error_of(write_csv(tmp_path / "bad.csv", "params,flops,loss\n1e8,6e18,3.0\n2e8,-1,2.8\n"),
                       required=SUPERVISED)
    assert message == f"{tmp_path / 'bad.csv'}: column 'flops', row 2: must be > 0, got -1.0"


def test_distillation_table_checks_optional_columns_only_where_present(tmp_path):
    required = ("student_params", "student_tokens", "teacher_loss", "student_loss")
    optional = ("teacher_params", "teacher_tokens")
    header = "student_params,student_tokens,teacher_loss,student_loss,teacher_params\n"
    path = write_csv(tmp_path / "d.csv", header + "1e8,2e9,2.5,3.0,1e9\n2e8,4e9,2.5,2.8,1e9\n")
    table = read_runs(path, required=required, optional=optional)
    assert table.frame["teacher_params"].dtype == np.float64 and "teacher_tokens" not in table.frame.columns

    bad = write_csv(tmp_path / "bad.csv", header + "1e8,2e9,2.5,3.0,1e9\n2e8,4e9,2.5,2.8,0\n")
    assert error_of(bad, required=required, optional=optional) == (
        f"{bad}: column 'teacher_params', row 2: must be > 0, got 0.0")


def test_duplicates_are_reported_not_dropped(tmp_path):
    path = write_csv(tmp_path / "runs.csv", "params,tokens,loss,seed\n"
                     "1e8,2e9,3.0,0\n2e8,4e9,2.8,0\n3e8,6e9,2.7,0\n4e8,8e9,2.6,0\n1e8,2e9,3.0,1\n"
                     "5e8,1e10,2.5,0\n7e8,1e10,2.5,0\n8e8,1e10,2.5,0\n2e8,4e9,2.8,1\n")
    table = read_runs(path, required=SUPERVISED)
    assert len(table) == 9 and table.duplicates == 2
    assert table.notes == (
        f"2 duplicate runs (same params, tokens, loss as an earlier run; kept): rows 5, 9 of {path}",)


def test_extra_columns_are_carried_along_without_validation(tmp_path):
    path = write_csv(tmp_path / "runs.csv",
                     "params,tokens,loss,comment,lr\n1e8,2e9,3.0,diverged?,\n2e8,4e9,2.8,,-1\n")
    frame = read_runs(path, required=SUPERVISED).frame
    assert list(frame.columns) == ["params", "tokens", "loss", "comment", "lr", SOURCE, ROW]
    assert frame["comment"][0] == "diverged?" and frame["lr"][1] == -1


# --- bad input: one line naming the file, the column and the row ------------------------------

HEADER = "params,tokens,loss\n"
GOOD = "1e8,2e9,3.0\n2e8,4e9,2.8\n"


@pytest.mark.parametrize(("row", "message"), [
    ("3e8,6e9,abc", "column 'loss', row 3: value 'abc' is not a number"),
    ("3e8,6e9,", "column 'loss', row 3: value is NaN or empty"),
    ("3e8,6e9,nan", "column 'loss', row 3: value is NaN or empty"),
    ("3e8,inf,2.7", "column 'tokens', row 3: value inf is infinite"),
    ("-inf,6e9,2.7", "column 'params', row 3: value -inf is infinite"),
    ("0,6e9,2.7", "column 'params', row 3: must be > 0, got 0.0"),
    ("3e8,6e9,-1", "column 'loss', row 3: must be > 0, got -1.0"),
    ("True,6e9,2.7", "column 'params', row 3: value 'True' is not a number"),
])
def test_bad_csv_values_name_file_column_and_row(tmp_path, row, message):
    path = write_csv(tmp_path / "runs.csv", HEADER + GOOD + row + "\n" + "4e8,8e9,2.6\n")
    assert error_of(path, required=SUPERVISED) == f"{path}: {message}"


@pytest.mark.parametrize("ext", [".parquet", ".jsonl"])
@pytest.mark.parametrize(("value", "problem"), [
    ("abc", "value 'abc' is not a number"),
    (None, "value is NaN or empty"),
    (float("inf"), "value inf is infinite"),
    (0.0, "must be > 0, got 0.0"),
    (-2.5, "must be > 0, got -2.5"),
])
def test_bad_values_in_other_formats(tmp_path, ext, value, problem):
    loss = [3.0, 2.8, 2.7, value, 2.5]
    if isinstance(value, str):  # a text column, as a spreadsheet export gives; numbers in text are fine
        loss = [str(x) for x in loss]
    frame = pd.DataFrame({"params": [1e8, 2e8, 3e8, 4e8, 5e8], "tokens": [2e9] * 5, "loss": loss})
    path = tmp_path / f"runs{ext}"
    if ext == ".jsonl":  # by hand: null for the missing value, Python's Infinity token for inf
        lines = (json.dumps(r).replace("NaN", "null") + "\n" for r in frame.to_dict(orient="records"))
        path.write_text("".join(lines))
    else:
        frame.to_parquet(path)
    assert error_of(path, required=SUPERVISED) == f"{path}: column 'loss', row 4: {problem}"


def test_first_offending_row_is_reported(tmp_path):
    path = write_csv(tmp_path / "runs.csv", HEADER + "1e8,2e9,3.0\n2e8,4e9,-1\n3e8,6e9,abc\n")
    assert error_of(path, required=SUPERVISED) == f"{path}: column 'loss', row 2: must be > 0, got -1.0"


def test_second_file_errors_use_its_own_row_numbers(tmp_path):
    a = write_csv(tmp_path / "a.csv", HEADER + GOOD + GOOD)
    b = write_csv(tmp_path / "b.csv", HEADER + "1e8,2e9,3.0\n2e8,-4e9,2.8\n")
    message = error_of([a, b], required=SUPERVISED)
    assert message == f"{b}: column 'tokens', row 2: must be > 0, got -4000000000.0"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    assert error_of(path, required=SUPERVISED) == f"{path}: no such file"


def test_unknown_extension(tmp_path):
    path = write_csv(tmp_path / "runs.txt", HEADER + GOOD)
    assert error_of(path, required=SUPERVISED).startswith(f"{path}: unknown table format '.txt'")


def test_missing_column(tmp_path):
    path = write_csv(tmp_path / "runs.csv", "params,loss,lr\n1e8,3.0,0.1\n")
    assert error_of(path, required=SUPERVISED) == f"{path}: missing column 'tokens' (have: params, loss, lr)"


def test_missing_column_map_source(tmp_path):
    path = write_csv(tmp_path / "runs.csv", HEADER + GOOD)
    assert error_of(path, required=SUPERVISED, column_map={"params": "Model Size"}) == (
        f"{path}: missing column 'Model Size' (mapped to 'params'; have: params, tokens, loss)")


@pytest.mark.parametrize("text", ["", HEADER])
def test_empty_table(tmp_path, text):
    path = write_csv(tmp_path / "runs.csv", text)
    assert error_of(path, required=SUPERVISED) == f"{path}: empty table (no data rows)"


def test_no_rows_left_after_where(tmp_path):
    path = write_csv(tmp_path / "runs.csv", HEADER + GOOD)
    assert error_of(path, required=SUPERVISED, where="params > 1e20") == (
        f'{path}: no rows left after where "params > 1e20"')


@pytest.mark.parametrize("where", ["params >>> 3", "no_such_column > 1"])
def test_bad_where_expression(tmp_path, where):
    path = write_csv(tmp_path / "runs.csv", HEADER + GOOD)
    message = error_of(path, required=SUPERVISED, where=where)
    assert message.startswith(f'{path}: bad where expression "{where}": ')


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"params": 1e8, "tokens": 2e9, "loss": 3.0}\n\n{"params": 2e8,\n')
    assert error_of(path, required=SUPERVISED).startswith(f"{path}: line 3: bad JSON")


def test_runs_module_does_not_import_jax():
    # A fresh interpreter (conftest has loaded jax here); the package imports its API lazily.
    code = (
        "import sys\n"
        "import distlaw.io.runs, distlaw.io.datasets\n"
        "assert 'jax' not in sys.modules, 'distlaw.io.runs imported jax'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- writing ---------------------------------------------------------------------------------


def test_write_table_drops_provenance_and_leaves_no_temp_files(tmp_path):
    source = tmp_path / "in.csv"
    write_table(runs_frame(), source)
    table = read_runs(source, required=SUPERVISED)
    out = tmp_path / "out.parquet"
    write_table(table.frame, out)
    assert SOURCE not in pd.read_parquet(out).columns and ROW not in pd.read_parquet(out).columns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.parquet"]


def test_write_table_replaces_an_existing_file(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("old\n")
    write_table(runs_frame(2), path)
    assert len(pd.read_csv(path)) == 2


def test_write_table_unknown_extension_names_the_path(tmp_path):
    path = tmp_path / "runs.xlsx"
    path.write_text("precious")
    with pytest.raises(RunTableError, match="runs.xlsx: unknown table format '.xlsx'"):
        write_table(runs_frame(), path)
    assert path.read_text() == "precious"


@pytest.mark.parametrize("ext", [".parquet", ".jsonl"])
def test_failed_write_leaves_existing_file_intact(tmp_path, ext):
    path = tmp_path / f"runs{ext}"
    write_table(runs_frame(), path)
    before = path.read_bytes()
    # Mixed ints and strings cannot be a Parquet column; an arbitrary object is not JSON.
    unwritable = runs_frame().assign(bad=[1, "a", object(), 2, 3, 4])
    with pytest.raises(RunTableError, match=f"{path.name}: cannot write"):
        write_table(unwritable, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # temp file cleaned up
