"""The precursor's screens: rank every pattern of a grid for a map, in bounded memory.

* ``exhaustive``: ``test_epochs`` ascent steps on every pattern (the articles');
* ``forward``: the activation of the raw pattern; one forward pass ranks all maps;
* ``halving``: successive halving from the forward values (a few steps on the best
  part, ``test_epochs`` steps on the best of those).

Patterns are built chunk by chunk from their indices, so a screen keeps one float32
per pattern whatever the grid size.  Every ascent runs through :func:`oipviz.ascent.ascend`.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Iterator

import numpy as np

from .ascent import ascend, forward
from .errors import OipvizError
from .inits import precursor_patterns

SCREENS = ("exhaustive", "forward", "halving")
#: successive halving: (ascent steps, fraction of the previous round kept before it).
#: Round 0 is the forward value of every pattern; the last round always runs
#: ``test_epochs`` steps, so its losses equal the exhaustive screen's.
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
        yield indices[lo:lo + chunk]


def _all_indices(n: int, indices) -> np.ndarray:
    if indices is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(indices, np.int64).ravel()
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise OipvizError(f"pattern indices must be in 0…{n - 1}")
    return idx


def ascent_screen(loaded, objective, indices: np.ndarray, grid: int, values, steps: int,
                  lr: float, chunk: int, seed: int = 0,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Objective after ``steps`` ascent steps from each pattern of ``indices`` (float32).

    Patterns are built chunk by chunk, so memory stays bounded for any grid.
    """
    out = np.empty(len(indices), np.float32)
    pos = 0
    for idx in _chunks(indices, chunk):
        x = precursor_patterns(idx, grid, values)
        r = ascend(loaded, x, objective, steps=steps, lr=lr, seed=seed, chunk=chunk,
                   history_points=1, progress=progress)
        if r.interrupted:
            raise KeyboardInterrupt
        out[pos:pos + len(idx)] = r.final
        pos += len(idx)
        if steps == 0 and progress:
            progress(len(idx))
    return out


def forward_table(loaded, layer: str, maps: list[int], indices: np.ndarray, grid: int, values,
                  chunk: int, progress: Callable[[int], None] | None = None,
                  pre: bool = False, with_pre: bool = False):
    """(len(indices), len(maps)) float32: each map's objective on each raw pattern.

    One forward pass per chunk gives every map of the layer (the same values as
    ``ascend(..., steps=0).final`` with ``map_mean``/``dense_unit`` objectives; with
    ``pre``, the values before the layer's activation).  ``with_pre``: a pair (values,
    pre-activation values) from the same pass.
    """
    info = loaded.layer(layer)
    heads = [(info.name, pre)] + ([(info.name, True)] if with_pre else [])
    cols = np.asarray(maps, np.int64)
    outs = [np.empty((len(indices), len(cols)), np.float32) for _ in heads]
    pos = 0
    for idx in _chunks(indices, chunk):
        x = precursor_patterns(idx, grid, values)
        for out, a in zip(outs, forward(loaded, heads, x, chunk)):
            out[pos:pos + len(idx)] = (a.mean(axis=(1, 2)) if a.ndim == 4 else a)[:, cols]
        pos += len(idx)
        if progress:
            progress(len(idx))
    return tuple(outs) if with_pre else outs[0]


def halving_plan(n: int, top: int, test_epochs: int, rounds=HALVING_ROUNDS) -> list[tuple[int, int]]:
    """[(steps, patterns)] of the ascent rounds of a halving screen over ``n`` patterns.

    Each round keeps ``fraction`` of the previous one (at least 4·top, or top in the
    last round) and runs ``steps`` ascent steps on them (``test_epochs`` in the last).
    """
    plan = []
    alive = n
    for k, (steps, frac) in enumerate(rounds):
        last = k == len(rounds) - 1
        steps = test_epochs if (last or steps is None) else min(int(steps), test_epochs)
        keep = min(alive, max(int(math.ceil(alive * frac)), top if last else 4 * top))
        plan.append((steps, keep))
        alive = keep
    return plan


