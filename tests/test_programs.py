"""Compiled solver programs stored beside JAX's compilation cache (distlaw.fitting.programs).

Oracle: the same fit with nothing stored (plain jit). A stored program must give the same
bits, a damaged file must be ignored (recompiled, rewritten), and nothing is written where no
cache folder is configured.
"""

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
