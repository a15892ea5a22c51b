"""Atlas lookups: stored rows at the nodes, the exact laws between them, refusals, the CLI."""

import json
import re

import numpy as np
import pytest

import distlaw
from distlaw.cli import main
from distlaw.errors import AtlasError, InputError
from distlaw.laws import LAWS, PAPER_DISTILLATION, PAPER_SUPERVISED, predict_loss

# Spacing close to the paper sweep's (x1.4 in N_S, x1.5 in the others), a few thousand rows.
TEACHER_SIZES = """
law = "paper"
output = "sizes"
chunk_rows = 1024

[loss]
student_params = {min = 1e9, max = 4e9, count = 5}
student_tokens = {min = 1e10, max = 1e12, count = 12}
teacher_params = {min = 1e9, max = 8e9, count = 6}
teacher_tokens = {min = 1e10, max = 1e12, count = 12}
"""
# Teacher loss as an axis, and a single student size. L_T crosses the capacity-gap transition
# (L_T near d1 Ltilde_S, where L_S turns over as (L_T / (d1 Ltilde_S))^(1/f1), 1/f1 = 11): 8
# values over [2, 3] leave cubic 7e-4 from the law, 16 values 1.9e-5 (measured).
TEACHER_LOSS = """
law = "paper"
output = "losses"
chunk_rows = 1024

[loss]
student_params = {values = [1e9]}
student_tokens = {min = 1e10, max = 1e12, count = 12}
teacher_loss = {min = 2.0, max = 3.0, count = 16}
"""
# Measured on the sizes atlas, 2,000 random points (seed 1): linear 1.4e-3, cubic 3.2e-5. The bounds leave a factor of 2-3 for another platform's rounding, no more.
LINEAR_TOLERANCE, CUBIC_TOLERANCE = 3e-3, 1e-4

SUP, DIST = LAWS["supervised"], LAWS["distillation"]


