"""The precursor's screens: rank every pattern of a grid for a map, in bounded memory.

* ``exhaustive``: ``test_steps`` ascent steps on every pattern (the articles');
* ``forward``: the activation of the raw pattern; one forward pass ranks all maps;
* ``halving``: successive halving from the forward values (a few steps on the best
  part, ``test_steps`` steps on the best of those).

Patterns are built chunk by chunk from their indices, so a screen keeps one float32
per pattern whatever the grid size.  Every ascent runs through :func:`oipviz.core.ascent.ascend`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from oipviz.compute.oip import map_objective, plan_transforms
from oipviz.compute.precursor_settings import PrecursorSettings
from oipviz.core.ascent import ascend, forward
from oipviz.core.errors import OipvizError
from oipviz.core.inits import pattern_digits, pattern_pixels, precursor_patterns
from oipviz.core.status import fires

#: budget (floats) for the (patterns × maps) table of a shared forward pass
FORWARD_TABLE_FLOATS = 32_000_000

Progress = Callable[[int], None] | None


@dataclass
class Screened:
    """One map's screen: a loss per pattern (NaN where not screened), the steps behind
    each (-1: none), the patterns eligible as candidates (the halving finalists, or all),
    the pool a wake top-up draws from (None: ``eligible``), time and image-steps."""

    losses: np.ndarray
    steps_of: np.ndarray
    eligible: np.ndarray
    pool: np.ndarray | None
    seconds: float
    units: int


def rank(losses: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest losses (ties: lower index first); NaNs never win."""
    v = np.where(np.isnan(losses), -np.inf, losses).astype(np.float64)
    k = min(k, len(v))
    if k < len(v):
        part = np.argpartition(-v, k - 1)[:k]
        # every index tied with the k-th value may belong in the top k: take them all
        kth = v[part].min()
        cand = np.flatnonzero(v >= kth)
    else:
        cand = np.arange(len(v))
    order = np.lexsort((cand, -v[cand]))
    return cand[order[:k]].astype(np.int64)


def _chunks(indices: np.ndarray, chunk: int) -> Iterator[np.ndarray]:
    for lo in range(0, len(indices), chunk):
        yield indices[lo : lo + chunk]


def pattern_indices(n: int, indices=None) -> np.ndarray:
    """The pattern indices a screen covers: all ``n``, or the given slice (checked)."""
    if indices is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(indices, np.int64).ravel()
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise OipvizError(f"pattern indices must be in 0…{n - 1}")
    return idx


def patterns(loaded, indices: np.ndarray, settings: PrecursorSettings) -> np.ndarray:
    """The patterns ``indices`` as engine-space images of the model's geometry: standardized
    (the articles'), or for ``range_mode='valid'`` the grey values as real pixels."""
    return grid_patterns(
        loaded, indices, settings.grid, settings.values, settings.range_mode == "valid"
    )


def grid_patterns(loaded, indices, grid: int, values, pixels: bool = False) -> np.ndarray:
    """:func:`oipviz.core.inits.precursor_patterns` of the model's geometry; ``pixels``: the
    grey values themselves (in [0, 1]) instead of the standardized pattern."""
    shape = loaded.geometry.shape
    if not pixels:
        return precursor_patterns(indices, grid, values, shape)
    return loaded.convention.to_engine(
        np.clip(pattern_pixels(indices, grid, values, shape), 0.0, 1.0)
    )


def range_transforms(loaded, settings: PrecursorSettings) -> tuple:
    """The transform list of every precursor ascent: none (free), or the projection onto
    the model's input range (valid)."""
    return plan_transforms(loaded.convention, settings.range_mode, "plain")


