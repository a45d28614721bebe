"""The several-maps side of ``oipviz precursor`` (a list of maps, or --dead-only): each
finished map is kept in its own subfolder, so Ctrl-C + --resume lose nothing."""
from __future__ import annotations

import click


def run_many(folder, maps, dead_only, probe_inits, probe_epochs, manifest, sink, loaded, layer,
             grid, values, test_epochs, top, epochs, lr, seed, screen, chunk, wake) -> list[str]:
    """Probe (with --dead-only), precursor on the targets, rescue table; returns the lines
    to print."""
    from ..oip import oip
    from ..precursor import precursor_maps
    from ..screens import work
    from ..rescue import RescueResult, rescue, row_of
    from ..status import fires
    from ..writers.oip import run_in_parts
    from ..writers.rescue import finished_rows, keep_map, write_rescue

    folder.write_manifest(manifest, complete=False)
    pp = dict(grid=grid, values=values, test_epochs=test_epochs, top=top, epochs=epochs,
              screen=screen, chunk=chunk, wake=wake)
    probe = None
    if dead_only:
        with click.progressbar(length=len(maps) * probe_inits * probe_epochs, show_eta=True,
                               file=sink, label=f"{layer}: {len(maps)} map(s) × {probe_inits} "
                                                "random inits") as bar:
            probe = run_in_parts(
                folder, maps, probe_inits,
                lambda g: oip(layer, g, loaded, inits=probe_inits, epochs=probe_epochs, lr=lr,
                              seed=seed, progress=bar.update),
                loaded.convention, on_skip=lambda k: bar.update(k * probe_inits * probe_epochs))
    done = finished_rows(folder, maps, probe)
    targets = maps if probe is None else [m for m, v in zip(probe.maps, probe.best_values)
                                          if not fires(v)]
    todo = [m for m in targets if m not in done]
    if folder.resumed:
        click.echo(f"resuming {folder.shown}: {len(done)} finished map(s) skipped", err=True)
    n = len(values) ** (grid * grid)
    lines: list[str] = []

    def keep(res):
        keep_map(folder, res, manifest)
        lines.append(res.summary() + (f" (note: {res.note})" if res.note else ""))

    try:
        with click.progressbar(length=max(1, work(n, len(todo), screen, test_epochs, top, epochs)),
                               show_eta=True, file=sink,
                               label=f"{layer}: precursor on {len(todo)} map(s)") as bar:
            if probe is not None:
                res = rescue(layer, maps, loaded, probe=probe, probe_inits=probe_inits,
                             probe_epochs=probe_epochs, lr=lr, seed=seed, done=done,
                             on_result=keep, progress=lambda stage, k, total: bar.update(k), **pp)
            else:
                for r in precursor_maps(layer, todo, loaded, lr=lr, seed=seed,
                                        progress=bar.update, **pp):
                    keep(r)
                    done[r.map] = row_of(r)
                res = RescueResult(layer, None, [done[m] for m in maps], {},
                                   dict(layer=layer, lr=lr, **pp))
    except KeyboardInterrupt:
        for line in lines:
            click.echo(line)
        click.echo(f"interrupted: finished maps are kept in {folder.shown}; continue with --resume",
                   err=True)
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
