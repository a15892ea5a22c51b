"""Compiled solver programs stored beside JAX's compilation cache (distlaw.fitting.programs).

Oracle: the same fit with nothing stored (compiled in this process only). A stored program must give the same
bits, a damaged file must be ignored (recompiled, rewritten), and nothing is written where no
cache folder is configured.
"""

import os

import jax
import numpy as np
import pytest

from distlaw import fitting
from distlaw.fitting import programs
from distlaw.fitting.starts import design_starts
from distlaw.laws import EPOCH_CHINCHILLA, LAWS
from distlaw.laws.synthetic import chinchilla_table

CHIN = LAWS["chinchilla"]


@pytest.fixture
def cache_folder(tmp_path):
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "cache"))
    programs._LOADED.clear()
    try:
        yield tmp_path / "cache" / "distlaw-executables"
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
        programs._LOADED.clear()


def _fit():
    data = fitting.fit_data(CHIN, chinchilla_table(EPOCH_CHINCHILLA, 120, noise=0.02, seed=11))
    return fitting.fit(CHIN, data, starts=design_starts(CHIN, 64), delta=1e-3)


def test_stored_programs_give_the_jitted_fit_bit_for_bit(cache_folder):
    programs._LOADED.clear()
    jax.config.update("jax_compilation_cache_dir", None)
    plain = _fit()
    assert not cache_folder.exists()  # no cache folder configured: nothing written
    programs._LOADED.clear()  # what this process compiled is kept, so forget it: compile again
    jax.config.update("jax_compilation_cache_dir", str(cache_folder.parent))
    stored = _fit()  # compiles and stores
    files = sorted(cache_folder.glob("*.bin"))
    assert files, "no program stored"
    programs._LOADED.clear()  # a new process: load from the files
    loaded = _fit()
    for result in (stored, loaded):
        np.testing.assert_array_equal(result.params, plain.params)
        assert result.objective == plain.objective and result.std_errors == plain.std_errors


def test_a_damaged_program_file_is_ignored_and_rewritten(cache_folder):
    reference = _fit()
    for path in cache_folder.glob("*.bin"):
        path.write_bytes(b"not a program")
    programs._LOADED.clear()
    again = _fit()
    np.testing.assert_array_equal(again.params, reference.params)
    assert all(path.stat().st_size > 1000 for path in cache_folder.glob("*.bin"))


def test_a_small_fit_compiles_one_solver_program_for_screening_and_polish():
    """Issue 18: compile less. A 512-start default fit screens then polishes; both stages share
    one pool width, so one round program (the cold start is mostly its compilation)."""
    programs._LOADED.clear()
    data = fitting.fit_data(CHIN, chinchilla_table(EPOCH_CHINCHILLA, 120, noise=0.02, seed=11))
    result = fitting.fit(CHIN, data, starts=design_starts(CHIN, 512), delta=1e-3)
    assert result.status_counts.get("screened_out", 0) > 0  # both stages ran
    rounds = [key for key in programs._LOADED if key[0] == "advance"]
    assert len(rounds) == 1, rounds


def test_a_program_prepared_in_the_background_is_the_one_called(cache_folder):
    """prepare() compiles on another thread, in the caller's precision; call() then uses it and
    gives what the jitted function gives."""
    import jax.numpy as jnp

    @jax.jit
    def twice_plus(x, y):
        return 2.0 * x + y

    args = (np.linspace(0, 1, 7), np.float64(0.5))
    with jax.enable_x64(True):
        programs.prepare(twice_plus, "test-prepared", args)
        key = programs._local_key("test-prepared", {}, args, programs.compile_options())
        assert key in programs._LOADED
        out = programs.call(twice_plus, "test-prepared", args)
        assert out.dtype == jnp.float64  # the thread compiled in float64, as the caller asked
        np.testing.assert_array_equal(np.asarray(out), np.asarray(twice_plus(*args)))


def test_a_failed_background_compilation_is_raised_by_call(cache_folder):
    @jax.jit
    def broken(x):
        return x @ np.ones((3, 3))  # (4,) @ (3, 3): a shape error at tracing

    args = (np.ones(4),)
    programs.prepare(broken, "test-broken", args)
    with pytest.raises(TypeError):
        programs.call(broken, "test-broken", args)


_PROGRAM_SCRIPT = """
import sys, jax, jax.numpy as jnp
from distlaw.cli import runtime
runtime.configure_jax()  # JAX's persistent cache in DISTLAW_CACHE_DIR, as every command
jax.config.update("jax_enable_x64", True)
from distlaw.fitting import programs

def law(x, y):
    return jnp.exp(x) ** y * 3.0 + jnp.log1p(x)

value = programs.call(jax.jit(law), "test-law", (jnp.linspace(0.0, 1.0, 1000), jnp.float64(2.5)))
print(repr(float(value[-1])))
"""


def test_a_program_jax_loaded_from_its_own_cache_is_not_stored(tmp_path):
    """JAX's persistent cache answers a compile whose distlaw file is gone (evicted, or a
    source edit that left the program as it was); the executable it loads serializes without
    its object code on the CPU, and a later process loading that file failed as it ran
    ("Function ... not found"). Such a program must not be stored: every run gives the value."""
    import subprocess
    import sys

    env = {**os.environ, "DISTLAW_CACHE_DIR": str(tmp_path / "cache")}
    script = tmp_path / "program.py"
    script.write_text(_PROGRAM_SCRIPT)

    def run() -> float:
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return float(done.stdout.strip().splitlines()[-1])

    expected = float(np.exp(1.0) ** 2.5 * 3.0 + np.log1p(1.0))
    assert run() == pytest.approx(expected, rel=1e-15)  # compiled by XLA, stored
    stored = list((tmp_path / "cache" / "distlaw-executables").glob("test-law-*.bin"))
    assert len(stored) == 1
    stored[0].unlink()
    assert run() == pytest.approx(expected, rel=1e-15)  # answered by JAX's cache: not stored
    assert not list((tmp_path / "cache" / "distlaw-executables").glob("test-law-*.bin"))
    assert run() == pytest.approx(expected, rel=1e-15)
