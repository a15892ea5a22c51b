"""Laws users write themselves (issue 19): a Python file or function, fitted like a built-in.

Oracles: SciPy's ``least_squares`` (TRF, Huber, bounded) on the same objective from 40 random
starts; the formula itself evaluated in NumPy for predictions.
"""

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from distlaw import ScalingLaw
from distlaw.errors import InputError
from distlaw.laws import user
from reference import scipy_chinchilla_best

KAPLAN_FILE = '''
BOUNDS = {"Nc": (1e10, 1e17), "Dc": (1e10, 1e17), "alpha_N": (0.01, 1.0), "alpha_D": (0.01, 1.0)}

def kaplan(params, tokens, Nc, Dc, alpha_N, alpha_D):
    """L = ((Nc/N)^(alpha_N/alpha_D) + Dc/D)^alpha_D (Kaplan et al. 2020, Eq. 1.5)"""
    return ((Nc / params) ** (alpha_N / alpha_D) + Dc / tokens) ** alpha_D
'''
KAPLAN = {"Nc": 8.8e13, "Dc": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}
DELTA = 1e-3


def kaplan_loss(n, d, c):
    return ((c["Nc"] / n) ** (c["alpha_N"] / c["alpha_D"]) + c["Dc"] / d) ** c["alpha_D"]


def kaplan_table(n_runs=160, noise=0.01, seed=3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n_runs))
    d = np.exp(rng.uniform(np.log(1e9), np.log(1e11), n_runs))
    loss = kaplan_loss(n, d, KAPLAN) * np.exp(rng.normal(0, noise, n_runs))
    return pd.DataFrame({"params": n, "tokens": d, "loss": loss})


def scipy_best(frame: pd.DataFrame, n_starts=40, seed=0) -> float:
    """Best summed Huber(delta) of log residuals from ``n_starts`` random starts in the box,
    with SciPy's least_squares (TRF, loss='huber', f_scale=delta), Nc and Dc as logs."""
    from scipy.optimize import least_squares

    n, d, y = (frame[c].to_numpy() for c in ("params", "tokens", "loss"))

    log_n, log_d, log_y = np.log(n), np.log(d), np.log(y)

    def residuals(z):  # log of Eq. 1.5, written to stay finite over the whole box
        log_nc, log_dc, alpha_n, alpha_d = z
        return alpha_d * np.logaddexp(alpha_n / alpha_d * (log_nc - log_n), log_dc - log_d) - log_y

    lower = [math.log(1e10), math.log(1e10), 0.01, 0.01]
    upper = [math.log(1e17), math.log(1e17), 1.0, 1.0]
    rng = np.random.default_rng(seed)
    best = math.inf
    for _ in range(n_starts):
        z0 = rng.uniform(lower, upper)
        with np.errstate(all="ignore"):
            fit = least_squares(residuals, z0, bounds=(lower, upper), loss="huber", f_scale=DELTA, method="trf",
                                xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=4000)
        r = np.abs(residuals(fit.x))
        value = float(np.sum(np.where(r <= DELTA, 0.5 * r**2, DELTA * (r - 0.5 * DELTA))))
        if np.isfinite(value):
            best = min(best, value)
    return best


@pytest.fixture(scope="module")
def kaplan_case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kaplan")
    (folder / "my_laws.py").write_text(KAPLAN_FILE)
    frame = kaplan_table()
    frame.to_csv(folder / "runs.csv", index=False)
    return folder, frame


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "distlaw", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True)


