"""Lists of values as people type them: ``3e8,1e9`` or a log-spaced range ``1e20:1e25:11``."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def parse_values(text: str, argument: str) -> list[float]:
    """``3e8,1e9`` (a list) or ``1e20:1e25:11`` (11 log-spaced values, ends included).

    ``argument`` names the argument the text came from (the message starts with it;
    :class:`~distlaw.errors.InputError` carries it as ``argument``).
    """
    try:
        if ":" in text:
            lo, hi, count = text.split(":")
            count = int(count)
            if count < 1 or float(lo) <= 0 or float(hi) <= 0:
                raise ValueError
            return [float(v) for v in np.geomspace(float(lo), float(hi), count)]
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{argument} {text!r}: expected a list like 3e8,1e9 or a range like 1e20:1e25:11",
                         argument=argument) from None
    if not values or any(v <= 0 or not np.isfinite(v) for v in values):
        raise InputError(f"{argument} {text!r}: values must be positive and finite", argument=argument)
    return values
