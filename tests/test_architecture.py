"""The package's shape (ARCHITECTURE.md): which package may import which, no cycles, no private
names across packages, a clean public namespace, and start-up without JAX.

The rules are read from the source (every ``import`` statement, at module level or inside a
function), so a change that breaks them fails here, not in a reviewer's memory.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import distlaw

PACKAGE = Path(distlaw.__file__).resolve().parent

# Layers, bottom to top: a module may import its own package and the packages ranked below it.
RANK = {"errors": 0, "version": 0, "laws": 1, "io": 2, "fitting": 3, "planning": 4, "atlas": 5, "report": 6,
        "cli": 7, "__init__": 8, "__main__": 8}
# The bottom layers are free of JAX: io reads only the law catalog (plain data) from laws, and
# these modules import nothing that imports JAX.
JAX_FREE = ("distlaw", "distlaw.errors", "distlaw.version", "distlaw.laws", "distlaw.laws.catalog",
            "distlaw.laws.precision", "distlaw.io.runs", "distlaw.io.fitfile", "distlaw.io.datasets",
            "distlaw.io.files", "distlaw.io.progress", "distlaw.io.values", "distlaw.cli", "distlaw.cli.parser")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> list[tuple[str, tuple[str, ...]]]:
    """``(module imported, names taken from it)`` for every import statement of a distlaw module."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(alias.name, ()) for alias in node.names if alias.name.startswith("distlaw")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("distlaw"):
                continue
            names = tuple(alias.name for alias in node.names)
            # ``from . import module``: the imported thing is the submodule itself.
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            out += [(m, ()) for m in submodules] or [(target, names)]
    return out


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer():
    assert {package_of(m) for m in MODULES} <= set(RANK) | {"__main__"}, sorted({package_of(m) for m in MODULES})


def test_imports_run_one_way():
    """A module imports only its own package and the packages below it (ARCHITECTURE.md)."""
    wrong = []
    for name in MODULES:
        source = package_of(name)
        for target, _ in imports_of(name):
            if target == "distlaw":
                wrong += [f"{name} imports the distlaw facade"] if source != "__main__" else []
                continue
            dest = package_of(target)
            if dest != source and RANK[dest] >= RANK[source]:
                wrong.append(f"{name} -> {target}")
    assert not wrong, wrong


def test_io_reads_only_the_plain_data_of_the_laws():
    wrong = [f"{name} -> {target}" for name in MODULES if package_of(name) == "io"
             for target, _ in imports_of(name) if package_of(target) == "laws" and target != "distlaw.laws.catalog"]
    assert not wrong, wrong


def test_no_import_cycles():
    graph = {name: {t for t, _ in imports_of(name) if t in MODULES and t != name} for name in MODULES}
    # A package's __init__ re-exports its modules; an edge from a module to its own package
    # __init__ would close a loop, and none may exist.
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for name in MODULES:
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_no_private_names_across_packages():
    wrong = []
    for name in MODULES:
        for target, names in imports_of(name):
            if package_of(target) == package_of(name):
                continue
            def private_name(n):
                return n.startswith("_") and not (n.startswith("__") and n.endswith("__"))

            private = [n for n in names if private_name(n)] + [p for p in target.split(".") if private_name(p)]
            if private:
                wrong.append(f"{name} takes {private} from {target}")
    assert not wrong, wrong


def test_every_package_says_what_it_holds_and_may_import():
    for name, path in MODULES.items():
        if path.name == "__init__.py" and name != "distlaw":
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert "May import" in doc, name
            for module in (m for m in MODULES if m.startswith(name + ".")):
                assert module.rsplit(".", 1)[1] in doc, f"{name}'s docstring does not list {module}"


def test_public_namespace_is_clean():
    public = [n for n in dir(distlaw) if not n.startswith("_")]
    assert set(public) == set(distlaw.__all__) - {"__version__"}
    for name in distlaw.__all__:
        assert getattr(distlaw, name) is not None
    assert "annotations" not in dir(distlaw) and "importlib" not in dir(distlaw)


def _modules_loaded_by(code: str) -> list[str]:
    code += "\nimport sys\nprint(sorted(m for m in ('jax', 'numpy', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return eval(out.strip().splitlines()[-1])  # noqa: S307 -- our own subprocess's printed list


def test_the_bottom_layers_import_no_jax():
    loaded = _modules_loaded_by(f"import importlib\nfor m in {JAX_FREE!r}:\n    importlib.import_module(m)")
    assert "jax" not in loaded, loaded


def test_import_and_help_are_instant():
    """``import distlaw`` and ``distlaw --help`` import neither JAX nor NumPy nor pandas: the CLI's
    choices and help come from the JAX-free catalog."""
    assert _modules_loaded_by("import distlaw") == []
    help_code = ("from distlaw.cli import main\n"
                 "for argv in (['--help'], ['--version'], ['fit', '--help'], ['plan', '--help']):\n"
                 "    try:\n        main(argv)\n    except SystemExit:\n        pass")
    assert _modules_loaded_by(help_code) == []