def test_a_law_from_a_file_fitted_from_the_cli_reaches_scipys_best(kaplan_case):
    folder, frame = kaplan_case
    done = run_cli("fit", "runs.csv", "--law", "my_laws.py:kaplan", "--huber-delta", DELTA, "-o", "fit.json",
                   cwd=folder)
    assert done.returncode == 0, done.stderr
    record = json.loads((folder / "fit.json").read_text())
    best = scipy_best(frame)
    assert record["objective"] <= best * (1 + 1e-9), (record["objective"], best)
    source = record["law_source"]
    assert source["function"] == "kaplan" and source["path"].endswith("my_laws.py")
    assert "def kaplan" in source["source"] and len(source["sha256"]) == 64
    r = np.abs(np.log(kaplan_loss(frame["params"], frame["tokens"], KAPLAN)) - np.log(frame["loss"]))
    at_truth = float(np.sum(np.where(r <= DELTA, 0.5 * r**2, DELTA * (r - 0.5 * DELTA))))
    assert record["objective"] <= at_truth  # no worse than the coefficients the table was drawn from


def test_predict_on_a_user_law_fit_agrees_with_the_formula(kaplan_case):
    folder, frame = kaplan_case
    if not (folder / "fit.json").exists():
        pytest.skip("needs the fit of the previous test")
    done = run_cli("predict", "fit.json", "runs.csv", "-o", "pred.csv", cwd=folder)
    assert done.returncode == 0, done.stderr
    predicted = pd.read_csv(folder / "pred.csv")["predicted_loss"].to_numpy()
    params = json.loads((folder / "fit.json").read_text())["params"]
    expected = kaplan_loss(frame["params"].to_numpy(), frame["tokens"].to_numpy(), params)
    np.testing.assert_allclose(predicted, expected, rtol=1e-9)


