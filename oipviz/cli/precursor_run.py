"""The run behind ``oipviz precursor``: one map (a single result folder), or several maps
(or ``--dead-only``), where each finished map is kept in its own subfolder so that Ctrl-C,
SIGTERM or a kill followed by ``--resume`` lose nothing.  Sharded screens plan their
shards first and say what will run, with an estimate."""

from __future__ import annotations

from oipviz.cli.run import bar, note, progress_sink, result


def run_precursor(folder, model, req, quiet: bool) -> list[str]:
    """Load the model, check the maps and the grid, run, write; returns the result lines."""
    from oipviz.compute.executors import executor
    from oipviz.core.checks import parse_maps
    from oipviz.core.manifest import base_manifest

    loaded = model.load()
    info = loaded.unit_layer(req.layer)
    maps = parse_maps(req.map_spec, info.units)
    guard(loaded, info.name, maps, req)
    manifest = base_manifest("precursor", loaded, req.params, req.settings.seed)
    name, address, cpus = req.executor
    with (
        progress_sink(quiet) as sink,
        executor(name, loaded, address, cpus_per_task=cpus, unsafe=model.unsafe) as ex,
    ):
        manifest["executor"] = {"name": ex.name, "workers": ex.workers, "cores": ex.cores}
        folder.write_manifest(manifest, complete=False)
        if req.probe or len(maps) > 1:
            return run_many(folder, ex, info.name, maps, req, manifest, sink, quiet)
        return run_one(folder, ex, info.name, maps[0], req, manifest, sink, quiet)


def guard(loaded, layer: str, maps: list[int], req) -> None:
    """Very large grids need --yes; an estimate from a short calibration (a timed probe
    shard in this process for the sharded screens) is shown."""
    from oipviz.compute.executors import LocalExecutor
    from oipviz.compute.precursor_settings import GUARD_PATTERNS
    from oipviz.compute.scaleout import plan_run, probe_seconds
    from oipviz.compute.screens import estimate_seconds
    from oipviz.core.errors import OipvizError

    s, n = req.settings, req.settings.n_patterns
    if n <= GUARD_PATTERNS:
        return
    if s.screen == "halving":
        secs = estimate_seconds(loaded, layer, maps[0], s, len(maps))
    else:
        ex = LocalExecutor(loaded)
        plan = plan_run(ex, layer, maps, s)
        assert plan is not None  # only the halving screen (above) is not sharded
        secs = probe_seconds(ex, plan)[1]
    what = f"{n:,} patterns per map × {len(maps)} map(s), {s.screen} screen"
    if not req.yes:
        raise OipvizError(
            f"{what} is a very large grid (estimated {duration(secs)}); add --yes to run it"
        )
    note(f"{what}: estimated {duration(secs)}")


def duration(secs: float) -> str:
    """``42 s``, ``3 min 05 s`` or ``2 h 07 min``."""
    secs = int(round(secs))
    if secs < 60:
        return f"{secs} s"
    if secs < 3600:
        return f"{secs // 60} min {secs % 60:02d} s"
    return f"{secs // 3600} h {secs % 3600 // 60:02d} min"


def planned(folder, ex, layer: str, maps: list[int], req, quiet: bool):
    """Plan a sharded run (finished shards in ``folder`` are skipped) and, unless quiet,
    say what will run with an estimate from a timed probe shard.  Returns (plan, store,
    progress units)."""
    from oipviz.compute.scaleout import plan_run, probe_seconds
    from oipviz.compute.screens import work
    from oipviz.writers.shards import ShardStore

    store = ShardStore(folder)
    plan = (
        plan_run(ex, layer, maps, req.settings, shard_size=req.shard_size, store=store)
        if maps
        else None
    )
    if plan is None:
        return None, store, work(len(maps), req.settings)
    if not quiet:
        for line in plan.lines(ex):
            note(line)
        rate, secs = probe_seconds(ex, plan)
        note(f"plan: probe shard: {rate:,.0f} image-steps/s in this process; "
             f"estimated {duration(secs)}")  # fmt: skip
    return plan, store, plan.total


