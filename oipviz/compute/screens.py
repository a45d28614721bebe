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

import numpy as np

from oipviz.core.ascent import ascend, forward
from oipviz.core.errors import OipvizError
from oipviz.core.inits import pattern_digits, precursor_patterns
from oipviz.core.status import fires

SCREENS = ("exhaustive", "forward", "halving")
#: the precursor's screen unless told (bench/halving.py: the same top 8 and best refined
#: activation as the exhaustive screen on the maps measured, for a fraction of the work)
DEFAULT_SCREEN = "halving"
#: successive halving: (ascent steps, fraction of the previous round kept before it).
#: Round 0 is the forward value of every pattern; the last round always runs
#: ``test_steps`` steps, so its losses equal the exhaustive screen's.
HALVING_ROUNDS = ((3, 1 / 8), (None, 1 / 4))
#: budget (floats) for the (patterns × maps) table of a shared forward pass
FORWARD_TABLE_FLOATS = 32_000_000


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


def _all_indices(n: int, indices) -> np.ndarray:
    if indices is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(indices, np.int64).ravel()
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise OipvizError(f"pattern indices must be in 0…{n - 1}")
    return idx


def ascent_screen(
    loaded,
    objective,
    indices: np.ndarray,
    grid: int,
    values,
    steps: int,
    lr: float,
    chunk: int,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    prune: bool = True,
    precision: str = "float32",
) -> np.ndarray:
    """Objective after ``steps`` ascent steps from each pattern of ``indices`` (float32).

    Patterns are built chunk by chunk, so memory stays bounded for any grid.  ``prune``:
    see :func:`oipviz.core.ascent.ascend` (False skips its zero-gradient check, e.g. when every
    pattern is known to be above zero).  ``precision``: of the steps; the losses are
    float32 values of the images reached.
    """
    out = np.empty(len(indices), np.float32)
    pos = 0
    for idx in _chunks(indices, chunk):
        x = precursor_patterns(idx, grid, values)
        r = ascend(
            loaded,
            x,
            objective,
            steps=steps,
            lr=lr,
            seed=seed,
            chunk=chunk,
            history_points=1,
            progress=progress,
            prune=prune,
            precision=precision,
            measure_start=False,
        )
        if r.interrupted:
            raise KeyboardInterrupt
        out[pos : pos + len(idx)] = r.final
        pos += len(idx)
        if steps == 0 and progress:
            progress(len(idx))
    return out


def forward_table(
    loaded,
    layer: str,
    maps: list[int],
    indices: np.ndarray,
    grid: int,
    values,
    chunk: int,
    progress: Callable[[int], None] | None = None,
    pre: bool = False,
) -> np.ndarray:
    """(len(indices), len(maps)) float32: each map's objective on each raw pattern.

    One forward pass per chunk gives every map of the layer (the same values as
    ``ascend(..., steps=0).final`` with ``map_mean``/``dense_unit`` objectives; with
    ``pre``, the values before the layer's activation).
    """
    info = loaded.layer(layer)
    cols = np.asarray(maps, np.int64)
    out = np.empty((len(indices), len(cols)), np.float32)
    pos = 0
    for idx in _chunks(indices, chunk):
        x = precursor_patterns(idx, grid, values)
        a = forward(loaded, [(info.name, pre)], x, chunk)[0]
        out[pos : pos + len(idx)] = (a.mean(axis=(1, 2)) if a.ndim == 4 else a)[:, cols]
        pos += len(idx)
        if progress:
            progress(len(idx))
    return out


def halving_plan(n: int, top: int, test_steps: int, rounds=HALVING_ROUNDS) -> list[tuple[int, int]]:
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


