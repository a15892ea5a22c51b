"""Compiled programs (the solver's, the atlas's) kept across processes, so a repeated command
skips tracing them.

JAX's persistent compilation cache (which the CLI turns on) skips *compiling* a program a
second time, but every process still *traces* and *lowers* it to find the cache entry: 0.5 s
of a 1.3 s default fit as a whole command (measured, benchmarks/README.md), more than the fit
itself. Where a compilation cache folder is configured (``jax_compilation_cache_dir``), the
solver's compiled rounds are also stored whole, serialized with
``jax.experimental.serialize_executable``, under ``distlaw-executables/`` in that folder, and
loaded directly by a later process with the same program: the same distlaw sources, JAX,
backend and devices, static settings, and argument shapes and dtypes (all part of the file's
key). Without a cache folder (the library's default) nothing is written. A file that cannot
be loaded is ignored and rewritten; at most ``MAX_FILES`` are kept (the oldest go first).

Either way the programs are compiled here, with :func:`compile_options`, and kept for the
process (as ``jax.jit`` keeps its own), and :func:`prepare` compiles one in the background
while the solver runs.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import os
import pickle
import threading
from pathlib import Path

import jax

from ..version import __version__

MAX_FILES = 64
_LOADED: dict = {}  # _local_key -> compiled program (or a Future of one), for this process


@functools.cache
def _sources_digest() -> str:
    """sha256 of distlaw's sources: whatever a stored program holds (the solver, the laws, the
    atlas's rows) comes from them, and a changed source, even without a version bump, must
    never load an old program. (All of them: a few milliseconds, once per process.)"""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _key(name: str, static: tuple, args: tuple, options: dict) -> str:
    leaves, treedef = jax.tree.flatten(args)
    shapes = [(tuple(getattr(x, "shape", ())), str(getattr(x, "dtype", type(x).__name__))) for x in leaves]
    devices = [(d.platform, d.device_kind) for d in jax.devices()]
    text = repr((name, __version__, _sources_digest(), jax.__version__, jax.default_backend(), devices,
                 bool(jax.config.jax_enable_x64), options, static, str(treedef), shapes))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def call(function, name: str, args: tuple, *, xla_options: dict | None = None, **static):
    """``function(*args, **static)`` (a jitted function with static keyword arguments), run
    by a program compiled with ``xla_options`` (default :func:`compile_options`) and kept for
    this process, and stored whole when a compilation cache folder is configured."""
    options = compile_options() if xla_options is None else dict(xla_options)
    key = _local_key(name, static, args, options)
    program = _LOADED.get(key)
    if isinstance(program, concurrent.futures.Future):  # being prepared in the background
        program = _LOADED[key] = program.result()
    if program is None:
        program = _LOADED[key] = _load_or_compile(function, name, args, static, options)
    return program(*args)


def prepare(function, name: str, args: tuple, **static) -> None:
    """Start loading or compiling the program that ``call(function, name, args, **static)``
    will need, in a background thread, and return at once.

    XLA compiles without holding Python's lock, so a program needed later (the Jacobian at the
    optimum) compiles on a second core while this thread traces and compiles the solver: 0.1 s
    of a small fit's cold start (benchmarks/README.md). ``args`` need only the shapes and
    dtypes of the real ones. A failure there is retried, and raised, by ``call``.
    """
    options = compile_options()
    key = _local_key(name, static, args, options)
    if key in _LOADED:
        return
    future: concurrent.futures.Future = concurrent.futures.Future()
    x64 = bool(jax.config.jax_enable_x64)  # a thread-local setting: carried into the thread

    def work():
        try:
            with jax.enable_x64(x64):
                future.set_result(_load_or_compile(function, name, args, static, options))
        except Exception:  # noqa: BLE001 -- call() compiles it again and raises there
            future.set_result(None)

    _LOADED[key] = future
    threading.Thread(target=work, name=f"distlaw-prepare-{name}").start()


def compile_options() -> dict:
    """XLA options of distlaw's solver programs (this call's only; nothing global changes).

    On the CPU, XLA's older loop emitters instead of its MLIR fusion emitters: the solver's
    round compiles in 0.39 s instead of 0.59 s and runs as fast (the same bits on every
    benchmark; benchmarks/README.md), which is a third of a small fit's cold start.
    """
    return {"xla_cpu_use_fusion_emitters": False} if jax.default_backend() == "cpu" else {}


def _local_key(name: str, static: dict, args: tuple, options: dict):
    """What makes a program distinct in this process: the static settings themselves (hashable),
    the arguments' structure, shapes and dtypes, the precision in force and the XLA options."""
    leaves, treedef = jax.tree.flatten(args)
    shapes = tuple((tuple(getattr(x, "shape", ())), str(getattr(x, "dtype", type(x).__name__))) for x in leaves)
    return (name, tuple(sorted(static.items())), treedef, shapes, bool(jax.config.jax_enable_x64),
            tuple(sorted(options.items())))


def _load_or_compile(function, name: str, args: tuple, static: dict, options: dict):
    folder = jax.config.jax_compilation_cache_dir
    path = None
    if folder:
        path = Path(folder) / "distlaw-executables" / f"{name}-{_key(name, tuple(sorted(static.items())), args, options)}.bin"
        program = _load(path)
        if program is not None:
            return program
    _WATCH.hit = False
    _WATCH.active = True
    try:
        program = function.lower(*args, **static).compile(compiler_options=options or None)
    finally:
        _WATCH.active = False
    # Only a program XLA compiled here is stored: one JAX loaded from its own persistent cache
    # serializes without its object code on the CPU, and loading that file later fails when it
    # runs ("Function ... not found"; tests/test_programs.py). Such a program is traced again
    # by the next process, as without this store.
    if path is not None and not _WATCH.hit:
        _store(program, path)
    return program


_WATCH = threading.local()  # this thread's compile: did JAX's persistent cache answer it?


def _on_event(event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits" and getattr(_WATCH, "active", False):
        _WATCH.hit = True


jax.monitoring.register_event_listener(_on_event)


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
