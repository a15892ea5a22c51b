"""Laws users write themselves: a Python function of run-table columns and coefficients.

The convention is lmfit's: the function's arguments named after run-table columns are its
inputs (``params``, ``tokens``, ... or those a module-level ``INPUTS`` lists), the others are
its coefficients, and it returns the predicted loss (nats per token). A module-level
``BOUNDS = {"name": (lo, hi), ...}`` (or ``bounds=`` in the API) gives every coefficient's
box; ``TARGET`` names the observed-loss column (default ``loss``). Kaplan et al. (2020), Eq. 1.5::

    BOUNDS = {"Nc": (1e10, 1e17), "Dc": (1e10, 1e17), "alpha_N": (0.01, 1.0), "alpha_D": (0.01, 1.0)}

    def kaplan(params, tokens, Nc, Dc, alpha_N, alpha_D):
        return ((Nc / params) ** (alpha_N / alpha_D) + Dc / tokens) ** alpha_D

A coefficient whose box is positive and spans at least three decades is optimized as its log
(as the built-in laws' scale constants are); the others as they are. The law is registered
under ``LABEL@DIGEST`` (``my_laws.py:kaplan@1a2b3c4d5e6f``): the digest of its source, its
boxes, inputs and target, so an edited law is a new law (and never runs a program compiled
for the old one). Its origin (path, function, digest, source) is kept in its catalog entry
and written to FIT.json, from which :func:`spec_from_origin` builds it again: from the file
when it still has the same digest, else from the source stored in the fit, with a note.

Loading a law runs its file's code, as importing a module does: a FIT.json of a user law
runs the code stored in it, so open only fits you trust.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import math
import sys
import types
from collections import namedtuple
from collections.abc import Callable, Mapping
from pathlib import Path

import jax
import jax.numpy as jnp

from ..errors import InputError
from . import catalog, registry
from .precision import float64


def resolve(law, bounds: Mapping[str, tuple] | None = None) -> registry.LawSpec:
    """The :class:`~distlaw.laws.registry.LawSpec` of ``law``: a built-in or registered name,
    ``"PATH.py:FUNCTION"``, a Python function (its boxes from ``bounds`` or its module's
    ``BOUNDS``), or a LawSpec."""
    if isinstance(law, registry.LawSpec):
        return law
    if callable(law):
        return law_from_function(law, bounds)
    if not isinstance(law, str):
        raise InputError(f"law must be a law name, PATH.py:FUNCTION or a function, got {type(law).__name__}",
                         argument="law")
    if law in registry.LAWS or law in registry.USER_LAWS:
        return registry.lookup(law)
    info = catalog.USER_LAW_INFO.get(law)
    if info is not None:  # a user's law read from a FIT.json, not yet built
        return spec_from_origin(info)[0]
    if _is_file_reference(law):
        return law_from_file(law)
    return registry.get_law(law)


def _is_file_reference(text: str) -> bool:
    path, colon, _ = text.rpartition(":")
    return bool(colon) and path.endswith(".py")


def law_from_file(reference: str) -> registry.LawSpec:
    """The law ``FUNCTION`` of the Python file ``PATH`` (``"my_laws.py:kaplan"``)."""
    path_text, _, function_name = reference.rpartition(":")
    path = Path(path_text)
    if not path.is_file():
        raise InputError(f"{path_text}: no such law file (in --law {reference})", argument="law")
    source = path.read_text(encoding="utf-8")
    module = _run_module(source, str(path), reference)
    function = getattr(module, function_name, None)
    if not callable(function):
        found = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__)
        raise InputError(f"{path_text}: no function {function_name!r} (functions: {found})", argument="law")
    return law_from_function(function, getattr(module, "BOUNDS", None), inputs=getattr(module, "INPUTS", None),
                             target=getattr(module, "TARGET", None), label=f"{path.name}:{function_name}",
                             origin={"path": str(path), "function": function_name, "source": source})


def law_from_function(
    function: Callable,
    bounds: Mapping[str, tuple] | None = None,
    *,
    inputs=None,
    target: str | None = None,
    label: str | None = None,
    formula: str | None = None,
    origin: dict | None = None,
) -> registry.LawSpec:
    """Register ``function`` as a law and return its spec.

    Args:
      function: ``f(inputs..., coefficients...) -> loss`` (nats per token), written with
        ``jax.numpy`` or plain arithmetic, so that JAX can trace and differentiate it.
      bounds: ``{coefficient: (lo, hi)}`` for every coefficient, finite, lo < hi (default: the
        function's module's ``BOUNDS``).
      inputs: the arguments that are run-table columns (default: those named like a known
        column, :data:`distlaw.laws.catalog.RUN_COLUMNS`, and the module's ``INPUTS``).
      target: the observed-loss column (default ``loss``).
      label: the law's display name (default: the function's name).
      formula: one line for ``distlaw laws`` and reports (default: the docstring's first line).
      origin: where it came from (``path``, ``function``, ``source``), for FIT.json.
    Raises:
      InputError naming the function and what is wrong: a coefficient without a box, a bad box,
      a function without coefficients or inputs, or one that does not trace under JAX.
    """
    module = sys.modules.get(getattr(function, "__module__", ""), None)
    if bounds is None:
        bounds = getattr(module, "BOUNDS", None)
    inputs = inputs if inputs is not None else getattr(module, "INPUTS", None)
    target = target or getattr(module, "TARGET", None) or "loss"
    name = getattr(function, "__name__", "law")
    label = label or name
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        raise InputError(f"law {label}: cannot read the function's arguments", argument="law") from None
    arguments = [p.name for p in signature.parameters.values()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY)]
    extra = set(inputs or ()) - set(arguments)
    if extra:
        raise InputError(f"law {label}: INPUTS names {sorted(extra)}, which are not arguments of {name}",
                         argument="law")
    input_names = tuple(a for a in arguments if a in catalog.RUN_COLUMNS or a in set(inputs or ()))
    coefficients = tuple(a for a in arguments if a not in input_names)
    if not input_names:
        raise InputError(f"law {label}: no argument of {name} is a run-table column "
                         f"(name them after columns, e.g. {sorted(catalog.RUN_COLUMNS)[:4]}, or list them in INPUTS)",
                         argument="law")
    if not coefficients:
        raise InputError(f"law {label}: {name} has no coefficients to fit (every argument is a column)",
                         argument="law")
    box = _check_bounds(label, coefficients, bounds)
    source_text = (origin or {}).get("source") or _function_source(function)
    digest = hashlib.sha256(json.dumps({"source": source_text, "function": name, "bounds": box,
                                        "inputs": input_names, "target": target}, sort_keys=True).encode()).hexdigest()
    info = catalog.user_law_info({
        "label": label, "path": (origin or {}).get("path"), "function": name, "sha256": digest,
        "source": source_text, "inputs": list(input_names), "target": target,
        "bounds": {c: list(box[c]) for c in coefficients},
        "formula": formula or _first_line(function) or f"L = {name}({', '.join(arguments)})",
    })
    if info.name in registry.USER_LAWS:
        return registry.USER_LAWS[info.name]
    fields = tuple(f"log_{c}" if c in info.scale else c for c in coefficients)
    spec = registry.LawSpec(info, namedtuple(f"{name}_params", fields),
                            _log_loss(function, coefficients, info.scale, input_names))
    _check_traces(spec, label, name)
    catalog.USER_LAW_INFO[info.name] = info
    registry.USER_LAWS[info.name] = spec
    return spec


def spec_from_origin(info: catalog.LawInfo) -> tuple[registry.LawSpec, str | None]:
    """Build again the law a FIT.json describes (``info.origin``): from its file when the file
    still has the fitted digest, else from the source stored in the fit. Returns the spec and a
    note when the file changed or is gone (None otherwise)."""
    origin = info.origin
    path, function_name = origin.get("path"), origin["function"]
    note = None
    if path and Path(path).is_file():
        spec = law_from_file(f"{path}:{function_name}")
        if spec.info.origin["sha256"] == origin["sha256"]:
            return spec, None
        note = (f"{path} changed since the fit (its law {function_name} now has digest "
                f"{spec.info.origin['sha256'][:12]}, the fit {origin['sha256'][:12]}): using the law as fitted, "
                f"stored in the fit")
    elif path:
        note = f"{path} is gone: using the law {function_name} as fitted, stored in the fit"
    # A function typed in a notebook was stored alone: give it the names such code leans on.
    preload = None if path else {"jax": jax, "jnp": jnp, "math": math, "np": __import__("numpy")}
    module = _run_module(origin["source"], path or f"<fit: {function_name}>", origin.get("label", function_name),
                         preload)
    function = getattr(module, function_name)
    bounds = {c: tuple(v) for c, v in origin["bounds"].items()}
    spec = law_from_function(function, bounds, inputs=origin["inputs"], target=origin["target"],
                             label=origin.get("label"), formula=origin.get("formula"),
                             origin={"path": path, "function": function_name, "source": origin["source"]})
    if spec.name != info.name:
        raise InputError(f"the law stored in the fit ({info.name}) does not rebuild to the same law ({spec.name})")
    return spec, note


def _run_module(source: str, filename: str, label: str, preload: dict | None = None) -> types.ModuleType:
    """Execute a law's source as a fresh module (its own namespace; never cached in sys.modules
    under a name another file could take)."""
    name = "distlaw_user_law_" + hashlib.sha256(f"{filename}\n{source}".encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_loader(name, loader=None, origin=filename)
    module = importlib.util.module_from_spec(spec)
    module.__file__ = filename
    module.__dict__.update(preload or {})
    sys.modules[name] = module  # inspect.getsource and dataclasses look modules up by name
    try:
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 -- the user's own law file
    except Exception as exc:  # noqa: BLE001 -- any error in the user's file is theirs to see, named
        del sys.modules[name]
        raise InputError(f"{filename}: cannot load the law file ({label}): {type(exc).__name__}: {exc}",
                         argument="law") from None
    return module


def _check_bounds(label: str, coefficients: tuple[str, ...], bounds) -> dict[str, tuple[float, float]]:
    if bounds is None:
        raise InputError(f"law {label}: no bounds: give every coefficient a box (lo, hi) in BOUNDS "
                         f"(module level) or bounds= ({', '.join(coefficients)})", argument="law")
    missing = [c for c in coefficients if c not in bounds]
    if missing:
        raise InputError(f"law {label}: missing bound for coefficient(s) {missing}; BOUNDS has {sorted(bounds)}",
                         argument="law")
    box = {}
    for c in coefficients:
        try:
            lo, hi = (float(v) for v in bounds[c])
        except (TypeError, ValueError):
            raise InputError(f"law {label}: bound of {c} must be (lo, hi) numbers, got {bounds[c]!r}",
                             argument="law") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InputError(f"law {label}: bound of {c} must be finite with lo < hi, got ({lo}, {hi})",
                             argument="law")
        box[c] = (lo, hi)
    return box


def _log_loss(function: Callable, coefficients, scale, input_names) -> Callable:
    """``log_loss(params, *log_inputs) -> log L`` from the natural-units ``function``."""

    def log_loss(params, *log_inputs):
        values = {c: (jnp.exp(v) if c in scale else v) for c, v in zip(coefficients, params, strict=True)}
        columns = {n: jnp.exp(x) for n, x in zip(input_names, log_inputs, strict=True)}
        return jnp.log(function(**columns, **values))

    return log_loss


@float64
def _check_traces(spec: registry.LawSpec, label: str, name: str) -> None:
    """Trace the law once (shapes only) on three runs: it must give one loss per run. A function written with NumPy or ``math`` on its arguments fails here, named."""
    params = spec.params_type(*(jax.ShapeDtypeStruct((), jnp.float64) for _ in spec.fields))
    runs = [jax.ShapeDtypeStruct((3,), jnp.float64) for _ in spec.input_columns]
    try:
        out = jax.eval_shape(spec.log_loss, params, *runs)
    except Exception as exc:  # noqa: BLE001 -- whatever the user's code raised, named
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise InputError(f"law {label}: {name} does not trace under JAX (write it with jax.numpy or plain "
                         f"arithmetic on its arguments): {text[:300]}", argument="law") from None
    if getattr(out, "shape", None) != (3,):
        raise InputError(f"law {label}: {name} must return one loss per run (shape (3,) for 3 runs), "
                         f"got shape {getattr(out, 'shape', None)}", argument="law")


def _function_source(function: Callable) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):  # no source to keep: the bytecode tells functions apart in this process
        code = getattr(function, "__code__", None)
        marker = hashlib.sha256(repr((code.co_code, code.co_consts)).encode()).hexdigest() if code else id(function)
        return f"<no source: {getattr(function, '__qualname__', function)!r} {marker}>"


def _first_line(function: Callable) -> str | None:
    doc = inspect.getdoc(function)
    return doc.strip().splitlines()[0] if doc else None
