"""Sharded precursor screens: a shard is an index range of the pattern enumeration.

Patterns are enumerated by index (:func:`oipviz.core.inits.pattern_digits`), so a shard
``[start, stop)`` is computed alone, anywhere.  :func:`screen_shard` returns a small
:class:`ShardResult`: per map the shard's top-k (indices and values, ties by the lower
index), counts, and for maps with fewer than ``top`` patterns above zero the patterns
at zero nearest to firing (for the wake).  :func:`merge` combines the shards of a map:
every pattern of the global top-k is in its own shard's top-k, so the merge is exact.
Small runs also keep each shard's screen losses (for the histogram and
``screen_losses.npy``); large ones keep only the top-k.  This module computes;
:mod:`oipviz.writers.shards` writes shard files and :mod:`oipviz.compute.executors` runs shards.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from oipviz.compute.oip import map_objective
from oipviz.compute.precursor import PrecursorResult, refine_candidates
from oipviz.compute.precursor_settings import PrecursorSettings
from oipviz.compute.screens import (
    FORWARD_TABLE_FLOATS,
    ascent_screen,
    drop_duplicate_flats,
    fewer_note,
    forward_table,
    rank,
    topped_up,
)
from oipviz.core.status import fires

#: shards of a grid when it is small (parallelism, resume granularity) ...
TARGET_SHARDS = 8
#: ... and at most this many engine chunks per shard when it is large
MAX_SHARD_CHUNKS = 16
#: a forward shard screens all maps in one pass: at most this many floats per shard table
SHARD_TABLE_FLOATS = 4_000_000
#: keep every screen loss (n × maps floats) up to this many, else only the top-k
KEEP_LOSSES_FLOATS = FORWARD_TABLE_FLOATS
SHARDED_SCREENS = ("exhaustive", "forward")
COUNTS = ("screened", "zero", "pruned")


@dataclass(frozen=True)
class ScreenSpec:
    """Everything a shard's screen depends on besides the model and the index range: the
    layer, the precursor settings and whether every screen loss is kept."""

    layer: str
    settings: PrecursorSettings
    keep_losses: bool

    @classmethod
    def of(cls, layer: str, n_maps: int, settings: PrecursorSettings) -> ScreenSpec:
        """The spec of a run over ``n_maps`` maps (losses are kept when they stay small)."""
        return cls(layer, settings, settings.n_patterns * n_maps <= KEEP_LOSSES_FLOATS)

    @property
    def n(self) -> int:
        return self.settings.n_patterns

    def as_dict(self) -> dict:
        """What a finished shard file records (refinement steps excluded: they do not change
        a screen)."""
        d = self.settings.as_dict()
        d.pop("steps")
        return dict(d, layer=self.layer, n=self.n, keep_losses=self.keep_losses)


@dataclass(frozen=True, order=True)
class Shard:
    """Patterns ``[start, stop)`` of the enumeration, screened for ``maps`` together."""

    maps: tuple
    start: int
    stop: int

    @property
    def group(self) -> str:
        """Folder name of the maps: ``map046`` or ``maps_000-127``."""
        m = self.maps
        return f"map{m[0]:03d}" if len(m) == 1 else f"maps_{m[0]:03d}-{m[-1]:03d}_{len(m)}"

    @property
    def name(self) -> str:
        return f"{self.group}/{self.start:08d}-{self.stop:08d}"

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass
class ShardResult:
    """One shard's screen, per map (rows follow ``shard.maps``).

    ``top_*``: the shard's best ``top`` patterns (best first, ties by lower index).
    ``near_*``: patterns at zero with the highest pre-activation (``top + V`` at most;
    index -1 pads), only for maps with fewer than ``top`` patterns above zero here.
    ``counts``: patterns screened, at zero, pruned (skipped by the engine: zero gradient).
    """

    shard: Shard
    top_idx: np.ndarray  # (M,k) int64
    top_val: np.ndarray  # (M,k) float32
    near_idx: np.ndarray  # (M,kp) int64, -1 = none
    near_val: np.ndarray  # (M,kp) float32 pre-activation
    near_loss: np.ndarray  # (M,kp) float32 screen loss
    counts: np.ndarray  # (M,3) int64
    losses: np.ndarray | None = None  # (M,len) float32 when the run keeps losses
    seconds: float = 0.0
    host: str = ""
    pid: int = 0

    def to_arrays(self) -> dict:
        out = {
            k: getattr(self, k)
            for k in ("top_idx", "top_val", "near_idx", "near_val", "near_loss", "counts")
        }
        out["range"] = np.array([self.shard.start, self.shard.stop], np.int64)
        out["maps"] = np.asarray(self.shard.maps, np.int64)
        if self.losses is not None:
            out["losses"] = self.losses
        return out

    def meta(self) -> dict:
        return {
            "shard": self.shard.name,
            "maps": list(self.shard.maps),
            "start": self.shard.start,
            "stop": self.shard.stop,
            "seconds": round(self.seconds, 3),
            "host": self.host,
            "pid": self.pid,
            "counts": {
                int(m): dict(zip(COUNTS, c.tolist())) for m, c in zip(self.shard.maps, self.counts)
            },
        }

    @classmethod
    def from_arrays(cls, a: dict, meta: dict) -> ShardResult:
        start, stop = (int(v) for v in a["range"])
        shard = Shard(tuple(int(m) for m in a["maps"]), start, stop)
        return cls(
            shard,
            a["top_idx"],
            a["top_val"],
            a["near_idx"],
            a["near_val"],
            a["near_loss"],
            a["counts"],
            a.get("losses"),
            float(meta.get("seconds", 0)),
            str(meta.get("host", "")),
            int(meta.get("pid", 0)),
        )


# ----------------------------------------------------------------------------- plan


def shard_size(n: int, chunk: int, size: int | None = None) -> int:
    """Patterns per shard: ``size`` rounded up to a multiple of ``chunk`` (so every engine
    batch is the unsharded run's), or by default about n/8, at most 16 chunks."""
    if size is None:
        size = chunk * min(MAX_SHARD_CHUNKS, max(1, -(-n // (chunk * TARGET_SHARDS))))
    return int(min(-(-int(size) // chunk) * chunk, -(-n // chunk) * chunk))


def plan_shards(spec: ScreenSpec, maps: list[int], size: int | None = None) -> list[Shard]:
    """The shards of a run, in order.  Exhaustive: one map per shard, map by map (a map's
    refinement can start when its shards are done).  Forward: one pass for many maps."""
    size = shard_size(spec.n, spec.settings.chunk, size)
    groups: list[tuple[int, ...]]
    if spec.settings.screen == "exhaustive":
        groups = [(m,) for m in maps]
    else:
        per = max(1, min(len(maps), SHARD_TABLE_FLOATS // size))
        groups = [tuple(maps[i : i + per]) for i in range(0, len(maps), per)]
    return [Shard(g, lo, min(lo + size, spec.n)) for g in groups for lo in range(0, spec.n, size)]


def shard_units(spec: ScreenSpec, shard: Shard) -> int:
    """Progress units of a shard: image-steps (a forward image counts 1)."""
    if spec.settings.screen == "forward":
        return len(shard)
    return len(shard) * len(shard.maps) * max(spec.settings.test_steps, 1)


# ----------------------------------------------------------------------------- screen


def screen_shard(
    loaded, spec: ScreenSpec, shard: Shard, progress: Callable[[int], None] | None = None
) -> ShardResult:
    """Screen the patterns of ``shard`` for its maps; returns the small result."""
    t0, s = time.perf_counter(), spec.settings
    idx = np.arange(shard.start, shard.stop, dtype=np.int64)
    maps = list(shard.maps)
    pruned = np.zeros(len(maps), np.int64)
    if s.screen == "forward":
        table = forward_table(loaded, spec.layer, maps, idx, s, progress)
    elif s.screen == "exhaustive":
        table = np.empty((len(idx), len(maps)), np.float32)
        for j, m in enumerate(maps):
            obj = map_objective(loaded, spec.layer, m)
            table[:, j], pruned[j] = ascent_screen(loaded, obj, idx, s, s.test_steps, progress)
    else:
        raise ValueError(f"the {s.screen} screen is not sharded")
    alive = fires(table).reshape(table.shape)
    # every one-value pattern is the same flat image: only the first may be a candidate
    dup = ~np.isin(idx, drop_duplicate_flats(idx, s.grid, len(s.values)))
    ranked = np.where(dup[:, None], np.nan, table)
    top = np.stack([rank(ranked[:, j], min(s.top, len(idx))) for j in range(len(maps))])
    near = _nearest_to_firing(loaded, spec, maps, idx, table, alive, dup)
    counts = np.stack([np.full(len(maps), len(idx)), (~alive).sum(axis=0), pruned], axis=1)
    return ShardResult(
        shard, idx[top], np.take_along_axis(table.T, top, axis=1), *near,
        counts.astype(np.int64), np.ascontiguousarray(table.T) if spec.keep_losses else None,
        time.perf_counter() - t0, socket.gethostname(), os.getpid(),
    )  # fmt: skip


def _nearest_to_firing(
    loaded, spec: ScreenSpec, maps, idx, table, alive, dup
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices, pre-activations, losses) of the patterns at zero with the highest
    pre-activation, for the maps with fewer than ``top`` patterns above zero (the wake)."""
    s = spec.settings
    kp = s.top + len(s.values)
    near_idx = np.full((len(maps), kp), -1, np.int64)
    near_val = np.full((len(maps), kp), -np.inf, np.float32)
    near_loss = np.full((len(maps), kp), np.nan, np.float32)
    need = [j for j in range(len(maps)) if s.wake and alive[:, j].sum() < s.top]
    if need:
        pre = forward_table(loaded, spec.layer, [maps[j] for j in need], idx, s, pre=True)
        for c, j in enumerate(need):
            zero = np.flatnonzero(~alive[:, j] & ~dup)
            best = zero[rank(pre[zero, c], kp)]
            near_idx[j, : len(best)] = idx[best]
            near_val[j, : len(best)] = pre[best, c]
            near_loss[j, : len(best)] = table[best, j]
    return near_idx, near_val, near_loss


# ----------------------------------------------------------------------------- merge


@dataclass
class Merged:
    """A map's screen from all its shards: the exact global top-k and the counts."""

    map: int
    top_idx: np.ndarray  # (top,) best first, ties by lower index
    top_val: np.ndarray
    near_idx: np.ndarray  # patterns at zero nearest to firing, best first
    near_loss: np.ndarray
    counts: dict
    losses: np.ndarray | None = field(default=None, repr=False)
    seconds: float = 0.0


def _best(idx: np.ndarray, val: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best (value, then lower index) among the given pairs."""
    keep = idx >= 0
    order = np.argsort(idx[keep], kind="stable")
    pos = np.flatnonzero(keep)[order]
    return pos[rank(val[pos], k)]


def merge(results: list[ShardResult], spec: ScreenSpec) -> dict[int, Merged]:
    """Each map's exact top-k from the shards that screened it (they must cover 0…n-1)."""
    rows: dict[int, list] = {}
    for r in results:
        for j, m in enumerate(r.shard.maps):
            rows.setdefault(int(m), []).append((r, j))
    out = {}
    for m, parts in rows.items():
        parts.sort(key=lambda p: p[0].shard.start)
        ends = [(p[0].shard.start, p[0].shard.stop) for p in parts]
        if (
            ends[0][0] != 0
            or ends[-1][1] != spec.n
            or any(a[1] != b[0] for a, b in zip(ends, ends[1:]))
        ):
            raise ValueError(f"the shards of map {m} do not cover patterns 0…{spec.n - 1} once")
        cat = {
            k: np.concatenate([getattr(r, k)[j] for r, j in parts])
            for k in ("top_idx", "top_val", "near_idx", "near_val", "near_loss")
        }
        best = _best(cat["top_idx"], cat["top_val"], spec.settings.top)
        near = _best(
            cat["near_idx"], cat["near_val"], spec.settings.top + len(spec.settings.values)
        )
        counts = np.sum([r.counts[j] for r, j in parts], axis=0)
        losses = None
        if all(r.losses is not None for r, _ in parts):
            losses = np.concatenate([r.losses[j] for r, j in parts])
        out[m] = Merged(
            m,
            cat["top_idx"][best],
            cat["top_val"][best],
            cat["near_idx"][near],
            cat["near_loss"][near],
            dict(zip(COUNTS, (int(c) for c in counts))),
            losses,
            sum(r.seconds / len(r.shard.maps) for r, _ in parts),
        )
    return out


def merged_candidates(merged: Merged, spec: ScreenSpec) -> tuple[np.ndarray, str]:
    """The patterns to refine: the top-k, topped up (with the wake) from the patterns at
    zero nearest to firing, as :func:`oipviz.compute.screens.candidates` does unsharded."""
    s = spec.settings
    keep = np.isin(merged.top_idx, drop_duplicate_flats(merged.top_idx, s.grid, len(s.values)))
    top_idx, top_val = merged.top_idx[keep], merged.top_val[keep]
    alive = fires(top_val)
    if not s.wake or alive.all():
        return top_idx, fewer_note(len(top_idx), s.top)
    need = s.top - int(alive.sum())
    return topped_up(top_idx[alive], merged.near_idx[: need + len(s.values)], s)


def with_merged_screen(res: PrecursorResult, merged: Merged, spec: ScreenSpec) -> PrecursorResult:
    """A refined result with its map's screen filled in (all losses when kept, else the
    candidates' with NaN elsewhere)."""
    s = spec.settings
    steps = s.test_steps if s.screen == "exhaustive" else 0
    if merged.losses is not None:
        losses = merged.losses
        steps_of = np.full(spec.n, steps, np.int16)
    else:
        losses = np.full(spec.n, np.nan, np.float32)
        steps_of = np.full(spec.n, -1, np.int16)
        known = np.concatenate([merged.top_idx, merged.near_idx])
        losses[known] = np.concatenate([merged.top_val, merged.near_loss])
        steps_of[known] = steps
    units = spec.n * s.test_steps if s.screen == "exhaustive" else 0
    return replace(
        res, screen_losses=losses, screen_steps=steps_of, screen_seconds=merged.seconds,
        screen_image_steps=units, counts=merged.counts,
    )  # fmt: skip


def refine_map(
    loaded, spec: ScreenSpec, m: int, cands: tuple,
    progress: Callable[[int], None] | None = None,
) -> PrecursorResult:  # fmt: skip
    """Wake (if needed) and refine one map's candidates (a job of the executors); the
    screen fields stay empty (:func:`with_merged_screen` fills them in)."""
    return refine_candidates(loaded, spec.layer, m, spec.settings, cands, progress)
