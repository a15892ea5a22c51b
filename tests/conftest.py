"""Tests run JAX in float64 (the library never switches it on itself; fits require it)."""

import os
from importlib.util import find_spec
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)

# The real run tables ship inside the package (distlaw/data; found without importing distlaw before
# x64 is on); DISTLAW_SHARED_DATA points elsewhere.
PACKAGE_DATA = Path(find_spec("distlaw").origin).resolve().parent / "data"
SHARED_DATA = Path(os.environ.get("DISTLAW_SHARED_DATA", PACKAGE_DATA))

# CI runs slow checks in a reduced form; DISTLAW_FULL=1 runs them at full size.
FULL = os.environ.get("DISTLAW_FULL") == "1"


@pytest.fixture
def shared_data() -> Path:
    # The tables ship with the package: a missing folder is a broken install, not a reason to skip.
    assert SHARED_DATA.is_dir(), f"real run tables not found at {SHARED_DATA}"
    return SHARED_DATA

# The CLI's persistent compilation cache would outlive the test run; tests compile fresh.
os.environ.setdefault("DISTLAW_CACHE_DIR", "")
