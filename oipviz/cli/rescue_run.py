"""The several-maps side of ``oipviz precursor`` (a list of maps, or --dead-only): each
finished map is kept in its own subfolder, so Ctrl-C + --resume lose nothing."""

from __future__ import annotations

import click


def run_many(
    folder,
    maps,
    dead_only,
    probe_cfg,
    manifest,
    sink,
    loaded,
    layer,
    grid,
    values,
    test_steps,
    top,
    steps,
    lr,
    seed,
    screen,
    chunk,
    wake,
    ex=None,
    shard_size=None,
    quiet=True,
    precision="float32",
) -> list[str]:
    """Probe (with --dead-only; ``probe_cfg``: inits, epochs, range, style), precursor on
    the targets (shard by shard on executor ``ex``), rescue table; returns the lines to
    print."""
    from oipviz.cli.precursor_cmd import planned
    from oipviz.compute.executors import LocalExecutor
    from oipviz.compute.oip import oip
    from oipviz.compute.rescue import RescueResult, rescue, row_of
    from oipviz.compute.scaleout import precursor_run
    from oipviz.core.status import fires
    from oipviz.writers.oip import FolderParts, run_in_parts
    from oipviz.writers.rescue import finished_rows, keep_map, write_rescue

    folder.write_manifest(manifest, complete=False)
    pp = dict(
        grid=grid,
        values=values,
        test_steps=test_steps,
        top=top,
        steps=steps,
        screen=screen,
        chunk=chunk,
        wake=wake,
        precision=precision,
    )
    probe = None
    inits, probe_steps = probe_cfg["inits"], probe_cfg["epochs"]
    if dead_only:
        with click.progressbar(
            length=len(maps) * inits * probe_steps,
            show_eta=True,
            file=sink,
            label=f"{layer}: {len(maps)} map(s) × {inits} random inits",
        ) as bar:
            probe = run_in_parts(
                FolderParts(folder, loaded.convention),
                maps,
                inits,
                lambda g: oip(
                    layer,
                    g,
                    loaded,
                    inits=inits,
                    steps=probe_steps,
                    lr=lr,
                    seed=seed,
                    range_mode=probe_cfg["range"],
                    style=probe_cfg["style"],
                    progress=bar.update,
                    precision=precision,
                ),
                on_skip=lambda k: bar.update(k * inits * probe_steps),
            )
    done = finished_rows(folder, maps, probe)
    targets = (
        maps
        if probe is None
        else [m for m, v in zip(probe.maps, probe.best_values) if not fires(v)]
    )
    todo = [m for m in targets if m not in done]
    if folder.resumed:
        click.echo(f"resuming {folder.shown}: {len(done)} finished map(s) skipped", err=True)
    lines: list[str] = []
    ex = ex or LocalExecutor(loaded)
    plan, store, total = planned(folder, ex, layer, todo, quiet, shard_size, lr=lr, seed=seed, **pp)
    pv = {} if probe is None else dict(zip(probe.maps, probe.best_values))

    def keep(res):
        keep_map(folder, res, manifest)
        lines.append(res.summary() + (f" (note: {res.note})" if res.note else ""))

    try:
        with click.progressbar(
            length=max(1, total),
            show_eta=True,
            file=sink,
            label=f"{layer}: precursor on {len(todo)} map(s)",
        ) as bar:
            for r in precursor_run(
                ex, layer, todo, lr=lr, seed=seed, plan=plan, store=store, progress=bar.update, **pp
            ):
                keep(r)
                done[r.map] = row_of(r, pv.get(r.map))
            if probe is not None:  # every target is done: this only builds the table
                res = rescue(
                    layer,
                    maps,
                    loaded,
                    probe=probe,
                    probe_inits=inits,
                    probe_steps=probe_steps,
                    probe_range=probe_cfg["range"],
                    probe_style=probe_cfg["style"],
                    lr=lr,
                    seed=seed,
                    done=done,
                    progress=False,
                    **pp,
                )
            else:
                res = RescueResult(
                    layer, None, [done[m] for m in maps], {}, dict(layer=layer, lr=lr, **pp)
                )
    except KeyboardInterrupt:
        for line in lines:
            click.echo(line)
        click.echo(
            f"interrupted: finished maps are kept in {folder.shown}; continue with --resume",
            err=True,
        )
        raise
    write_rescue(folder, res, manifest)
    return lines + [res.summary()] + _table(res)


def _table(res) -> list[str]:
    rows = [r for r in res.rows if r.status != "live"]
    if not rows:
        return []
    out = [f"{'map':>5}  {'random inits':>12}  {'precursor':>10}  status"]
    for r in rows:
        pv = "-" if r.probe_value is None else f"{r.probe_value:.3g}"
        qv = "-" if r.precursor_value is None else f"{r.precursor_value:.3g}"
        out.append(f"{r.map:>5}  {pv:>12}  {qv:>10}  {r.status}")
    return out
