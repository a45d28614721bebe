"""The sharded precursor run: plan the shards (skipping those a killed run finished),
print what will run with an estimate from a timed probe shard, screen the shards on an
executor (:mod:`oipviz.compute.executors`), merge each map's shards exactly and refine its
candidates as one more job per map.  Compute only: shard files go through a ``store``
(:class:`oipviz.writers.shards.ShardStore`), results are yielded.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from oipviz.compute.executors import check_executor
from oipviz.compute.oip import map_objective
from oipviz.compute.precursor import PrecursorResult, precursor_maps
from oipviz.compute.precursor_settings import PrecursorSettings, settings_of
from oipviz.compute.screens import patterns
from oipviz.compute.shards import (
    ScreenSpec,
    Shard,
    ShardResult,
    merge,
    merged_candidates,
    plan_shards,
    refine_map,
    screen_shard,
    shard_units,
    with_merged_screen,
)
from oipviz.core.ascent import ascend


def run_sharded(
    ex,
    spec: ScreenSpec,
    shards: list[Shard],
    done: dict[Shard, ShardResult] | None = None,
    on_shard: Callable[[ShardResult], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[PrecursorResult]:
    """Screen ``shards`` not in ``done`` on ``ex``; as soon as all shards of a map are in,
    merge them and refine its candidates.  Yields each map's PrecursorResult."""
    done = dict(done or {})
    groups: dict[tuple, list[Shard]] = {}
    for s in shards:
        groups.setdefault(s.maps, []).append(s)
    have = {g: [done[s] for s in ss if s in done] for g, ss in groups.items()}
    left = {g: sum(s not in done for s in ss) for g, ss in groups.items()}
    queue = deque(s for s in shards if s not in done)
    jobs: dict = {}

    def refine(group: tuple) -> None:
        merged = merge(have.pop(group), spec)
        for m in group:
            mg = merged[m]
            h = ex.submit(
                refine_map,
                (spec, m, merged_candidates(mg, spec)),
                spec.settings.top * spec.settings.steps,
                f"refinement of map {m}",
                first=True,
            )
            jobs[h] = ("refine", mg)

    for g in groups:
        if not left[g]:
            refine(g)
    while queue or jobs:
        while queue and sum(k == "screen" for k, _ in jobs.values()) < ex.window:
            s = queue.popleft()
            jobs[ex.submit(screen_shard, (spec, s), shard_units(spec, s), f"shard {s.name}")] = (
                "screen",
                s,
            )
        h, value = ex.next_done(progress)
        kind, what = jobs.pop(h)
        if kind == "screen":
            if on_shard:
                on_shard(value)
            have[what.maps].append(value)
            left[what.maps] -= 1
            if not left[what.maps]:
                refine(what.maps)
        else:
            yield with_merged_screen(value, what, spec)


@dataclass
class RunPlan:
    """The shards of a run and those already finished (resume)."""

    spec: ScreenSpec
    maps: list
    shards: list
    done: dict

    @property
    def units(self) -> tuple[int, int]:
        """Progress units still to do: (screen, refine)."""
        s = self.spec.settings
        screen = sum(shard_units(self.spec, sh) for sh in self.shards if sh not in self.done)
        return screen, len(self.maps) * s.top * s.steps

    @property
    def total(self) -> int:
        """All progress units of the run (finished shards included)."""
        return sum(shard_units(self.spec, s) for s in self.shards) + self.units[1]

    def lines(self, ex) -> list[str]:
        """What will run, before it runs."""
        sp, s, size = self.spec, self.spec.settings, max(len(sh) for sh in self.shards)
        steps = f"{s.test_steps} steps each" if s.screen == "exhaustive" else "one forward pass"
        left = len(self.shards) - len(self.done)
        where = (
            f"{ex.name} ({ex.workers} worker(s), {ex.cores} core(s))"
            if ex.name == "ray"
            else f"local (this process, {ex.cores} core(s))"
        )
        return [
            f"plan: {sp.layer}, {len(self.maps)} map(s) × {sp.n:,} patterns ({s.grid}×{s.grid} "
            f"grid, {len(s.values)} values), {s.screen} screen ({steps}), top {s.top} "
            f"refined × {s.steps} steps",
            f"plan: {len(self.shards):,} shard(s) of ≤ {size:,} patterns on {where}"
            + (f"; {len(self.done):,} finished, {left:,} to go" if self.done else ""),
        ]