def _build(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("lookup")
    (folder / "sweep.toml").write_text(text)
    return distlaw.build_atlas(folder / "sweep.toml", progress=False)


@pytest.fixture(scope="module")
def sizes_atlas(tmp_path_factory):
    return _build(tmp_path_factory, TEACHER_SIZES)


@pytest.fixture(scope="module")
def losses_atlas(tmp_path_factory):
    return _build(tmp_path_factory, TEACHER_LOSS)


@pytest.fixture(scope="module")
def sizes(sizes_atlas):
    return sizes_atlas.lookup()


def _exact(points):
    """L_T, Ltilde_S and L_S from the laws directly (no grid)."""
    sup, dist = SUP.from_natural(PAPER_SUPERVISED), DIST.from_natural(PAPER_DISTILLATION)
    l_t = points.get("teacher_loss")
    if l_t is None:
        l_t = np.asarray(predict_loss(SUP, sup, points["teacher_params"], points["teacher_tokens"]))
    l_sup = np.asarray(predict_loss(SUP, sup, points["student_params"], points["student_tokens"]))
    l_s = np.asarray(predict_loss(DIST, dist, points["student_params"], points["student_tokens"], l_t, supervised=sup))
    return {"teacher_loss": l_t, "supervised_loss": l_sup, "student_loss": l_s}


def _random_points(axes, n, seed):
    rng = np.random.default_rng(seed)
    return {name: np.exp(rng.uniform(np.log(a[0]), np.log(a[-1]), n)) for name, a in axes.items()}


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_nodes_return_the_stored_rows(sizes_atlas, sizes, method):
    stored = sizes_atlas.to_pandas("loss").drop(columns="student_size_index").sample(500, random_state=0)
    axes = ["student_params", "student_tokens", "teacher_params", "teacher_tokens"]
    found = sizes.lookup(**{a: stored[a].to_numpy() for a in axes}, method=method)
    assert list(found.columns) == list(stored.columns)
    for column in stored.columns:
        np.testing.assert_allclose(found[column].to_numpy(), stored[column].to_numpy(), rtol=1e-12, atol=0,
                                   err_msg=column)


def test_between_nodes_within_the_stated_error_of_the_exact_law(sizes):
    points = _random_points(sizes.axes, 2000, seed=1)
    exact = _exact(points)
    errors = {}
    for method in ("linear", "cubic"):
        found = sizes.lookup(**points, method=method)
        errors[method] = {c: np.max(np.abs(found[c].to_numpy() / exact[c] - 1)) for c in exact}
    assert errors["linear"]["student_loss"] < LINEAR_TOLERANCE, errors
    assert errors["cubic"]["student_loss"] < CUBIC_TOLERANCE, errors
    # The reason cubic is the default: an order of magnitude closer, on every loss column.
    for column in exact:
        assert errors["cubic"][column] < errors["linear"][column] / 10, errors
    # Interpolating the log of a power law in the axis's log: the default method is cubic.
    default = sizes.lookup(**points)
    np.testing.assert_array_equal(default.student_loss, sizes.lookup(**points, method="cubic").student_loss)


def test_broadcasting_and_column_choice(sizes):
    frame = sizes.lookup(student_params=2e9, student_tokens=[2e10, 5e10, 3e11], teacher_params=[[1.5e9], [6e9]],
                         teacher_tokens=1e11, columns=["student_loss"])
    assert frame.shape == (6, 5)
    assert list(frame.columns[-1:]) == ["student_loss"]
    assert frame.teacher_params.tolist() == [1.5e9] * 3 + [6e9] * 3
    exact = _exact({name: frame[name].to_numpy() for name in sizes.axes})
    np.testing.assert_allclose(frame.student_loss, exact["student_loss"], rtol=CUBIC_TOLERANCE)


@pytest.mark.parametrize(("axis", "value", "shown"), [("student_tokens", 2e12, "2e+12"), ("teacher_params", 5e8, "5e+08")])
def test_a_point_outside_the_grid_is_refused_naming_the_axis(sizes, axis, value, shown):
    point = {"student_params": 2e9, "student_tokens": 2e10, "teacher_params": 2e9, "teacher_tokens": 1e11}
    point[axis] = value
    with pytest.raises(InputError, match=rf"{axis} = {re.escape(shown)} is outside .*{axis} runs from"):
        sizes.lookup(**point)
    # The grid's own ends are inside, to rounding.
    point[axis] = sizes.axes[axis][-1 if value > 1e9 else 0] * (1 + 1e-14)
    assert np.isfinite(sizes.lookup(**point).student_loss).all()


def test_wrong_axes_columns_and_method_are_input_errors(sizes):
    point = {"student_params": 2e9, "student_tokens": 2e10}
    with pytest.raises(InputError, match="teacher_loss is not one of its axes"):
        sizes.lookup(**point, teacher_loss=2.5)
    with pytest.raises(InputError, match="teacher_tokens is missing"):
        sizes.lookup(**point, teacher_params=2e9)
    with pytest.raises(InputError, match="column 'loss': choose among"):
        sizes.lookup(**point, teacher_params=2e9, teacher_tokens=1e11, columns=["loss"])
    with pytest.raises(InputError, match="method 'quintic'"):
        sizes.lookup(**point, teacher_params=2e9, teacher_tokens=1e11, method="quintic")


def test_teacher_loss_axis_and_a_single_valued_axis(losses_atlas):
    table = distlaw.Atlas(losses_atlas.path).lookup()
    assert list(table.axes) == ["student_params", "student_tokens", "teacher_loss"]
    points = _random_points(table.axes, 500, seed=2)
    found = table.lookup(**points)
    exact = _exact(points)
    np.testing.assert_allclose(found.student_loss, exact["student_loss"], rtol=CUBIC_TOLERANCE)
    np.testing.assert_allclose(found.supervised_loss, exact["supervised_loss"], rtol=1e-6)
    # Ltilde_S does not depend on L_T, and neither does its interpolant (a spline reproduces constants).
    along = table.lookup(student_params=1e9, student_tokens=3e10, teacher_loss=[2.0, 2.23, 2.71, 3.0])
    np.testing.assert_allclose(along.supervised_loss, along.supervised_loss[0], rtol=1e-14)
    with pytest.raises(InputError, match="student_params = 1.1e\\+09: this atlas has the single value 1000000000"):
        table.lookup(student_params=1.1e9, student_tokens=2e10, teacher_loss=2.5)


def test_a_table_that_is_not_the_full_grid_is_refused(sizes_atlas, tmp_path):
    manifest = json.loads((sizes_atlas.path / "manifest.json").read_text())
    manifest["tables"]["loss"]["files"] = manifest["tables"]["loss"]["files"][1:]  # one student size gone
    partial = tmp_path / "partial"
    partial.mkdir()
    for entry in manifest["tables"]["loss"]["files"]:
        (partial / entry["path"]).parent.mkdir(parents=True)
        (partial / entry["path"]).write_bytes((sizes_atlas.path / entry["path"]).read_bytes())
    (partial / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AtlasError, match="student_params.* 4 distinct values where the sweep's axis has 5"):
        distlaw.Atlas(partial).lookup()


def test_cli_prints_a_table_and_json(sizes_atlas, sizes, capsys):
    args = ["query", str(sizes_atlas.path), "--student-params", "2e9,3e9", "--student-tokens", "2e10:2e11:3",
            "--teacher-params", "4e9", "--teacher-tokens", "1e11"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["student_params", "student_tokens", "teacher_params", "teacher_tokens",
                                    "teacher_loss"]
    assert len(lines) == 1 + 2 * 3  # the cartesian product
    assert main([*args, "--json", "--columns", "student_loss", "--method", "linear"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [set(r) for r in rows] == [set(sizes.axes) | {"student_loss"}] * 6
    assert [r["student_tokens"] for r in rows[:3]] == pytest.approx([2e10, 2e10 * 10 ** 0.5, 2e11])
    expected = sizes.lookup(**{a: [r[a] for r in rows] for a in sizes.axes}, method="linear")
    assert [r["student_loss"] for r in rows] == pytest.approx(expected.student_loss.tolist(), rel=1e-15)


@pytest.mark.parametrize("case", ["outside", "not an atlas", "both teacher forms", "bad list"])
def test_cli_bad_input_is_one_line_exit_2(sizes_atlas, tmp_path, capsys, case):
    base = ["query", str(sizes_atlas.path), "--student-params", "2e9", "--student-tokens", "2e10"]
    args, message = {
        "outside": ([*base, "--teacher-params", "4e9", "--teacher-tokens", "1e14"],
                    "teacher_tokens = 1e+14 is outside the atlas's grid"),
        "not an atlas": (["query", str(tmp_path), "--student-params", "2e9", "--student-tokens", "2e10",
                          "--teacher-loss", "2.5"], "not a finished atlas"),
        "both teacher forms": ([*base, "--teacher-params", "4e9", "--teacher-tokens", "1e11", "--teacher-loss", "2"],
                               "not both"),
        "bad list": ([*base, "--teacher-params", "4e9", "--teacher-tokens", "x"], "--teacher-tokens 'x'"),
    }[case]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err, captured.err
