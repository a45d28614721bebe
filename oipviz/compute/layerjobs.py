"""The gallery's heavy part, one job per (model, layer): the OIP probe in parts and, for
the gallery's own model, the rescue of the maps it leaves dead.  :func:`gallery_layers`
picks the layers, :func:`check_compare` checks the other model has them.

:func:`layer_work` is the job.  :func:`run_jobs` runs a list of jobs on an executor
(:mod:`oipviz.compute.executors`): in this process one after the other (``local``; parts and
precursor results are kept as each finishes), or one Ray task per job (``ray``; the
results come back to this process, which keeps them the same way).  Either way the
same function computes, so a Ray gallery equals a local one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from oipviz.compute.oip import OIPRun, oip
from oipviz.compute.rescue import RescueResult, RescueRow, rescue
from oipviz.core.errors import LayerError, ModelError
from oipviz.core.progress import Stages
from oipviz.core.status import DEAD, LIVE, fires


def layer_list(layer: str | list[str] | None) -> list[str]:
    """``conv1,conv2`` (or a list) as names in order; None or '' gives []."""
    if not layer:
        return []
    names = [n.strip() for n in (layer.split(",") if isinstance(layer, str) else layer)]
    if not all(names):
        raise LayerError(f"empty layer name in {layer!r}")
    return names


def gallery_layers(
    loaded, layer: str | list[str] | None = None, all_layers: bool = False
) -> list[str]:
    """The layers a gallery shows: ``layer`` (a name, ``conv1,conv2`` or a list); all conv
    layers; or by default the last conv layer (the first Dense layer of a model without
    conv layers)."""
    convs = loaded.conv_layers()
    dense = [i for i in loaded.layers if i.units is not None and not i.is_conv]
    names = layer_list(layer)
    if names:
        out = []
        for name in names:
            info = loaded.layer(name)
            if info.units is None:
                raise LayerError(
                    f"layer {info.name!r} ({info.type}) has no maps or units; "
                    "choose from " + ", ".join(i.name for i in convs + dense)
                )
            if info.name in out:
                raise LayerError(f"layer {info.name!r} is given twice")
            out.append(info.name)
        return out
    if all_layers:
        return [i.name for i in (convs or dense)]
    if not convs and not dense:
        raise ModelError(f"{loaded.name} has no conv or Dense layer to show")
    return [(convs[-1] if convs else dense[0]).name]


def check_compare(compare, layers: list[str]) -> None:
    """The other model must have every layer, with maps or units."""
    for name in layers:
        try:
            info = compare.layer(name)
        except LayerError:
            raise LayerError(f"--compare model {compare.name} has no layer {name!r}") from None
        if info.units is None:
            raise LayerError(f"--compare model {compare.name}: layer {name!r} has no maps or units")


@dataclass
class LayerJob:
    """What to compute for one (model, layer); plain values, so it can travel to Ray.

    ``precursor``: the rescue settings (None: dead maps stay dead); ``rescue=False``: the
    probe only (the ``--compare`` model).  ``have``: finished parts {first map: arrays};
    ``done``: {map: RescueRow} of finished precursors (resume)."""

    layer: str
    maps: list[int]
    inits: int
    steps: int
    lr: float
    range_mode: str
    style: str
    seed: int
    precursor: dict | None
    rescue: bool = True
    label: str = ""
    have: dict = field(default_factory=dict, repr=False)
    done: dict = field(default_factory=dict, repr=False)
    precision: str = "float32"
    plateau: float = 0.0

    @property
    def units(self) -> int:
        """Image-steps of the probe (the progress unit)."""
        return len(self.maps) * self.inits * self.steps

    def probe_settings(self) -> dict:
        """The probe's keyword arguments of :func:`oipviz.compute.oip.oip`."""
        keys = ("inits", "steps", "lr", "seed", "range_mode", "style", "precision", "plateau")
        return {k: getattr(self, k) for k in keys}


@dataclass
class LayerWork:
    """A job's result: the probe, the rescue (None for a probe-only job) and the parts
    computed by this job ({first map: arrays}, for the caller to keep)."""

    layer: str
    probe: OIPRun
    rescue: RescueResult | None
    new_parts: dict = field(default_factory=dict, repr=False)
    seconds: dict = field(default_factory=dict)  # wall time per phase, in the job
    cpu_seconds: dict = field(default_factory=dict)  # CPU time per phase, in the job


