"""Argument checks shared by the Python API (the CLI's click types apply the same rules)."""

from __future__ import annotations

import math

import numpy as np

from oipviz.core.errors import OipvizError

SEED_MAX = 2**31 - 1
#: the most ascent steps any command or API call takes (the CLI's limit too)
MAX_STEPS = 1_000_000


def number(
    name: str, value, lo: float | None = None, hi: float | None = None, min_open: bool = False
) -> float:
    """A finite float in [lo, hi] (``min_open``: lo excluded), else a one-line error."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OipvizError(f"{name} must be a number (got {value!r})") from None
    if not math.isfinite(v):
        raise OipvizError(f"{name} must be finite (got {value!r})")
    if lo is not None and (v < lo or (min_open and v == lo)):
        raise OipvizError(f"{name} must be {'>' if min_open else '>='} {lo:g} (got {value!r})")
    if hi is not None and v > hi:
        raise OipvizError(f"{name} must be <= {hi:g} (got {value!r})")
    return v


def integer(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """An integer in [lo, hi], else a one-line error."""
    not_int = isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))
    if not_int and not (isinstance(value, float) and value.is_integer()):
        raise OipvizError(f"{name} must be an integer (got {value!r})")
    v = int(value)
    if lo is not None and v < lo:
        raise OipvizError(f"{name} must be >= {lo} (got {v})")
    if hi is not None and v > hi:
        raise OipvizError(f"{name} must be <= {hi} (got {v})")
    return v


def seed(value) -> int:
    return integer("seed", value, 0, SEED_MAX)


def steps(value, lo: int = 1) -> int:
    """Ascent steps: an integer in [lo, MAX_STEPS] (the CLI's limits)."""
    return integer("steps", value, lo, MAX_STEPS)


def lr(value) -> float:
    return number("lr", value, 0.0, 100.0, min_open=True)


def finite_array(name: str, x) -> np.ndarray:
    """A float32 array without NaN/inf."""
    a = np.asarray(x, np.float32)
    if not np.isfinite(a).all():
        raise OipvizError(f"{name} contains NaN or infinite values")
    return a
