"""Compiled solver programs kept across processes, so a repeated command skips tracing them.

JAX's persistent compilation cache (which the CLI turns on) skips *compiling* a program a
second time, but every process still *traces* and *lowers* it to find the cache entry: 0.5 s
of a 1.3 s default fit as a whole command (measured, benchmarks/README.md), more than the fit
itself. Where a compilation cache folder is configured (``jax_compilation_cache_dir``), the
solver's compiled rounds are also stored whole, serialized with
``jax.experimental.serialize_executable``, under ``distlaw-executables/`` in that folder, and
loaded directly by a later process with the same program: the same distlaw sources, JAX,
backend and devices, static settings, and argument shapes and dtypes (all part of the file's
key). Without a cache folder (the library's default) nothing is written and the program is
jitted as usual. A file that cannot be loaded is ignored and rewritten; at most
``MAX_FILES`` are kept (the oldest go first).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from pathlib import Path

import jax

from ..version import __version__

MAX_FILES = 64
_LOADED: dict = {}  # key -> compiled program, for this process


@functools.cache
def _sources_digest() -> str:
    """sha256 of the modules whose code is inside the solver's programs (a changed source, even
    without a version bump, must never load an old program)."""
    here = Path(__file__).resolve().parent
    files = [here / "solver.py", here / "multistart.py", here.parent / "laws" / "forms.py",
             here.parent / "laws" / "registry.py", here.parent / "laws" / "catalog.py"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _key(name: str, static: tuple, args: tuple) -> str:
    leaves, treedef = jax.tree.flatten(args)
    shapes = [(tuple(getattr(x, "shape", ())), str(getattr(x, "dtype", type(x).__name__))) for x in leaves]
    devices = [(d.platform, d.device_kind) for d in jax.devices()]
    text = repr((name, __version__, _sources_digest(), jax.__version__, jax.default_backend(), devices,
                 bool(jax.config.jax_enable_x64), static, str(treedef), shapes))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def call(function, name: str, args: tuple, **static):
    """``function(*args, **static)`` (a jitted function with static keyword arguments), from a
    stored compiled program when a compilation cache folder is configured."""
    folder = jax.config.jax_compilation_cache_dir
    if not folder:
        return function(*args, **static)
    key = _key(name, tuple(sorted(static.items())), args)
    program = _LOADED.get(key)
    if program is None:
        program = _load(Path(folder) / "distlaw-executables" / f"{name}-{key}.bin")
        if program is None:
            program = function.lower(*args, **static).compile()
            _store(program, Path(folder) / "distlaw-executables" / f"{name}-{key}.bin")
        _LOADED[key] = program
    return program(*args)


def _load(path: Path):
    from jax.experimental import serialize_executable

    try:
        payload, in_tree, out_tree = pickle.loads(path.read_bytes())
        return serialize_executable.deserialize_and_load(payload, in_tree, out_tree)
    except Exception:  # noqa: BLE001 -- missing, stale or unreadable: compile instead
        return None


def _store(program, path: Path) -> None:
    from jax.experimental import serialize_executable

    try:
        blob = pickle.dumps(serialize_executable.serialize(program))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
        stored = sorted(path.parent.glob("*.bin"), key=lambda p: p.stat().st_mtime)
        for old in stored[:-MAX_FILES]:
            old.unlink(missing_ok=True)
    except Exception:  # noqa: BLE001 -- a cache that cannot be written is only slower
        pass