def test_a_changed_law_file_is_reported_and_the_fitted_law_used(kaplan_case, tmp_path):
    folder, frame = kaplan_case
    if not (folder / "fit.json").exists():
        pytest.skip("needs the fit of the first test")
    work = tmp_path / "w"
    work.mkdir()
    fit = json.loads((folder / "fit.json").read_text())
    fit["law_source"]["path"] = str(work / "my_laws.py")
    (work / "fit.json").write_text(json.dumps(fit))
    (work / "my_laws.py").write_text(KAPLAN_FILE.replace("** alpha_D\n", "** alpha_D * 1.5\n"))
    frame.to_csv(work / "runs.csv", index=False)
    done = run_cli("predict", "fit.json", "runs.csv", "-o", "pred.csv", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "changed since the fit" in done.stdout + done.stderr
    predicted = pd.read_csv(work / "pred.csv")["predicted_loss"].to_numpy()
    expected = kaplan_loss(frame["params"].to_numpy(), frame["tokens"].to_numpy(), fit["params"])
    np.testing.assert_allclose(predicted, expected, rtol=1e-9)  # the law as fitted, not the edited one
    (work / "my_laws.py").unlink()
    done = run_cli("predict", "fit.json", "runs.csv", "-o", "pred2.csv", cwd=work)
    assert done.returncode == 0 and "is gone" in done.stdout + done.stderr, done.stderr


def test_a_law_from_a_python_function_is_fitted_like_a_built_in():
    import jax.numpy as jnp

    def kaplan(params, tokens, Nc, Dc, alpha_N, alpha_D):
        return ((Nc / params) ** (alpha_N / alpha_D) + Dc / tokens) ** alpha_D

    bounds = {"Nc": (1e10, 1e17), "Dc": (1e10, 1e17), "alpha_N": (0.01, 1.0), "alpha_D": (0.01, 1.0)}
    frame = kaplan_table(seed=5)
    result = ScalingLaw(kaplan, bounds=bounds, huber_delta=DELTA).fit(frame, bootstrap=20, holdout="params > 5e9")
    assert result.objective <= scipy_best(frame[frame["params"] <= 5e9]) * (1 + 1e-9)
    assert set(result.intervals) == set(KAPLAN) and result.holdout["n"] > 0
    spec = user.resolve(kaplan, bounds)
    assert spec.name == result.law and set(spec.info.scale) == {"Nc", "Dc"}
    assert jnp.isfinite(result.predict((np.array([1e9]), np.array([1e10]))))[0]


def _law_file(tmp_path, text, name="laws.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return f"{path}:f"


@pytest.mark.parametrize("text, message", [
    ("BOUNDS = {'a': (0.0, 1.0)}\ndef f(params, a, b):\n    return a + b / params\n",
     r"missing bound for coefficient\(s\) \['b'\]"),
    ("def f(params, a):\n    return a / params\n", "no bounds"),
    ("BOUNDS = {'a': (1.0, 0.0)}\ndef f(params, a):\n    return a / params\n", "lo < hi"),
    ("BOUNDS = {'a': (0.0, 1.0)}\ndef f(size, a):\n    return a / size\n", "no argument of f is a run-table column"),
    ("BOUNDS = {'a': (0.0, 1.0)}\nINPUTS = ['width']\ndef f(params, a):\n    return a / params\n",
     r"INPUTS names \['width'\]"),
    ("import numpy as np\nBOUNDS = {'a': (0.1, 1.0)}\ndef f(params, a):\n    return float(np.log(a)) / params\n",
     "does not trace under JAX"),
    ("BOUNDS = {'a': (0.1, 1.0)}\ndef f(params, a):\n    return a\n", "one loss per run"),
    ("BOUNDS = {'a': (0.1, 1.0)}\ndef g(params, a):\n    return a / params\n", "no function 'f'"),
    ("BOUNDS = {'a': (0.1, 1.0)\n", "cannot load the law file"),
])
def test_each_user_law_mistake_gets_its_message(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        user.resolve(_law_file(tmp_path, text))


def test_an_unknown_column_is_named_when_the_table_lacks_it(tmp_path):
    reference = _law_file(tmp_path, "BOUNDS = {'a': (0.1, 10.0)}\nINPUTS = ['width']\n"
                                    "def f(params, width, a):\n    return a / params + 1 / width\n")
    frame = kaplan_table(40)
    with pytest.raises(Exception, match="missing column 'width'"):
        ScalingLaw(reference).fit(frame)


def test_the_cli_turns_a_law_mistake_into_one_line_and_exit_2(tmp_path):
    _law_file(tmp_path, "def f(params, a):\n    return a / params\n")
    kaplan_table(40).to_csv(tmp_path / "runs.csv", index=False)
    done = run_cli("fit", "runs.csv", "--law", "laws.py:f", "-o", "fit.json", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "no bounds" in done.stderr


def test_an_edited_law_is_a_new_law(tmp_path):
    first = user.resolve(_law_file(tmp_path, "BOUNDS = {'a': (0.1, 10.0)}\ndef f(params, a):\n    return a / params\n"))
    second = user.resolve(_law_file(tmp_path, "BOUNDS = {'a': (0.1, 10.0)}\ndef f(params, a):\n    return 2 * a / params\n"))
    assert first.name != second.name and first.name.split("@")[0] == second.name.split("@")[0]


def test_distlaw_laws_lists_every_built_in_with_its_published_coefficients(tmp_path):
    from distlaw.laws.catalog import LAW_NAMES

    done = run_cli("laws", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    laws = {law["law"]: law for law in json.loads(done.stdout)}
    assert tuple(laws) == LAW_NAMES and "kaplan" in laws
    kaplan = {c["name"]: c for c in laws["kaplan"]["coefficients"]}
    # Kaplan et al. (2020), Eq. 1.5: alpha_N 0.076, alpha_D 0.095, N_c 8.8e13, D_c 5.4e13.
    assert {n: c["presets"]["kaplan"] for n, c in kaplan.items()} == KAPLAN
    assert kaplan["Nc"]["log"] and not kaplan["alpha_N"]["log"]
    text = run_cli("laws", cwd=tmp_path).stdout
    for name in LAW_NAMES:
        assert f"{name}: L" in text
    assert "PATH.py:FUNCTION" in text


def test_distlaw_laws_imports_no_jax():
    code = ("import contextlib, io, sys\nfrom distlaw.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['laws'])\n"
            "print(sorted(m for m in ('jax', 'numpy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_a_weighted_fit_reaches_scipys_best_weighted_objective(tmp_path):
    from distlaw.laws import EPOCH_CHINCHILLA
    from distlaw.laws.synthetic import chinchilla_table

    frame = chinchilla_table(EPOCH_CHINCHILLA, 120, noise=0.02, seed=7)
    rng = np.random.default_rng(1)
    frame["w"] = rng.choice([0.0, 0.5, 1.0, 3.0], len(frame))
    frame.to_csv(tmp_path / "runs.csv", index=False)
    done = run_cli("fit", "runs.csv", "--law", "chinchilla", "--weights", "w", "--huber-delta", DELTA,
                   "-o", "fit.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "fit.json").read_text())
    best = scipy_chinchilla_best(frame, DELTA, weights=frame["w"].to_numpy())
    assert record["objective"] <= best * (1 + 1e-9), (record["objective"], best)
    assert record["weights"] == "w" and record["n_runs"] == int((frame["w"] > 0).sum())
    unweighted = ScalingLaw("chinchilla", huber_delta=DELTA).fit(frame)
    assert abs(unweighted.objective - record["objective"]) > 1e-6 * record["objective"]  # the weights mattered


def test_bad_weights_are_named(tmp_path):
    from distlaw.laws import EPOCH_CHINCHILLA
    from distlaw.laws.synthetic import chinchilla_table

    frame = chinchilla_table(EPOCH_CHINCHILLA, 30, noise=0.02, seed=7)
    frame["w"] = 1.0
    frame.loc[4, "w"] = -2.0
    frame.to_csv(tmp_path / "runs.csv", index=False)
    done = run_cli("fit", "runs.csv", "--law", "chinchilla", "--weights", "w", "-o", "fit.json", cwd=tmp_path)
    assert done.returncode == 2 and "column 'w', row 5: must be >= 0, got -2.0" in done.stderr, done.stderr
    frame["w"] = 0.0
    frame.to_csv(tmp_path / "runs.csv", index=False)
    done = run_cli("fit", "runs.csv", "--law", "chinchilla", "--weights", "w", "-o", "fit.json", cwd=tmp_path)
    assert done.returncode == 2 and "every weight is 0" in done.stderr, done.stderr


def test_plan_of_a_chinchilla_fit_is_the_closed_form_optimum(tmp_path):
    """Oracle: with C = 6ND, min_N E + A/N^a + B/D^b has N* = G (C/6)^(b/(a+b)),
    G = (a A / (b B))^(1/(a+b)) (Hoffmann et al., Eq. 4)."""
    from distlaw.planning.plans import plan_records

    fit = ScalingLaw("chinchilla", huber_delta=DELTA).fit("muennighoff2023")
    fit.save(tmp_path / "fit.json")
    from distlaw.laws.compute import Architecture

    budgets = [1e19, 1e21, 1e23]
    rows = [r for r in plan_records(None, budgets, fit=str(tmp_path / "fit.json"), arch=Architecture(six_nd=True))
            if r["compute_optimal"]]
    c = fit.params
    a, b = c["alpha"], c["beta"]
    g = (a * c["A"] / (b * c["B"])) ** (1 / (a + b))
    for row, budget in zip(rows, budgets, strict=True):
        n_star = g * (budget / 6) ** (b / (a + b))
        assert row["params"] == pytest.approx(n_star, rel=1e-6)
        assert row["tokens"] == pytest.approx(budget / (6 * n_star), rel=1e-6)
        assert row["loss"] == pytest.approx(c["E"] + c["A"] / n_star**a + c["B"] / (budget / (6 * n_star))**b,
                                            rel=1e-12)


def test_plan_of_a_user_law_fit_from_the_cli_is_the_closed_form_optimum(kaplan_case):
    """Oracle: Kaplan's Eq. 1.5 at C = 6ND is minimized where d/dN [(Nc/N)^p + 6 Dc N / C] = 0,
    N* = (p Nc^p C / (6 Dc))^(1/(p+1)), p = alpha_N / alpha_D."""
    folder, _ = kaplan_case
    if not (folder / "fit.json").exists():
        pytest.skip("needs the fit of the first test")
    done = run_cli("plan", "--fit", "fit.json", "--budget", "1e20,1e22", "--six-nd", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    c = json.loads((folder / "fit.json").read_text())["params"]
    p = c["alpha_N"] / c["alpha_D"]
    checked = 0
    for row in rows:
        n_star = (p * c["Nc"] ** p * row["budget"] / (6 * c["Dc"])) ** (1 / (p + 1))
        if 1e6 < n_star < 1e17 and 1e6 < row["budget"] / (6 * n_star) < 1e17:
            assert row["params"] == pytest.approx(n_star, rel=1e-6) and not row["on_bound"]
            checked += 1
    assert checked == 2


LAW_SWEEP = """
law = "{law}"
output = "atlas"
[loss]
params = {{min = 1e8, max = 1e11, count = 6}}
tokens = {{min = 1e9, max = 1e13, count = 9}}
[plan]
budget = {{min = 1e18, max = 1e24, count = 7}}
[compute]
six_nd = true
"""


def test_a_law_atlas_of_a_chinchilla_preset_is_the_formula_and_its_closed_form_plans(tmp_path):
    import distlaw
    from distlaw.errors import AtlasError
    from distlaw.laws import EPOCH_CHINCHILLA as c

    (tmp_path / "law.toml").write_text(LAW_SWEEP.format(law="epoch"))
    atlas = distlaw.build_atlas(tmp_path / "law.toml")
    loss = atlas.to_pandas("loss")
    n, d = loss["params"].to_numpy(), loss["tokens"].to_numpy()
    assert len(loss) == 54 and atlas.law["kind"] == "law" and atlas.law["law"] == "chinchilla"
    np.testing.assert_allclose(loss["loss"], c["E"] + c["A"] / n ** c["alpha"] + c["B"] / d ** c["beta"], rtol=1e-12)
    np.testing.assert_allclose(loss["training_flops"], 6 * n * d, rtol=1e-12)  # 3 F(N) D with F = 2N
    plan = atlas.to_pandas("plan")
    a, b = c["alpha"], c["beta"]
    g = (a * c["A"] / (b * c["B"])) ** (1 / (a + b))
    np.testing.assert_allclose(plan["params"], g * (plan["budget"] / 6) ** (b / (a + b)), rtol=1e-6)
    # Resumed: nothing is rewritten, the manifest is the same.
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "atlas").rglob("*.parquet")}
    again = distlaw.build_atlas(tmp_path / "law.toml")
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "atlas").rglob("*.parquet")} == before
    assert again.manifest["tables"] == atlas.manifest["tables"]
    with pytest.raises(AtlasError, match="no student or teacher axes"):
        distlaw.atlas.AtlasLookup(atlas)


def test_a_law_atlas_of_a_users_law_fit_is_its_formula(kaplan_case, tmp_path):
    import distlaw

    folder, _ = kaplan_case
    if not (folder / "fit.json").exists():
        pytest.skip("needs the fit of the first test")
    (tmp_path / "law.toml").write_text(LAW_SWEEP.format(law=folder / "fit.json"))
    atlas = distlaw.build_atlas(tmp_path / "law.toml")
    params = json.loads((folder / "fit.json").read_text())["params"]
    loss = atlas.to_pandas("loss")
    np.testing.assert_allclose(loss["loss"], kaplan_loss(loss["params"], loss["tokens"], params), rtol=1e-9)
    assert atlas.law["law_source"]["function"] == "kaplan"


@pytest.mark.parametrize("text, message", [
    (LAW_SWEEP.format(law="epoch").replace("params =", "student_params ="), "not 'loss.student_params'"),
    (LAW_SWEEP.format(law="muennighoff"), "an atlas needs a distillation fit or a law of params and tokens"),
])
def test_law_sweep_mistakes_are_named(tmp_path, text, message):
    from distlaw.atlas.sweep import load_sweep
    from distlaw.errors import SweepError

    (tmp_path / "law.toml").write_text(text)
    with pytest.raises(SweepError, match=message):
        load_sweep(tmp_path / "law.toml")