def forward_group(n: int, n_maps: int) -> int:
    """How many maps share one forward pass over ``n`` patterns (bounded table)."""
    return max(1, min(n_maps, FORWARD_TABLE_FLOATS // max(n, 1)))


def screen_work(n: int, n_maps: int, screen: str, test_epochs: int, top: int,
                rounds=HALVING_ROUNDS) -> int:
    """Progress units of the screen of ``n_maps`` maps: image-steps (one per forward image)."""
    if screen == "exhaustive":
        return n * test_epochs * n_maps if test_epochs else n * n_maps
    passes = -(-n_maps // forward_group(n, n_maps))
    if screen == "forward":
        return n * passes
    return n * passes + n_maps * sum(s * k for s, k in halving_plan(n, top, test_epochs, rounds))


def halving_screen(loaded, objective, indices: np.ndarray, forward: np.ndarray, grid: int,
                   values, top: int, test_epochs: int, lr: float, chunk: int, seed: int = 0,
                   rounds=HALVING_ROUNDS, progress=None,
                   pre: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Successive halving from forward values: (losses, steps, finalists) over ``indices``.

    Each round restarts from the raw patterns (memory stays bounded), so the last
    round's losses are exactly the exhaustive screen's for the patterns that reach it.
    ``pre`` (the raw patterns' pre-activations): patterns at zero, which have no gradient
    and stay at zero, are ranked by it below those above zero, so the finalists hold the
    patterns nearest to firing that the wake top-up picks from (as from the exhaustive
    screen's zeros).
    """
    losses = forward.astype(np.float32).copy()
    steps_of = np.zeros(len(indices), np.int16)
    alive = np.arange(len(indices))
    for steps, keep in halving_plan(len(indices), top, test_epochs, rounds):
        key = losses[alive] if pre is None else _key(losses[alive], pre[alive])
        alive = alive[rank(key, keep)]
        losses[alive] = ascent_screen(loaded, objective, indices[alive], grid, values, steps,
                                      lr, chunk, seed, progress)
        steps_of[alive] = steps
    return losses, steps_of, alive


def _key(losses: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """Rank key: the loss above zero, else the pre-activation (at most the loss, so at
    or below zero and below every loss that fires)."""
    from .status import DEAD_EPS, fires

    return np.where(fires(losses), losses, np.minimum(pre, DEAD_EPS))


def work(n: int, n_maps: int, screen: str, test_epochs: int, top: int, epochs: int) -> int:
    """Total progress units (screen + refine) of a run over ``n_maps`` maps."""
    return screen_work(n, n_maps, screen, test_epochs, top) + n_maps * top * epochs


def estimate_seconds(loaded, layer: str, map: int, screen: str, n: int, n_maps: int,
                     test_epochs: int, top: int, epochs: int, lr: float = 0.02,
                     chunk: int = 1024) -> float:
    """Wall time of a run, from a short measured calibration of the engine on patterns."""
    from .precursor import _objective

    obj = _objective(loaded, layer, map)
    vals = (0.2, 0.5, 0.8)
    idx = np.arange(min(chunk, 1024), dtype=np.int64)
    ascent_screen(loaded, obj, idx[:8], 3, vals, 1, lr, chunk)          # trace once
    t = time.perf_counter()
    ascent_screen(loaded, obj, idx, 3, vals, 2, lr, chunk)
    rate = 2 * len(idx) / max(time.perf_counter() - t, 1e-6)            # image-steps/s
    forward_table(loaded, layer, [map], idx[:8], 3, vals, chunk)        # trace once
    t = time.perf_counter()
    forward_table(loaded, layer, [map], idx, 3, vals, chunk)
    frate = len(idx) / max(time.perf_counter() - t, 1e-6)               # images/s
    fwd_units = 0 if screen == "exhaustive" else n * -(-n_maps // forward_group(n, n_maps))
    steps = work(n, n_maps, screen, test_epochs, top, epochs) - fwd_units
    return steps / rate + fwd_units / frate


def drop_duplicate_flats(indices: np.ndarray, grid: int, n_values: int) -> np.ndarray:
    """``indices`` without the one-value patterns but the first: every flat pattern is the
    same image once standardized, so refining several of them repeats one run."""
    if n_values < 2:
        return indices
    step = (n_values ** (grid * grid) - 1) // (n_values - 1)     # 11…1 in base V
    return indices[~np.isin(indices, np.arange(1, n_values, dtype=np.int64) * step)]


def _fewer_note(got: int, top: int) -> str:
    return "" if got >= top else (
        f"{got} of the {top} requested candidates refined: the one-value patterns are all the "
        "same flat image, so only one of them is kept")
