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
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from oipviz.compute.screens import (
    FORWARD_TABLE_FLOATS,
    _fewer_note,
    drop_duplicate_flats,
    forward_table,
    rank,
)
from oipviz.core.ascent import ascend
from oipviz.core.inits import precursor_patterns
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
    """Everything a shard's screen depends on (besides the model and the index range)."""

    layer: str
    grid: int
    values: tuple
    screen: str
    test_steps: int
    lr: float
    seed: int
    chunk: int
    top: int
    wake: int
    n: int
    keep_losses: bool
    precision: str = "float32"

    def as_dict(self) -> dict:
        return dict(asdict(self), values=list(self.values))


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


def spec_for(
    layer: str,
    n_maps: int,
    grid: int,
    values,
    screen: str,
    test_steps: int,
    lr: float,
    seed: int,
    chunk: int,
    top: int,
    wake: int,
    precision: str = "float32",
) -> ScreenSpec:
    """The spec of a run over ``n_maps`` maps (losses are kept when they stay small)."""
    n = len(values) ** (grid * grid)
    return ScreenSpec(
        layer,
        int(grid),
        tuple(float(v) for v in values),
        screen,
        int(test_steps),
        float(lr),
        int(seed),
        int(chunk),
        int(top),
        int(wake),
        int(n),
        n * n_maps <= KEEP_LOSSES_FLOATS,
        precision,
    )