def test_cli_choices_come_from_the_registry():
    """The law names, scenarios and defaults the CLI offers are the library's own."""
    import argparse

    from distlaw.cli import commands
    from distlaw.cli.parser import build_parser
    from distlaw.laws import LAWS
    from distlaw.laws.catalog import DEFAULT_HUBER_DELTA, PLAN_SCENARIOS
    from distlaw.laws.compute import SCENARIOS

    parser = build_parser(commands, "distlaw")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    fit_actions = {a.dest: a for a in sub.choices["fit"]._actions}
    plan_actions = {a.dest: a for a in sub.choices["plan"]._actions}
    assert tuple(fit_actions["law"].choices) == tuple(LAWS)
    assert "my_laws.py:kaplan" in fit_actions["law"].choices and "my_laws:kaplan" not in fit_actions["law"].choices
    assert fit_actions["huber_delta"].default == DEFAULT_HUBER_DELTA
    assert tuple(plan_actions["scenario"].choices) == ("all", "supervised", *SCENARIOS) == ("all", *PLAN_SCENARIOS)


def test_cli_holds_no_numerics():
    """The CLI parses, calls the library and prints: no numerical library is imported anywhere
    in it, at module level or inside a command (numerics belong to the library)."""
    imported = set()
    for name, path in MODULES.items():
        # runtime.py sets the CLI's JAX compilation cache: a setting, no numerics.
        if package_of(name) != "cli" or name == "distlaw.cli.runtime":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert not imported & {"jax", "jaxlib", "numpy", "pandas", "pyarrow", "scipy"}, imported


NOTEBOOK = """
import json, sys
import jax
import distlaw

fit = distlaw.ScalingLaw("chinchilla", huber_delta=1e-3).fit("gadre2024", where="dataset == 'rpj'")
predicted = fit.predict(([1e9], [2e10]))
plans = distlaw.plan([1e9], [1e21, 1e22], scenarios=["supervised", "teacher-inference"])
atlas = distlaw.build_atlas(sys.argv[1], output=sys.argv[2])
print(json.dumps({"files": {e["path"]: e["sha256"] for t in atlas.manifest["tables"].values() for e in t["files"]},"x64": bool(jax.config.jax_enable_x64), "params": fit.params,
                  "predicted": [float(v) for v in predicted], "dtype": str(predicted.dtype),
                  "student_loss": [float(v) for v in plans.student_loss]}))
"""


SWEEP = """
law = "paper"
chunk_rows = 1024
[loss]
student_params = {min = 143e6, max = 7.75e9, count = 2}
student_tokens = {min = 1e9, max = 1e13, count = 16}
teacher_loss = {min = 1.8, max = 3.0, count = 40}
[plan]
student_params = {values = [3e8, 1e9]}
budget = {min = 1e20, max = 1e23, count = 3}
"""


def test_a_notebook_just_works_and_matches_the_cli(tmp_path):
    """From a fresh Python with JAX as it comes (float32 by default): fit, predict, plan and an
    atlas in a few lines of public API; JAX's global setting is untouched afterwards, the
    coefficients equal the CLI's fit of the same table (the CLI runs in its own process) to 1e-9,
    and the atlas files are the CLI's, byte for byte."""
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SWEEP)
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    done = subprocess.run([sys.executable, "-c", NOTEBOOK, str(sweep), str(tmp_path / "notebook-atlas")],
                          capture_output=True, text=True, check=True, env=env)
    notebook = json.loads(done.stdout.strip().splitlines()[-1])
    assert notebook["x64"] is False
    assert notebook["dtype"] == "float64"

    out = tmp_path / "fit.json"
    subprocess.run([sys.executable, "-m", "distlaw", "fit", "gadre2024", "--where", "dataset == 'rpj'", "--law",
                    "chinchilla", "--huber-delta", "1e-3", "-o", str(out)], capture_output=True, text=True,
                   check=True, env={**os.environ, "DISTLAW_CACHE_DIR": ""})
    cli = json.loads(out.read_text())["params"]
    for name, value in cli.items():
        assert notebook["params"][name] == pytest.approx(value, rel=1e-9), name
    # The oracle for the prediction: the Chinchilla form in plain float64 at the fitted coefficients.
    p = notebook["params"]
    expected = p["E"] + p["A"] / 1e9 ** p["alpha"] + p["B"] / 2e10 ** p["beta"]
    assert notebook["predicted"][0] == pytest.approx(expected, rel=1e-13)
    plans = subprocess.run([sys.executable, "-m", "distlaw", "plan", "--student-params", "1e9", "--budget",
                            "1e21,1e22", "--scenario", "supervised", "--json"], capture_output=True, text=True,
                           check=True, env={**os.environ, "DISTLAW_CACHE_DIR": ""}).stdout
    cli_supervised = [row["student_loss"] for row in json.loads(plans)]
    assert notebook["student_loss"][::2] == pytest.approx(cli_supervised, rel=1e-12)
    subprocess.run([sys.executable, "-m", "distlaw", "atlas", str(sweep), "-o", str(tmp_path / "cli-atlas")],
                   capture_output=True, text=True, check=True, env={**env, "DISTLAW_CACHE_DIR": ""})
    manifest = json.loads((tmp_path / "cli-atlas" / "manifest.json").read_text())
    cli_files = {e["path"]: e["sha256"] for t in manifest["tables"].values() for e in t["files"]}
    assert notebook["files"] == cli_files and len(cli_files) >= 4