def run_one(folder, ex, layer: str, m: int, req, manifest: dict, sink, quiet: bool) -> list[str]:
    """One map: its result folder."""
    from oipviz.compute.scaleout import precursor_run
    from oipviz.writers.precursor import write_precursor

    plan, store, total = planned(folder, ex, layer, [m], req, quiet)
    label = f"{layer} map {m}: {req.settings.n_patterns:,} patterns"
    with bar(sink, total, label) as b:
        res = next(
            precursor_run(ex, layer, [m], req.settings, plan=plan, store=store, progress=b.update)
        )
    write_precursor(folder, res, manifest)
    return [res.summary()] + ([f"note: {res.note}"] if res.note else [])


def _probe(folder, loaded, layer: str, maps: list[int], req, sink):
    """--dead-only: the random-init probe of every map, in resumable parts."""
    from oipviz.compute.oip import oip
    from oipviz.compute.parts import run_in_parts
    from oipviz.writers.oip import FolderParts

    p, s = req.probe, req.settings
    with bar(sink, len(maps) * p["inits"] * p["steps"], f"{layer}: {len(maps)} map(s) × "
             f"{p['inits']} random inits") as b:  # fmt: skip
        return run_in_parts(
            FolderParts(folder, loaded.convention), maps, p["inits"],
            lambda g: oip(
                layer, g, loaded, inits=p["inits"], steps=p["steps"], lr=s.lr, seed=s.seed,
                range_mode=p["range"], style=p["style"], progress=b.update,
                precision=s.precision,
            ),
            on_skip=lambda k: b.update(k * p["inits"] * p["steps"]),
        )  # fmt: skip


def run_many(folder, ex, layer, maps, req, manifest, sink, quiet) -> list[str]:
    """Several maps (or --dead-only): the probe, the precursor on the targets (shard by
    shard on ``ex``), each map kept as it finishes, the rescue table."""
    from oipviz.compute.rescue import row_of
    from oipviz.compute.scaleout import precursor_run
    from oipviz.core.status import fires
    from oipviz.writers.rescue import finished_rows, keep_map, write_rescue

    probe = _probe(folder, ex.loaded, layer, maps, req, sink) if req.probe else None
    done = finished_rows(folder, maps, probe)
    dead = (
        maps
        if probe is None
        else [m for m, v in zip(probe.maps, probe.best_values) if not fires(v)]
    )
    todo = [m for m in dead if m not in done]
    if folder.resumed:
        note(f"resuming {folder.shown}: {len(done)} finished map(s) skipped")
    plan, store, total = planned(folder, ex, layer, todo, req, quiet)
    probe_values = {} if probe is None else dict(zip(probe.maps, probe.best_values))
    lines: list[str] = []
    try:
        with bar(sink, total, f"{layer}: precursor on {len(todo)} map(s)") as b:
            for r in precursor_run(ex, layer, todo, req.settings, plan=plan, store=store,
                                   progress=b.update):  # fmt: skip
                keep_map(folder, r, manifest)
                lines.append(r.summary() + (f" (note: {r.note})" if r.note else ""))
                done[r.map] = row_of(r, probe_values.get(r.map))
    except KeyboardInterrupt:  # the maps finished so far are results: show them
        for line in lines:
            result(line)
        raise
    res = _table(ex.loaded, layer, maps, probe, done, req)
    write_rescue(folder, res, manifest)
    return lines + [res.summary()] + table_lines(res)


def _table(loaded, layer, maps, probe, done, req):
    """The rescue table from the probe (if any) and the finished maps."""
    from oipviz.compute.rescue import RescueResult, rescue

    if probe is None:
        params = dict(req.settings.as_dict(), layer=layer)
        return RescueResult(layer, None, [done[m] for m in maps], {}, params)
    p = req.probe
    return rescue(
        layer, maps, probe=probe, probe_inits=p["inits"], probe_steps=p["steps"],
        probe_range=p["range"], probe_style=p["style"], settings=req.settings, done=done,
        progress=False, model=loaded,
    )  # fmt: skip


def table_lines(res) -> list[str]:
    """The rows of the maps that are not live, as aligned text."""
    rows = [r for r in res.rows if r.status != "live"]
    if not rows:
        return []
    out = [f"{'map':>5}  {'random inits':>12}  {'precursor':>10}  status"]
    for r in rows:
        pv = "-" if r.probe_value is None else f"{r.probe_value:.3g}"
        qv = "-" if r.precursor_value is None else f"{r.precursor_value:.3g}"
        out.append(f"{r.map:>5}  {pv:>12}  {qv:>10}  {r.status}")
    return out