def shard_size(n: int, chunk: int, size: int | None = None) -> int:
    """Patterns per shard: ``size`` rounded up to a multiple of ``chunk`` (so every engine
    batch is the unsharded run's), or by default about n/8, at most 16 chunks."""
    if size is None:
        size = chunk * min(MAX_SHARD_CHUNKS, max(1, -(-n // (chunk * TARGET_SHARDS))))
    return int(min(-(-int(size) // chunk) * chunk, -(-n // chunk) * chunk))


def plan_shards(spec: ScreenSpec, maps: list[int], size: int | None = None) -> list[Shard]:
    """The shards of a run, in order.  Exhaustive: one map per shard, map by map (a map's
    refinement can start when its shards are done).  Forward: one pass for many maps."""
    size = shard_size(spec.n, spec.chunk, size)
    if spec.screen == "exhaustive":
        groups = [(m,) for m in maps]
    else:
        per = max(1, min(len(maps), SHARD_TABLE_FLOATS // size))
        groups = [tuple(maps[i : i + per]) for i in range(0, len(maps), per)]
    return [Shard(g, lo, min(lo + size, spec.n)) for g in groups for lo in range(0, spec.n, size)]


def shard_units(spec: ScreenSpec, shard: Shard) -> int:
    """Progress units of a shard: image-steps (a forward image counts 1)."""
    if spec.screen == "forward":
        return len(shard)
    return len(shard) * len(shard.maps) * max(spec.test_steps, 1)


# ----------------------------------------------------------------------------- screen


def _ascent(loaded, spec: ScreenSpec, m: int, idx: np.ndarray, progress) -> tuple[np.ndarray, int]:
    """Loss after ``test_steps`` steps from each pattern, chunk by chunk; and how many
    patterns the engine skipped (zero gradient: they cannot move)."""
    from oipviz.compute.precursor import _objective

    obj = _objective(loaded, spec.layer, m)
    out = np.empty(len(idx), np.float32)
    pruned = 0
    for lo in range(0, len(idx), spec.chunk):
        part = idx[lo : lo + spec.chunk]
        r = ascend(
            loaded,
            precursor_patterns(part, spec.grid, spec.values),
            obj,
            steps=spec.test_steps,
            lr=spec.lr,
            seed=spec.seed,
            chunk=spec.chunk,
            history_points=1,
            progress=progress,
            precision=spec.precision,
        )
        if r.interrupted:
            raise KeyboardInterrupt
        out[lo : lo + len(part)] = r.final
        pruned += int(getattr(r, "pruned", 0))
        if spec.test_steps == 0 and progress:
            progress(len(part))
    return out, pruned


def screen_shard(
    loaded, spec: ScreenSpec, shard: Shard, progress: Callable[[int], None] | None = None
) -> ShardResult:
    """Screen the patterns of ``shard`` for its maps; returns the small result."""
    t0 = time.perf_counter()
    idx = np.arange(shard.start, shard.stop, dtype=np.int64)
    maps = list(shard.maps)
    pruned = np.zeros(len(maps), np.int64)
    if spec.screen == "forward":
        table = forward_table(
            loaded, spec.layer, maps, idx, spec.grid, spec.values, spec.chunk, progress
        )
    elif spec.screen == "exhaustive":
        table = np.empty((len(idx), len(maps)), np.float32)
        for j, m in enumerate(maps):
            table[:, j], pruned[j] = _ascent(loaded, spec, m, idx, progress)
    else:
        raise ValueError(f"the {spec.screen} screen is not sharded")
    k, kp = min(spec.top, len(idx)), spec.top + len(spec.values)
    alive = fires(table).reshape(table.shape)
    # every one-value pattern is the same flat image: only the first may be a candidate
    dup = ~np.isin(idx, drop_duplicate_flats(idx, spec.grid, len(spec.values)))
    ranked = np.where(dup[:, None], np.nan, table)
    top = np.stack([rank(ranked[:, j], k) for j in range(len(maps))])
    near_idx = np.full((len(maps), kp), -1, np.int64)
    near_val = np.full((len(maps), kp), -np.inf, np.float32)
    near_loss = np.full((len(maps), kp), np.nan, np.float32)
    need = [j for j in range(len(maps)) if spec.wake and alive[:, j].sum() < spec.top]
    if need:
        pre = forward_table(
            loaded,
            spec.layer,
            [maps[j] for j in need],
            idx,
            spec.grid,
            spec.values,
            spec.chunk,
            pre=True,
        )
        for c, j in enumerate(need):
            zero = np.flatnonzero(~alive[:, j] & ~dup)
            best = zero[rank(pre[zero, c], kp)]
            near_idx[j, : len(best)] = idx[best]
            near_val[j, : len(best)] = pre[best, c]
            near_loss[j, : len(best)] = table[best, j]
    counts = np.stack([np.full(len(maps), len(idx)), (~alive).sum(axis=0), pruned], axis=1)
    return ShardResult(
        shard,
        idx[top],
        np.take_along_axis(table.T, top, axis=1),
        near_idx,
        near_val,
        near_loss,
        counts.astype(np.int64),
        np.ascontiguousarray(table.T) if spec.keep_losses else None,
        time.perf_counter() - t0,
        socket.gethostname(),
        os.getpid(),
    )


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
        best = _best(cat["top_idx"], cat["top_val"], spec.top)
        near = _best(cat["near_idx"], cat["near_val"], spec.top + len(spec.values))
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


def candidates(merged: Merged, spec: ScreenSpec) -> tuple[np.ndarray, str]:
    """The patterns to refine: the top-k, topped up (with the wake) from the patterns at
    zero nearest to firing, as :func:`oipviz.compute.precursor._candidates` does unsharded."""
    from oipviz.compute.screens import topped_up

    keep = np.isin(
        merged.top_idx, drop_duplicate_flats(merged.top_idx, spec.grid, len(spec.values))
    )
    top_idx, top_val = merged.top_idx[keep], merged.top_val[keep]
    alive = fires(top_val)
    if not spec.wake or alive.all():
        return top_idx, _fewer_note(len(top_idx), spec.top)
    need = spec.top - int(alive.sum())
    return topped_up(
        top_idx[alive], merged.near_idx[: need + len(spec.values)], spec.top, spec.grid, spec.values
    )


def with_screen(res, merged: Merged, spec: ScreenSpec):
    """A refined :class:`~oipviz.compute.precursor.PrecursorResult` with its map's screen filled in
    (all losses when kept, else the candidates' with NaN elsewhere)."""
    steps = spec.test_steps if spec.screen == "exhaustive" else 0
    if merged.losses is not None:
        losses = merged.losses
        steps_of = np.full(spec.n, steps, np.int16)
    else:
        losses = np.full(spec.n, np.nan, np.float32)
        steps_of = np.full(spec.n, -1, np.int16)
        known = np.concatenate([merged.top_idx, merged.near_idx])
        losses[known] = np.concatenate([merged.top_val, merged.near_loss])
        steps_of[known] = steps
    units = spec.n * spec.test_steps if spec.screen == "exhaustive" else 0
    return replace(
        res,
        screen_losses=losses,
        screen_steps=steps_of,
        screen_seconds=merged.seconds,
        screen_image_steps=units,
        counts=merged.counts,
    )


def refine_map(
    loaded,
    spec: ScreenSpec,
    m: int,
    cands: tuple,
    steps: int,
    progress: Callable[[int], None] | None = None,
):
    """Wake (if needed) and refine one map's candidates; the screen fields stay empty
    (:func:`with_screen` fills them in where the shards were merged)."""
    from oipviz.compute.precursor import _result

    return _result(
        loaded,
        spec.layer,
        m,
        spec.grid,
        spec.values,
        spec.screen,
        spec.test_steps,
        spec.n,
        np.empty(0, np.float32),
        np.empty(0, np.int16),
        None,
        spec.top,
        steps,
        spec.lr,
        spec.seed,
        0.0,
        0,
        progress,
        spec.chunk,
        spec.wake,
        cands=cands,
        precision=spec.precision,
    )
