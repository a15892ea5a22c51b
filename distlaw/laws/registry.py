"""The law registry: one :class:`LawSpec` per law, built from the catalog and the JAX forms.

    >>> import jax.numpy as jnp
    >>> from distlaw.laws import LAWS
    >>> spec = LAWS["supervised"]
    >>> p = spec.from_natural(spec.presets["paper"])
    >>> float(jnp.exp(spec.log_loss(p, jnp.log(1e9), jnp.log(2e10))))  # doctest: +SKIP
    2.3746...

Adding a law is one entry in :mod:`distlaw.laws.catalog` (its data), one function and params
type in :mod:`distlaw.laws.forms` (its JAX form) and one line in ``_FORMS`` below; the fitter,
the CLI, FIT.json and the parametrized tests then iterate over it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax.numpy as jnp

from ..errors import InputError
from . import catalog, forms
from .precision import float64


# Natural form <-> optimizer form: scale constants are optimized as logs (Appendix F).
def _log_fields(names: tuple[str, ...]) -> dict[str, str]:
    """Map optimizer field -> natural name, e.g. ``log_a -> A``, ``log_d1 -> d1``."""
    out = {}
    for name in names:
        if name.startswith("log_"):
            stem = name[4:]
            out[name] = stem.upper() if len(stem) == 1 else stem
        else:
            out[name] = name
    return out


class LawSpec(NamedTuple):
    """Everything the fitter, the CLI and the tests need to know about one law: its catalog
    entry (plain data, :class:`~distlaw.laws.catalog.LawInfo`) and its JAX form.

    Attributes:
      info: the catalog entry: name, formula, coefficients, inputs, target, boxes, presets,
        start grid, what the law needs (``needs_supervised``, ``optional_columns``).
      params_type: NamedTuple of optimizer-space coefficients.
      log_loss: ``log_loss(params, *log_inputs) -> log L``.
    The catalog's fields read through: ``name``, ``input_columns`` (run-table columns feeding
    ``log_inputs`` in order, logs taken on load; the distillation law's last input, Ltilde_S,
    is computed from a supervised law), ``target_column``, ``presets``, ``bounds`` (natural
    form, ``None`` an open side), ``paper_starts`` (per optimizer field), ``optional_columns``,
    ``needs_supervised``, ``formula``, ``default_starts``.
    """

    info: catalog.LawInfo
    params_type: type
    log_loss: Callable

    name = property(lambda self: self.info.name)
    input_columns = property(lambda self: self.info.inputs)
    target_column = property(lambda self: self.info.target)
    presets = property(lambda self: self.info.presets)
    bounds = property(lambda self: self.info.bounds)
    optional_columns = property(lambda self: self.info.optional_columns)
    needs_supervised = property(lambda self: self.info.needs_supervised)
    formula = property(lambda self: self.info.formula)
    default_starts = property(lambda self: self.info.default_starts)

    @property
    def paper_starts(self) -> dict[str, tuple[float, ...]]:
        """The published grid of starts, ``{optimizer field: values}``."""
        return dict(zip(self.fields, self.info.paper_starts, strict=True))

    @property
    def fields(self) -> tuple[str, ...]:
        return self.params_type._fields

    @property
    def natural_names(self) -> tuple[str, ...]:
        return self.info.coefficients  # in field order (checked for the built-ins by _spec)

    def to_natural(self, params) -> dict[str, float]:
        """Optimizer-space params (NamedTuple or sequence) -> ``{natural name: value}``."""
        out = {}
        for field, natural, value in zip(self.fields, self.natural_names, params, strict=True):
            value = float(value)
            # Plain Python: an eager jnp.exp compiles a program (0.02 s of every fit) and would
            # round to float32 outside a float64 scope.
            out[natural] = math.exp(value) if field.startswith("log_") else value
        return out

    def from_natural(self, values: Mapping[str, float]):
        """``{natural name: value}`` -> optimizer-space NamedTuple of float64 scalars."""
        missing = [n for n in self.natural_names if n not in values]
        if missing:
            raise InputError(f"law {self.name!r} needs coefficients {missing}")
        vals = []
        for field, natural in zip(self.fields, self.natural_names, strict=True):
            v = float(values[natural])
            if field.startswith("log_"):
                if v <= 0:
                    raise InputError(f"coefficient {natural} must be > 0, got {v}")
                v = math.log(v)
            vals.append(v)
        return self.params_type(*vals)


# Law name -> (optimizer-space params type, log-loss function).
_FORMS = {
    "chinchilla": (forms.ChinchillaParams, forms.chinchilla_log_loss),
    "supervised": (forms.SupervisedParams, forms.supervised_log_loss),
    "distillation": (forms.DistillationParams, forms.distillation_log_loss),
    "data_constrained": (forms.DataConstrainedParams, forms.data_constrained_log_loss),
    "kaplan": (forms.KaplanParams, forms.kaplan_log_loss),
    "distillation@ridge": (forms.DistillationRidgeParams, forms.distillation_ridge_log_loss),
}


def _spec(info: catalog.LawInfo) -> LawSpec:
    params_type, log_loss = _FORMS[info.name]
    spec = LawSpec(info, params_type, log_loss)
    # The catalog (read without JAX by the CLI and FIT.json checks) must describe the JAX form.
    mapping = _log_fields(spec.fields)
    scale = {mapping[field] for field in spec.fields if field.startswith("log_")}
    if tuple(mapping[f] for f in spec.fields) != info.coefficients or scale != set(info.scale):
        raise AssertionError(f"law {info.name!r}: the catalog and the JAX form disagree on the coefficients")
    return spec


# The built-in laws, and users' laws met in this process (``LABEL@DIGEST``, :mod:`distlaw.laws.user`).
LAWS: dict[str, LawSpec] = {name: _spec(info) for name, info in catalog.LAW_INFO.items()}
USER_LAWS: dict[str, LawSpec] = {}
# Internal: a law's ridge coordinates, keyed by the law (catalog.RIDGE_INFO; distlaw.fitting.ridge).
RIDGES: dict[str, LawSpec] = {law: _spec(info) for law, info in catalog.RIDGE_INFO.items()}
_RIDGE_NAMES = {spec.name: spec for spec in RIDGES.values()}


def lookup(name: str) -> LawSpec:
    """The law registered as ``name``, built-in or a user's (see :func:`get_law` for errors)."""
    spec = LAWS.get(name) or USER_LAWS.get(name) or _RIDGE_NAMES.get(name)
    return spec if spec is not None else get_law(name)


def get_law(name: str) -> LawSpec:
    """The registered law called ``name``; :class:`~distlaw.errors.InputError` lists the choices otherwise."""
    return LAWS[catalog.law_info(name).name]


@float64
def predict_loss(spec: LawSpec, params, *inputs, supervised=None):
    """Loss in nats per token for natural-unit inputs (N, D[, L_T]) under ``spec``.

    For the distillation law, ``supervised`` is the SupervisedParams (optimizer form) giving
    Ltilde_S = L(N_S, D_S).
    """
    log_inputs = [jnp.log(jnp.asarray(x, dtype=jnp.float64)) for x in inputs]
    if spec.needs_supervised:
        if supervised is None:
            raise InputError("the distillation law needs supervised coefficients for Ltilde_S")
        log_inputs.append(forms.supervised_log_loss(supervised, log_inputs[0], log_inputs[1]))
    return jnp.exp(spec.log_loss(params, *log_inputs))
