"""Float64 for distlaw's own computations, without touching the caller's JAX settings.

distlaw computes in float64 (the Huber region of delta = 1e-4 is below the resolution of a
float32 log loss, and in float32 the compute-optimal N* at 1e20 FLOPs comes out as 9.297e8
instead of 9.319e8). It never flips the global ``jax_enable_x64`` switch: every public entry
point that computes with JAX runs inside :func:`float64`'s scope (``jax.enable_x64``, a
thread-local context), so a notebook keeps JAX as it had it, and gets the same digits as the
command line. Arrays returned to the caller are float64 NumPy or JAX arrays.

JAX is imported when a decorated function is first called, not when this module is imported,
so modules that only decorate stay free of JAX at import time.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def float64_scope() -> Iterator[None]:
    """A block in which JAX computes in float64; the caller's setting is back afterwards."""
    import jax

    with jax.enable_x64(True):
        yield


def float64(function: Callable) -> Callable:
    """Run ``function`` in :func:`float64_scope` (nesting is free: the inner scope is a no-op)."""

    @functools.wraps(function)
    def scoped(*args, **kwargs):
        with float64_scope():
            return function(*args, **kwargs)

    return scoped