#: patterns of the timed probe shard
PROBE_PATTERNS = 512


def probe_seconds(ex, plan: RunPlan) -> tuple[float, float]:
    """(image-steps/s of this process, estimated wall time of the run on ``ex``) from a
    timed probe shard and a short timed refinement (after one untimed warm-up each).
    Other machines of a cluster are assumed to be as fast per core as this one."""
    spec = replace(plan.spec, keep_losses=False)
    s, maps = spec.settings, plan.shards[0].maps
    probe = Shard(maps, 0, min(spec.n, s.chunk, PROBE_PATTERNS))
    screen_shard(ex.loaded, spec, Shard(maps, 0, min(8, spec.n)))
    t = time.perf_counter()
    screen_shard(ex.loaded, spec, probe)
    rate = shard_units(spec, probe) / max(time.perf_counter() - t, 1e-6)
    x = patterns(ex.loaded, np.arange(s.top), s)
    obj = map_objective(ex.loaded, spec.layer, maps[0])
    ascend(ex.loaded, x, obj, steps=1, lr=s.lr)
    t = time.perf_counter()
    if ascend(ex.loaded, x, obj, steps=25, lr=s.lr).interrupted:
        raise KeyboardInterrupt
    r_rate = s.top * 25 / max(time.perf_counter() - t, 1e-6)
    here = os.cpu_count() or 1
    screen, refine = plan.units
    if ex.name == "local":
        return rate, screen / rate + refine / r_rate
    per_task = ex.cpus_per_task / here
    return rate, (
        screen / (rate * ex.cores / here)
        + refine / (r_rate * per_task * min(ex.workers, len(plan.maps)))
    )


def plan_run(
    ex, layer: str, maps, settings: PrecursorSettings | None = None, *,
    shard_size: int | None = None, store=None, **kw,
) -> RunPlan | None:  # fmt: skip
    """Validate and plan a sharded run (None for the halving screen, which is not sharded).
    ``settings`` (or its fields as keywords); ``store``: an object with
    ``load(spec, shards)`` (finished shards, for resume).  Sharded runs default to the
    exhaustive screen (halving ranks all patterns at once)."""
    s = settings_of(settings, kw if settings else {"screen": "exhaustive", **kw})
    if check_executor(ex.name, None, s.screen, s.n_patterns, s.chunk) is None:
        return None
    info = ex.loaded.unit_layer(layer)
    maps = [int(m) for m in maps]
    for m in maps:
        map_objective(ex.loaded, info.name, m)
    spec = ScreenSpec.of(info.name, len(maps), s)
    shards = plan_shards(spec, maps, shard_size)
    return RunPlan(spec, maps, shards, store.load(spec, shards) if store else {})


def precursor_run(
    ex, layer: str, maps, settings: PrecursorSettings | None = None, *,
    shard_size: int | None = None, store=None, plan: RunPlan | None = None,
    progress: Callable[[int], None] | None = None, **kw,
) -> Iterator[PrecursorResult]:  # fmt: skip
    """The precursor on ``maps`` through executor ``ex``, shard by shard; yields each map's
    :class:`~oipviz.compute.precursor.PrecursorResult` (the same top-k and refined images
    as :func:`oipviz.compute.precursor.precursor_maps`).  ``settings`` (or its fields as
    keywords); ``store``: ``load(spec, shards)`` and ``save(spec, result)`` (e.g.
    :class:`~oipviz.writers.shards.ShardStore`) for resume.  The halving screen runs
    unsharded (locally only)."""
    if plan is not None:
        s = plan.spec.settings
    else:
        s = settings_of(settings, kw if settings else {"screen": "exhaustive", **kw})
    plan = plan or plan_run(ex, layer, maps, s, shard_size=shard_size, store=store)
    if plan is None:
        yield from precursor_maps(layer, maps, ex.loaded, s, progress=progress)
        return
    if progress:
        progress(sum(shard_units(plan.spec, sh) for sh in plan.done))
    save = (lambda r: store.save(plan.spec, r)) if store is not None else None
    yield from run_sharded(ex, plan.spec, plan.shards, plan.done, save, progress)
