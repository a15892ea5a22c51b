"""The JAX settings a distlaw command runs under, and putting the caller's back afterwards.

The library never changes global JAX settings: it scopes float64 to its own calls
(:mod:`distlaw.laws.precision`). The CLI adds one setting of its own, a persistent compilation
cache so repeated commands skip compiling, through :func:`configure_jax`, and restores it
with :func:`restore_jax`, so calling ``distlaw.cli.main([...])`` from Python leaves no global
state behind.
"""

from __future__ import annotations

import os
from pathlib import Path

_SAVED: dict = {}  # setting -> the caller's value, while a command runs
_CONSOLE = {"quiet_imports": False}  # set by the console script (distlaw.cli.commands.run) alone


def console_start_up() -> None:
    """Called by the ``distlaw`` console script, never from Python: the first
    :func:`configure_jax` of the process imports JAX with the garbage collector paused, then
    freezes what the imports made (``gc.freeze``). Importing JAX allocates hundreds of thousands
    of objects and no garbage, which the collector walks again and again: 0.04 s of every
    command's start-up (measured). A caller's own objects are never frozen this way."""
    _CONSOLE["quiet_imports"] = True


def _import_jax():
    """``jax``, imported as :func:`console_start_up` asked (the first time only)."""
    if not _CONSOLE["quiet_imports"]:
        import jax

        return jax
    import gc

    _CONSOLE["quiet_imports"] = False
    gc.disable()
    try:
        import jax
    finally:
        gc.freeze()
        gc.enable()
    return jax


def configure_jax() -> None:
    """A persistent compilation cache, so repeat runs skip compiling.

    The cache lives in ``DISTLAW_CACHE_DIR`` (default ``~/.cache/distlaw/jax``; empty: off) and
    is bounded to ``DISTLAW_CACHE_MAX_MB`` megabytes (default 512; JAX evicts the least
    recently used entries beyond it). :func:`restore_jax` puts back every setting changed here.
    """
    jax = _import_jax()
    cache = os.environ.get("DISTLAW_CACHE_DIR", str(Path.home() / ".cache" / "distlaw" / "jax"))
    _SAVED.setdefault("__configured__", True)
    if not cache:
        return

    max_bytes = int(float(os.environ.get("DISTLAW_CACHE_MAX_MB", "512")) * 2**20)
    settings = dict(jax_compilation_cache_dir=cache, jax_persistent_cache_min_compile_time_secs=0,
                    jax_persistent_cache_min_entry_size_bytes=0, jax_compilation_cache_max_size=max_bytes)
    for name, value in settings.items():
        _SAVED.setdefault(name, getattr(jax.config, name))
        jax.config.update(name, value)


def configured() -> bool:
    """Whether a command's settings are in force (an outer command is running)."""
    return bool(_SAVED)


def restore_jax() -> None:
    """Put back the JAX settings :func:`configure_jax` changed."""
    _SAVED.pop("__configured__", None)
    if _SAVED:
        import jax

        for name, value in _SAVED.items():
            jax.config.update(name, value)
        _SAVED.clear()