def screen_work(
    n: int, n_maps: int, screen: str, test_steps: int, top: int, rounds=HALVING_ROUNDS
) -> int:
    """Progress units of the screen of ``n_maps`` maps: image-steps (one per forward image)."""
    if screen == "exhaustive":
        return n * test_steps * n_maps if test_steps else n * n_maps
    passes = -(-n_maps // forward_group(n, n_maps))
    if screen == "forward":
        return n * passes
    return n * passes + n_maps * sum(s * k for s, k in halving_plan(n, top, test_steps, rounds))


def halving_screen(
    loaded,
    objective,
    indices: np.ndarray,
    forward: np.ndarray,
    grid: int,
    values,
    top: int,
    test_steps: int,
    lr: float,
    chunk: int,
    seed: int = 0,
    rounds=HALVING_ROUNDS,
    progress=None,
    precision: str = "float32",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Successive halving from forward values: (losses, steps, finalists) over ``indices``.

    Each round restarts from the raw patterns (memory stays bounded), so the last
    round's losses are exactly the exhaustive screen's for the patterns that reach it.
    """
    losses = forward.astype(np.float32).copy()
    steps_of = np.zeros(len(indices), np.int16)
    alive = np.arange(len(indices))
    for steps, keep in halving_plan(len(indices), top, test_steps, rounds):
        alive = alive[rank(losses[alive], keep)]
        # patterns above zero have a gradient: no zero-gradient check (the same result)
        losses[alive] = ascent_screen(
            loaded,
            objective,
            indices[alive],
            grid,
            values,
            steps,
            lr,
            chunk,
            seed,
            progress,
            not fires(losses[alive]).all(),
            precision,
        )
        steps_of[alive] = steps
    return losses, steps_of, alive


def work(n: int, n_maps: int, screen: str, test_steps: int, top: int, steps: int) -> int:
    """Total progress units (screen + refine) of a run over ``n_maps`` maps."""
    return screen_work(n, n_maps, screen, test_steps, top) + n_maps * top * steps


def estimate_seconds(
    loaded,
    layer: str,
    map: int,
    screen: str,
    n: int,
    n_maps: int,
    test_steps: int,
    top: int,
    steps: int,
    lr: float = 0.02,
    chunk: int = 1024,
) -> float:
    """Wall time of a run, from a short measured calibration of the engine on patterns."""
    from oipviz.compute.precursor import _objective

    obj = _objective(loaded, layer, map)
    vals = (0.2, 0.5, 0.8)
    idx = np.arange(min(chunk, 1024), dtype=np.int64)
    ascent_screen(loaded, obj, idx[:8], 3, vals, 1, lr, chunk)  # trace once
    t = time.perf_counter()
    ascent_screen(loaded, obj, idx, 3, vals, 2, lr, chunk)
    rate = 2 * len(idx) / max(time.perf_counter() - t, 1e-6)  # image-steps/s
    forward_table(loaded, layer, [map], idx[:8], 3, vals, chunk)  # trace once
    t = time.perf_counter()
    forward_table(loaded, layer, [map], idx, 3, vals, chunk)
    frate = len(idx) / max(time.perf_counter() - t, 1e-6)  # images/s
    fwd_units = 0 if screen == "exhaustive" else n * -(-n_maps // forward_group(n, n_maps))
    steps = work(n, n_maps, screen, test_steps, top, steps) - fwd_units
    return steps / rate + fwd_units / frate


def drop_duplicate_flats(indices: np.ndarray, grid: int, n_values: int) -> np.ndarray:
    """``indices`` without the one-value patterns but the first: every flat pattern is the
    same image once standardized, so refining several of them repeats one run."""
    if n_values < 2:
        return indices
    step = (n_values ** (grid * grid) - 1) // (n_values - 1)  # 11…1 in base V
    return indices[~np.isin(indices, np.arange(1, n_values, dtype=np.int64) * step)]


def _candidates(
    loaded, layer, m, grid, vals, losses, eligible, top, chunk, wake, pool=None
) -> tuple[np.ndarray, str]:
    """Top ``top`` pattern indices by screen loss, and a note if there are fewer.  With
    ``wake``, when fewer than ``top`` patterns are above zero, the rest are the zero-loss
    patterns of ``pool`` (default: ``eligible``) nearest to firing (highest pre-activation).
    A pattern at zero has no gradient and stays at zero, so the halving screen's pool is
    every pattern: the same zeros as the exhaustive screen's."""
    eligible = drop_duplicate_flats(eligible, grid, len(vals))
    top_idx = eligible[rank(losses[eligible], top)]
    alive = fires(losses[top_idx])
    if not wake or alive.all():
        return top_idx, _fewer_note(len(top_idx), top)
    pool = eligible if pool is None else drop_duplicate_flats(pool, grid, len(vals))
    zero = pool[~fires(losses[pool])]
    pre = forward_table(loaded, layer, [m], zero, grid, vals, chunk, pre=True)[:, 0]
    need = top - int(alive.sum())
    return topped_up(top_idx[alive], zero[rank(pre, need + len(vals))], top, grid, vals)


def topped_up(keep, fill, top, grid, vals) -> tuple[np.ndarray, str]:
    """``keep`` (candidates above zero) topped up to ``top`` from ``fill`` (patterns at
    zero, nearest to firing first), and a note if there are fewer."""
    need = top - len(keep)
    # the V one-value patterns are all the same flat image: keep one of them
    d = pattern_digits(fill, grid, len(vals)).reshape(len(fill), -1)
    flat = (d == d[:, :1]).all(axis=1)
    fill = fill[~flat | (np.cumsum(flat) == 1)][:need]
    out = np.concatenate([keep, fill])
    return out, _fewer_note(len(out), top)


def _fewer_note(got: int, top: int) -> str:
    return (
        ""
        if got >= top
        else (
            f"{got} of the {top} requested candidates refined: the one-value patterns are all the "
            "same flat image, so only one of them is kept"
        )
    )
