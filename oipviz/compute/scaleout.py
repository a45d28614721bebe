"""The sharded precursor run: plan the shards (skipping those a killed run finished),
print what will run with an estimate from a timed probe shard, screen the shards on an
executor (:mod:`oipviz.compute.executors`), merge each map's shards exactly and refine its
candidates as one more job per map.  Compute only: shard files go through a ``store``
(:class:`oipviz.writers.shards.ShardStore`), results are yielded.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from oipviz.compute.executors import check_executor
from oipviz.compute.precursor import DEFAULT_WAKE
from oipviz.compute.shards import (
    ScreenSpec,
    Shard,
    ShardResult,
    candidates,
    merge,
    plan_shards,
    screen_shard,
    shard_units,
    spec_for,
    with_screen,
)
from oipviz.core.precision import check as check_precision

if TYPE_CHECKING:
    from oipviz.compute.precursor import PrecursorResult


def run_sharded(
    ex,
    spec: ScreenSpec,
    shards: list[Shard],
    steps: int,
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
                "refine",
                (spec, m, candidates(mg, spec), steps),
                spec.top * steps,
                f"refinement of map {m}",
            )
            jobs[h] = ("refine", mg)

    for g in groups:
        if not left[g]:
            refine(g)
    while queue or jobs:
        while queue and sum(k == "screen" for k, _ in jobs.values()) < ex.window:
            s = queue.popleft()
            jobs[ex.submit("screen", (spec, s), shard_units(spec, s), f"shard {s.name}")] = (
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
            yield with_screen(value, what, spec)


@dataclass
class RunPlan:
    """The shards of a run and those already finished (resume)."""

    spec: ScreenSpec
    maps: list
    shards: list
    done: dict
    steps: int

    @property
    def units(self) -> tuple[int, int]:
        """Progress units still to do: (screen, refine)."""
        screen = sum(shard_units(self.spec, s) for s in self.shards if s not in self.done)
        return screen, len(self.maps) * self.spec.top * self.steps

    @property
    def total(self) -> int:
        """All progress units of the run (finished shards included)."""
        return sum(shard_units(self.spec, s) for s in self.shards) + self.units[1]

    def lines(self, ex) -> list[str]:
        """What will run, before it runs."""
        sp, size = self.spec, max(len(s) for s in self.shards)
        steps = f"{sp.test_steps} steps each" if sp.screen == "exhaustive" else "one forward pass"
        left = len(self.shards) - len(self.done)
        where = (
            f"{ex.name} ({ex.workers} worker(s), {ex.cores} core(s))"
            if ex.name == "ray"
            else f"local (this process, {ex.cores} core(s))"
        )
        return [
            f"plan: {sp.layer}, {len(self.maps)} map(s) × {sp.n:,} patterns ({sp.grid}×{sp.grid} "
            f"grid, {len(sp.values)} values), {sp.screen} screen ({steps}), top {sp.top} "
            f"refined × {self.steps} steps",
            f"plan: {len(self.shards):,} shard(s) of ≤ {size:,} patterns on {where}"
            + (f"; {len(self.done):,} finished, {left:,} to go" if self.done else ""),
        ]


#: patterns of the timed probe shard
PROBE_PATTERNS = 512


def probe_seconds(ex, plan: RunPlan) -> tuple[float, float]:
    """(image-steps/s of this process, estimated wall time of the run on ``ex``) from a
    timed probe shard and a short timed refinement (after one untimed warm-up each).
    Other machines of a cluster are assumed to be as fast per core as this one."""
    import time

    import numpy as np

    from oipviz.compute.precursor import _objective
    from oipviz.core.ascent import ascend
    from oipviz.core.inits import precursor_patterns

    spec = replace(plan.spec, keep_losses=False)
    maps = plan.shards[0].maps
    probe = Shard(maps, 0, min(spec.n, spec.chunk, PROBE_PATTERNS))
    screen_shard(ex.loaded, spec, Shard(maps, 0, min(8, spec.n)))
    t = time.perf_counter()
    screen_shard(ex.loaded, spec, probe)
    rate = shard_units(spec, probe) / max(time.perf_counter() - t, 1e-6)
    x = precursor_patterns(np.arange(spec.top), spec.grid, spec.values)
    obj = _objective(ex.loaded, spec.layer, maps[0])
    ascend(ex.loaded, x, obj, steps=1, lr=spec.lr)
    t = time.perf_counter()
    if ascend(ex.loaded, x, obj, steps=25, lr=spec.lr).interrupted:
        raise KeyboardInterrupt
    r_rate = spec.top * 25 / max(time.perf_counter() - t, 1e-6)
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
    ex,
    layer: str,
    maps,
    grid: int = 3,
    values=(0.2, 0.5, 0.8),
    test_steps: int = 10,
    top: int = 8,
    steps: int = 1200,
    lr: float = 0.02,
    seed: int = 0,
    screen: str = "exhaustive",
    chunk: int = 1024,
    wake: int = DEFAULT_WAKE,
    shard_size: int | None = None,
    store=None,
    precision: str = "float32",
) -> RunPlan | None:
    """Validate and plan a sharded run (None for the halving screen, which is not sharded).
    ``store``: an object with ``load(spec, shards)`` (finished shards, for resume)."""
    from oipviz.compute.precursor import _objective, check_params

    vals, n = check_params(grid, values, top, test_steps, steps, lr, screen, chunk)
    if check_executor(ex.name, None, screen, n, chunk) is None:
        return None
    info = ex.loaded.unit_layer(layer)
    maps = [int(m) for m in maps]
    for m in maps:
        _objective(ex.loaded, info.name, m)
    spec = spec_for(
        info.name,
        len(maps),
        grid,
        vals,
        screen,
        test_steps,
        lr,
        seed,
        chunk,
        top,
        wake,
        check_precision(precision),
    )
    shards = plan_shards(spec, maps, shard_size)
    return RunPlan(spec, maps, shards, store.load(spec, shards) if store else {}, int(steps))


def precursor_run(
    ex,
    layer: str,
    maps,
    grid: int = 3,
    values=(0.2, 0.5, 0.8),
    test_steps: int = 10,
    top: int = 8,
    steps: int = 1200,
    lr: float = 0.02,
    seed: int = 0,
    screen: str = "exhaustive",
    chunk: int = 1024,
    wake: int = DEFAULT_WAKE,
    shard_size: int | None = None,
    store=None,
    plan: RunPlan | None = None,
    progress: Callable[[int], None] | None = None,
    precision: str = "float32",
) -> Iterator[PrecursorResult]:
    """The precursor on ``maps`` through executor ``ex``, shard by shard; yields each map's
    :class:`~oipviz.compute.precursor.PrecursorResult` (the same top-k and refined images as
    :func:`oipviz.compute.precursor.precursor_maps`).  ``store``: ``load(spec, shards)`` and
    ``save(spec, result)`` (e.g. :class:`~oipviz.writers.shards.ShardStore`) for resume.
    The halving screen runs unsharded (locally only)."""
    from oipviz.compute.precursor import precursor_maps

    args = (grid, values, test_steps, top, steps, lr, seed, screen, chunk, wake)
    plan = plan or plan_run(
        ex, layer, maps, *args, shard_size=shard_size, store=store, precision=precision
    )
    if plan is None:
        yield from precursor_maps(
            layer, maps, ex.loaded, *args[:-1], progress, wake=wake, precision=precision
        )
        return
    if progress:
        progress(sum(shard_units(plan.spec, s) for s in plan.done))
    save = (lambda r: store.save(plan.spec, r)) if store is not None else None
    yield from run_sharded(ex, plan.spec, plan.shards, plan.steps, plan.done, save, progress)
