"""The JAX settings a distlaw command runs under, and putting the caller's back afterwards.

The library never changes global JAX settings (it asks for float64 with
:func:`distlaw.laws.require_x64`); the CLI does, through :func:`configure_jax`, and restores
them with :func:`restore_jax`, so calling ``distlaw.cli.main([...])`` from Python leaves no
global state behind.
"""

from __future__ import annotations

import os
from pathlib import Path

_SAVED: dict = {}  # setting -> the caller's value, while a command runs


def configure_jax() -> None:
    """Float64 for fitting, and a persistent compilation cache so repeat runs skip compiling.

    The cache lives in ``DISTLAW_CACHE_DIR`` (default ``~/.cache/distlaw/jax``; empty: off) and
    is bounded to ``DISTLAW_CACHE_MAX_MB`` megabytes (default 512; JAX evicts the least
    recently used entries beyond it). :func:`restore_jax` puts back every setting changed here.
    """
    import jax

    settings = {"jax_enable_x64": True}
    cache = os.environ.get("DISTLAW_CACHE_DIR", str(Path.home() / ".cache" / "distlaw" / "jax"))
    if cache:
        max_bytes = int(float(os.environ.get("DISTLAW_CACHE_MAX_MB", "512")) * 2**20)
        settings.update(jax_compilation_cache_dir=cache, jax_persistent_cache_min_compile_time_secs=0,
                        jax_persistent_cache_min_entry_size_bytes=0, jax_compilation_cache_max_size=max_bytes)
    for name, value in settings.items():
        _SAVED.setdefault(name, getattr(jax.config, name))
        jax.config.update(name, value)


def configured() -> bool:
    """Whether a command's settings are in force (an outer command is running)."""
    return bool(_SAVED)


def restore_jax() -> None:
    """Put back the JAX settings :func:`configure_jax` changed."""
    if _SAVED:
        import jax

        for name, value in _SAVED.items():
            jax.config.update(name, value)
        _SAVED.clear()