def layer_work(
    loaded,
    job: LayerJob,
    store=None,
    on_result: Callable | None = None,
    progress=False,
    on_probe: Callable | None = None,
) -> LayerWork:
    """Run ``job`` on ``loaded``.  ``store``: where parts are kept (default: in memory,
    returned in ``new_parts``); ``on_probe(OIPRun)``: called when the probe is complete;
    ``on_result(PrecursorResult)``: as each dead map's precursor finishes; ``progress``:
    ``f(stage, n, total)``, False or None (bars)."""
    from oipviz.compute.parts import HeldParts, run_in_parts

    store = store or HeldParts(job.have, loaded.convention)
    stages = Stages(progress)
    tick = stages.tick(
        f"{job.label or job.layer}: OIPs of {len(job.maps)} maps × {job.inits} inits", job.units
    )
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}

    def timed(phase, fn):
        t, c = time.perf_counter(), time.process_time()
        try:
            return fn()
        finally:
            seconds[phase] = time.perf_counter() - t
            cpu_seconds[phase] = time.process_time() - c

    rescued: RescueResult | None = None
    try:
        probe: OIPRun = timed(
            "oip" if job.rescue else "compare",
            lambda: run_in_parts(
                store,
                job.maps,
                job.inits,
                lambda group: oip(job.layer, group, loaded, progress=tick, **job.probe_settings()),
                on_skip=lambda g: tick(g * job.inits * job.steps),
            ),
        )
        if on_probe:
            on_probe(probe)
        if job.rescue:
            rescued = timed("rescue", lambda: _rescue(loaded, job, probe, on_result, stages))
    finally:
        stages.close()
    return LayerWork(job.layer, probe, rescued, getattr(store, "new", {}), seconds, cpu_seconds)


def _rescue(loaded, job: LayerJob, probe: OIPRun, on_result, stages) -> RescueResult:
    pp, value = job.precursor, dict(zip(probe.maps, probe.best_values))
    if pp is None:
        rows = [
            RescueRow(m, float(v), LIVE if fires(v) else DEAD, best_image=img)
            for m, v, img in zip(probe.maps, probe.best_values, probe.best_images)
        ]
        return RescueResult(job.layer, probe, rows, {}, {"precursor": None})
    return rescue(
        job.layer,
        model=loaded,
        probe=probe,
        probe_inits=job.inits,
        probe_steps=job.steps,
        lr=job.lr,
        seed=job.seed,
        grid=pp["grid"],
        values=pp["values"],
        test_steps=pp["test_steps"],
        top=pp["top"],
        steps=pp["steps"],
        screen=pp["screen"],
        wake=pp["wake"],
        range_mode=job.range_mode,
        done={
            m: replace(row, probe_value=float(value[m]))
            for m, row in job.done.items()
            if m in value
        },
        on_result=on_result,
        progress=stages,
        precision=job.precision,
    )


def run_jobs(
    ex,
    jobs: list[tuple[object, LayerJob]],
    stores: list,
    on_result: Callable,
    on_done: Callable[[int, LayerWork], None],
    progress: Stages,
    on_probe: Callable | None = None,
) -> None:
    """Run ``jobs`` [(model, job)] on executor ``ex`` (None: in this process).

    In this process each job keeps its parts in ``stores[i]``, shows its probe through
    ``on_probe(i, run)`` and keeps its precursor results through ``on_result(i, res)`` as
    they finish.  On Ray the same happens when the job's task returns.
    ``on_done(i, work)`` is called for every job."""
    if ex is None or ex.name == "local":
        for i, (model, job) in enumerate(jobs):
            on_done(
                i,
                layer_work(
                    model,
                    job,
                    stores[i],
                    lambda r, i=i: on_result(i, r),
                    progress,
                    on_probe and (lambda run, i=i: on_probe(i, run)),
                ),
            )
        return
    tick = progress.tick(
        f"{len(jobs)} (model, layer) job(s) on {ex.name}: OIPs", sum(job.units for _, job in jobs)
    )
    handles = {
        ex.submit(layer_work, (job,), job.units, job.label or job.layer, model=model): i
        for i, (model, job) in enumerate(jobs)
    }
    while handles:
        h, work = ex.next_done(tick)
        i = handles.pop(h)
        for arrays in work.new_parts.values():
            stores[i].save_arrays(arrays)
        if work.rescue is not None:
            for res in work.rescue.results.values():
                on_result(i, res)
        on_done(i, work)