def ascent_screen(
    loaded, objective, indices: np.ndarray, settings: PrecursorSettings, steps: int,
    progress: Progress = None, prune: bool = True,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """The objective after ``steps`` ascent steps from each pattern of ``indices``
    (float32), and how many patterns the engine skipped (zero gradient: they cannot move).

    Patterns are built chunk by chunk, so memory stays bounded for any grid.  ``prune``:
    see :func:`oipviz.core.ascent.ascend` (False skips its zero-gradient check, e.g. when
    every pattern is known to be above zero).  The losses are float32 values of the images
    reached, whatever the steps' precision.
    """
    out = np.empty(len(indices), np.float32)
    pruned, pos = 0, 0
    for idx in _chunks(indices, settings.chunk):
        r = ascend(
            loaded, patterns(loaded, idx, settings), objective, steps=steps, lr=settings.lr,
            transforms=range_transforms(loaded, settings), seed=settings.seed,
            chunk=settings.chunk, history_points=1, progress=progress, prune=prune,
            precision=settings.precision, measure_start=False,
        )  # fmt: skip
        if r.interrupted:
            raise KeyboardInterrupt
        out[pos : pos + len(idx)] = r.final
        pos += len(idx)
        pruned += r.pruned
        if steps == 0 and progress:
            progress(len(idx))
    return out, pruned


def forward_table(
    loaded, layer: str, maps: list[int], indices: np.ndarray, settings: PrecursorSettings,
    progress: Progress = None, pre: bool = False,
) -> np.ndarray:  # fmt: skip
    """(len(indices), len(maps)) float32: each map's objective on each raw pattern.

    One forward pass per chunk gives every map of the layer (the same values as
    ``ascend(..., steps=0).final`` with ``map_mean``/``dense_unit`` objectives; with
    ``pre``, the values before the layer's activation).
    """
    info = loaded.layer(layer)
    cols = np.asarray(maps, np.int64)
    out = np.empty((len(indices), len(cols)), np.float32)
    pos = 0
    for idx in _chunks(indices, settings.chunk):
        a = forward(loaded, [(info.name, pre)], patterns(loaded, idx, settings), settings.chunk)[0]
        out[pos : pos + len(idx)] = (a.mean(axis=(1, 2)) if a.ndim == 4 else a)[:, cols]
        pos += len(idx)
        if progress:
            progress(len(idx))
    return out


def halving_plan(n: int, top: int, test_steps: int, rounds) -> list[tuple[int, int]]:
    """[(steps, patterns)] of the ascent rounds of a halving screen over ``n`` patterns.

    Each round keeps ``fraction`` of the previous one (at least 4·top, or top in the
    last round) and runs ``steps`` ascent steps on them (``test_steps`` in the last).
    """
    plan = []
    alive = n
    for k, (steps, frac) in enumerate(rounds):
        last = k == len(rounds) - 1
        steps = test_steps if (last or steps is None) else min(int(steps), test_steps)
        keep = min(alive, max(int(math.ceil(alive * frac)), top if last else 4 * top))
        plan.append((steps, keep))
        alive = keep
    return plan


def forward_group(n: int, n_maps: int) -> int:
    """How many maps share one forward pass over ``n`` patterns (bounded table)."""
    return max(1, min(n_maps, FORWARD_TABLE_FLOATS // max(n, 1)))


def screen_work(n: int, n_maps: int, settings: PrecursorSettings) -> int:
    """Progress units of the screen of ``n_maps`` maps: image-steps (one per forward image)."""
    s = settings
    if s.screen == "exhaustive":
        return n * s.test_steps * n_maps if s.test_steps else n * n_maps
    passes = -(-n_maps // forward_group(n, n_maps))
    if s.screen == "forward":
        return n * passes
    plan = halving_plan(n, s.top, s.test_steps, s.rounds)
    return n * passes + n_maps * sum(k * steps for steps, k in plan)


def work(n_maps: int, settings: PrecursorSettings, n: int | None = None) -> int:
    """Total progress units (screen + refine) of a run over ``n_maps`` maps (``n``
    patterns each; default: the whole grid)."""
    n = settings.n_patterns if n is None else n
    return screen_work(n, n_maps, settings) + n_maps * settings.top * settings.steps


def halving_screen(
    loaded, objective, indices: np.ndarray, forward: np.ndarray, settings: PrecursorSettings,
    progress: Progress = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Successive halving from forward values: (losses, steps, finalists) over ``indices``.

    Each round restarts from the raw patterns (memory stays bounded), so the last
    round's losses are exactly the exhaustive screen's for the patterns that reach it.
    """
    s = settings
    losses = forward.astype(np.float32).copy()
    steps_of = np.zeros(len(indices), np.int16)
    alive = np.arange(len(indices))
    for steps, keep in halving_plan(len(indices), s.top, s.test_steps, s.rounds):
        alive = alive[rank(losses[alive], keep)]
        # patterns above zero have a gradient: no zero-gradient check (the same result)
        prune = not fires(losses[alive]).all()
        losses[alive] = ascent_screen(loaded, objective, indices[alive], s, steps, progress, prune)[
            0
        ]
        steps_of[alive] = steps
    return losses, steps_of, alive


def screen_map(
    loaded, layer: str, m: int, idx: np.ndarray, forward_values: np.ndarray | None,
    settings: PrecursorSettings, progress: Progress = None,
) -> Screened:  # fmt: skip
    """Screen the patterns ``idx`` for map ``m`` (``forward_values``: the map's column of a
    shared :func:`forward_table`, for the forward and halving screens)."""
    s, n, t = settings, settings.n_patterns, time.perf_counter()
    obj = map_objective(loaded, layer, m)
    losses, steps_of = np.full(n, np.nan, np.float32), np.full(n, -1, np.int16)
    eligible, units = idx, 0
    if s.screen == "exhaustive":
        losses[idx] = ascent_screen(loaded, obj, idx, s, s.test_steps, progress)[0]
        steps_of[idx], units = s.test_steps, len(idx) * s.test_steps
    elif forward_values is None:
        raise ValueError(f"the {s.screen} screen needs the map's forward values")
    elif s.screen == "forward":
        losses[idx], steps_of[idx] = forward_values, 0
    else:
        hl, hs, fin = halving_screen(loaded, obj, idx, forward_values, s, progress)
        losses[idx], steps_of[idx], eligible = hl, hs, idx[fin]
        units = sum(k * st for st, k in halving_plan(len(idx), s.top, s.test_steps, s.rounds))
    pool = None if eligible is idx else idx
    return Screened(losses, steps_of, eligible, pool, time.perf_counter() - t, units)


def with_forward_time(screened: Screened, seconds: float) -> Screened:
    """The screen with its share of a shared forward pass added to its time."""
    return replace(screened, seconds=screened.seconds + seconds)


def estimate_seconds(
    loaded, layer: str, map: int, settings: PrecursorSettings, n_maps: int
) -> float:
    """Wall time of a run, from a short measured calibration of the engine on patterns."""
    s = replace(settings, grid=3, values=(0.2, 0.5, 0.8))
    obj = map_objective(loaded, layer, map)
    idx = np.arange(min(s.chunk, 1024), dtype=np.int64)
    ascent_screen(loaded, obj, idx[:8], s, 1)  # trace once
    t = time.perf_counter()
    ascent_screen(loaded, obj, idx, s, 2)
    rate = 2 * len(idx) / max(time.perf_counter() - t, 1e-6)  # image-steps/s
    forward_table(loaded, layer, [map], idx[:8], s)  # trace once
    t = time.perf_counter()
    forward_table(loaded, layer, [map], idx, s)
    frate = len(idx) / max(time.perf_counter() - t, 1e-6)  # images/s
    n = settings.n_patterns
    fwd_units = 0 if settings.screen == "exhaustive" else n * -(-n_maps // forward_group(n, n_maps))
    steps = work(n_maps, settings) - fwd_units
    return steps / rate + fwd_units / frate


def drop_duplicate_flats(indices: np.ndarray, grid: int, n_values: int) -> np.ndarray:
    """``indices`` without the one-value patterns but the first: every flat pattern is the
    same image once standardized, so refining several of them repeats one run."""
    if n_values < 2:
        return indices
    step = (n_values ** (grid * grid) - 1) // (n_values - 1)  # 11…1 in base V
    return indices[~np.isin(indices, np.arange(1, n_values, dtype=np.int64) * step)]


def candidates(
    loaded, layer: str, m: int, screened: Screened, settings: PrecursorSettings
) -> tuple[np.ndarray, str]:
    """Top ``top`` pattern indices by screen loss, and a note if there are fewer.  With
    ``wake``, when fewer than ``top`` patterns are above zero, the rest are the zero-loss
    patterns of the screen's pool nearest to firing (highest pre-activation).  A pattern at
    zero has no gradient and stays at zero, so the halving screen's pool is every pattern:
    the same zeros as the exhaustive screen's."""
    s, losses = settings, screened.losses
    eligible = drop_duplicate_flats(screened.eligible, s.grid, len(s.values))
    top_idx = eligible[rank(losses[eligible], s.top)]
    alive = fires(losses[top_idx])
    if not s.wake or alive.all():
        return top_idx, fewer_note(len(top_idx), s.top)
    pool = (
        eligible
        if screened.pool is None
        else drop_duplicate_flats(screened.pool, s.grid, len(s.values))
    )
    zero = pool[~fires(losses[pool])]
    pre = forward_table(loaded, layer, [m], zero, s, pre=True)[:, 0]
    need = s.top - int(alive.sum())
    return topped_up(top_idx[alive], zero[rank(pre, need + len(s.values))], s)


def topped_up(keep, fill, settings: PrecursorSettings) -> tuple[np.ndarray, str]:
    """``keep`` (candidates above zero) topped up to ``top`` from ``fill`` (patterns at
    zero, nearest to firing first), and a note if there are fewer."""
    need = settings.top - len(keep)
    # the V one-value patterns are all the same flat image: keep one of them
    d = pattern_digits(fill, settings.grid, len(settings.values)).reshape(len(fill), -1)
    flat = (d == d[:, :1]).all(axis=1)
    fill = fill[~flat | (np.cumsum(flat) == 1)][:need]
    out = np.concatenate([keep, fill])
    return out, fewer_note(len(out), settings.top)


def fewer_note(got: int, top: int) -> str:
    """Why fewer than ``top`` candidates were refined ("" if none are missing)."""
    return (
        ""
        if got >= top
        else (
            f"{got} of the {top} requested candidates refined: the one-value patterns are all "
            "the same flat image, so only one of them is kept"
        )
    )
