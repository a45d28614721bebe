"""The status vocabulary of a map, and the one threshold that decides it.

* ``live``: a random multi-scale init drives the map's activation above zero;
* ``rescued``: random inits fail, the precursor grid search succeeds;
* ``dead``: nothing tried moves the map above zero;
* ``pending``: not computed yet (an interrupted or partial run).

A precursor run on its own says ``above zero`` (or ``dead``): it does not know whether
random inits would wake the map too; only the rescue (random inits first) says ``rescued``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np
from numpy.typing import NDArray

LIVE, RESCUED, DEAD, PENDING = "live", "rescued", "dead", "pending"
STATUSES = (LIVE, RESCUED, DEAD, PENDING)
ABOVE_ZERO = "above zero"  # a precursor run's own verdict
WAKING = "waking"  # a training timeline's map: live now, dead at the previous point

#: an activation at or below this counts as zero (a ReLU map that never fired)
DEAD_EPS = 1e-6


@overload
def fires(value: float | np.floating) -> bool: ...


@overload
def fires(value: np.ndarray | Sequence[float]) -> NDArray[np.bool_]: ...


def fires(value: float | np.floating | np.ndarray | Sequence[float]) -> bool | NDArray[np.bool_]:
    """True where an activation counts as above zero (NaN never fires): a bool for one
    value, a boolean array for an array (or a sequence) of them."""
    v = np.asarray(value, np.float64)
    out = np.nan_to_num(v, nan=-np.inf) > DEAD_EPS
    return bool(out) if out.ndim == 0 else out


def live_or_dead(value) -> str:
    """``live`` or ``dead`` for one activation reached from random inits."""
    return LIVE if fires(value) else DEAD


def rescued_or_dead(value) -> str:
    """``rescued`` or ``dead`` for the activation the precursor reached on a map that random
    inits left dead (the rescue's verdict)."""
    return RESCUED if fires(value) else DEAD


def above_zero_or_dead(value) -> str:
    """``above zero`` or ``dead`` for the activation a precursor run reached on its own."""
    return ABOVE_ZERO if fires(value) else DEAD


def count(statuses) -> dict[str, int]:
    """How many of each status (every key present)."""
    statuses = list(statuses)
    return {s: statuses.count(s) for s in STATUSES}
