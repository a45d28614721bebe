"""Argument checks shared by the Python API (the CLI's click types apply the same rules)."""

from __future__ import annotations

import math

import numpy as np

from oipviz.core.errors import LayerError, OipvizError

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


def parse_maps(text: str, units: int, layer: str | None = None) -> list[int]:
    """``46``, ``1,3,9``, ``0-15`` or ``all`` (the syntax of ``--map``) as the indices of a
    layer with ``units`` maps, each once, in the order given.

    Parameters
    ----------
    text : str
        The map specification.
    units : int
        The layer's number of maps (or units).
    layer : str, optional
        Its name, for the messages.

    Returns
    -------
    list of int
    """
    t, of = text.strip().lower(), f" for {layer}" if layer else ""
    if t == "all":
        return list(range(units))
    out: list[int] = []
    for part in t.split(","):
        part = part.strip()
        lo, sep, hi = part[1:].partition("-") if part else ("", "", "")
        try:
            if sep:
                a, b = int(part[0] + lo), int(hi)
                if b < a:
                    raise ValueError
                out.extend(range(a, b + 1) if a >= 0 and b < units else [a, b])
            else:
                out.append(int(part))
        except ValueError:
            raise LayerError(
                f"bad --map {text!r}{of}; use an index, a list (1,3,9), a range (0-15) or all"
            ) from None
    bad = [m for m in out if not 0 <= m < units]
    if bad:
        raise LayerError(f"map {bad[0]} out of range{of}: valid 0–{units - 1}")
    return list(dict.fromkeys(out))
