"""FIT.json: the record of a fit, and the built-in coefficient presets read through the same door.

A fit file holds at least ``law``, ``params`` (natural form), ``objective``, ``huber_delta``,
``n_runs``, ``n_starts``, ``converged_fraction`` and ``distlaw_version``; a distillation fit
also ``supervised`` (the supervised coefficients used for Ltilde_S), and optional
``intervals``, ``holdout``, ``groups``. Writes are atomic: a temporary file, then a rename.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import FitFileError
from .files import atomic_path
from ..laws.catalog import LAW_INFO, SUPERVISED_LAW, USER_LAW_INFO, LawInfo, law_info, preset_names, user_law_info


def write_json(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (never a half-written file)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, allow_nan=False) + "\n")


def finite_or_none(value):
    """For JSON and Parquet: a non-finite float (unreachable, unbounded) becomes None, and a
    NumPy scalar a plain Python value, recursively through dicts and lists."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # a NumPy scalar
        value = value.item()
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_or_none(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def load_fit(path_or_preset: str, law: str | None = None) -> dict:
    """A fit record from a FIT.json path, or a preset: ``paper`` (or ``LAW:PRESET``).

    ``law`` picks the law for a bare preset name (default: ``supervised`` for ``paper``).
    The record is validated: known law, every coefficient present, finite, scale constants > 0.
    """
    name = str(path_or_preset)
    if not Path(name).exists() and (name in preset_names() or ":" in name):
        law_name, _, preset = name.rpartition(":")
        owners = [n for n, i in LAW_INFO.items() if preset in i.presets]
        # A bare preset is ``law``'s when it has one, else the one law's that has it (``kaplan``,
        # ``epoch``), else the supervised law's.
        if not law_name:
            law_name = law if law in owners else owners[0] if len(owners) == 1 else law or SUPERVISED_LAW
        info = law_info(law_name)
        if preset not in info.presets:
            raise FitFileError(f"law {info.name!r} has no preset {preset!r}; presets: {sorted(info.presets)}")
        record = {"law": info.name, "params": dict(info.presets[preset]), "preset": preset}
        if info.needs_supervised:
            record["supervised"] = dict(LAW_INFO[SUPERVISED_LAW].presets["paper"])
        return record
    path = Path(name)
    if not path.is_file():
        raise FitFileError(f"{path}: no such fit file (or preset; presets: {sorted(preset_names())})")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise FitFileError(f"{path}: not valid JSON ({err})") from None
    # A user's file: bad input (ValueError, exit 2), not a programming error (TypeError).
    if not isinstance(record, dict):
        raise FitFileError(f"{path}: not a fit record (expected a JSON object with 'law' and 'params', "
                         f"found {type(record).__name__})")
    if not isinstance(record.get("params", {}), dict):
        raise FitFileError(f"{path}: key 'params' must be an object of coefficients")
    for key in ("law", "params"):
        if key not in record:
            raise FitFileError(f"{path}: missing key {key!r}")
    info = _user_law(record, path) if record["law"] not in LAW_INFO and "law_source" in record \
        else law_info(record["law"])
    _check_params(info, record["params"], f"{path}: params")
    if info.needs_supervised:
        if "supervised" not in record:
            raise FitFileError(f"{path}: a {info.name} fit needs its 'supervised' coefficients")
        _check_params(LAW_INFO[SUPERVISED_LAW], record["supervised"], f"{path}: supervised")
    return record


def _user_law(record: dict, path: Path) -> LawInfo:
    """The catalog entry of the user's law a FIT.json carries (``law_source``), registered so
    that the rest of distlaw finds it by name; no code runs here (that waits for JAX:
    :func:`distlaw.laws.user.spec_from_origin`)."""
    origin = record["law_source"]
    need = ("label", "function", "sha256", "source", "inputs", "target", "bounds")
    if not isinstance(origin, dict) or any(key not in origin for key in need):
        raise FitFileError(f"{path}: key 'law_source' must be an object with {', '.join(need)}")
    try:
        info = user_law_info(origin)
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise FitFileError(f"{path}: law_source: {err}") from None
    if info.name != record["law"]:
        raise FitFileError(f"{path}: law {record['law']!r} does not match its law_source ({info.name})")
    USER_LAW_INFO[info.name] = info
    return info


def supervised_coefficients(path_or_preset: str) -> dict:
    """Natural supervised-law coefficients from ``paper``, a supervised or chinchilla FIT.json
    (gamma = 1 for the latter) or a distillation FIT.json (its ``supervised`` entry)."""
    record = load_fit(path_or_preset, law="supervised")
    if LAW_INFO[record["law"]].needs_supervised:
        return dict(record["supervised"])
    if record["law"] == "chinchilla":
        return {**record["params"], "gamma": 1.0}
    return dict(record["params"])


def _check_params(info: LawInfo, params: dict, where: str) -> None:
    """Every coefficient of the law present and finite, scale constants (fitted as logs) > 0."""
    missing = [n for n in info.coefficients if n not in params]
    if missing:
        raise FitFileError(f"{where}: missing coefficient(s) {missing} for law {info.name!r}")
    for name in info.coefficients:
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise FitFileError(f"{where}: coefficient {name} = {value!r} is not a finite number")
        if name in info.scale and value <= 0:
            raise FitFileError(f"{where}: coefficient {name} must be > 0, got {value}")
