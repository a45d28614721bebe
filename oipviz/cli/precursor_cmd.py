"""``oipviz precursor``: grid search for maps that random inits don't wake."""
from __future__ import annotations

import click

from .params import LR, count, model_options, output_options, parse_maps, seed_option

SCREEN_HELP = ("exhaustive: TEST-EPOCHS ascent steps on every pattern (the articles'); "
               "forward: rank by the raw pattern's activation (one pass for all maps); "
               "halving: forward on all, 3 steps on the best 1/8, TEST-EPOCHS steps on the best "
               "1/4 of those.")


@click.command("precursor")
@click.option("--layer", required=True, help="Layer name, e.g. conv3 (see 'oipviz info').")
@click.option("--map", "map_spec", required=True,
              help="Map index, list (1,3,9), range (0-15) or all.")
@click.option("--grid", type=count(1, 28), default=3, show_default=True,
              help="Squares per side of the coarse pattern (3 = squares of about 9 px).")
@click.option("--values", "values_text", default="0.2,0.5,0.8", show_default=True,
              help="Grey values of the squares, in [0, 1].")
@click.option("--test-epochs", type=count(0, 10_000), default=10, show_default=True,
              help="Ascent steps per pattern in the screen.")
@click.option("--top", type=count(1, 100_000), default=8, show_default=True,
              help="Candidates refined per map.")
@click.option("--epochs", type=count(1), default=1200, show_default=True,
              help="Ascent steps of the refinement.")
@click.option("--lr", type=LR, default=0.02, show_default=True,
              help="Step size (RMS of each step, in standardized pixels).")
@click.option("--screen", type=click.Choice(["exhaustive", "forward", "halving"]),
              default="exhaustive", show_default=True, help=SCREEN_HELP)
@click.option("--chunk", type=count(1, 65_536), default=1024, show_default=True,
              help="Patterns per engine batch.")
@click.option("--wake", type=count(0, 100_000), default=200, show_default=True,
              help="Steps up the map's pre-activation (before its ReLU) for candidates whose map "
                   "is zero everywhere and so has no gradient; 0 = the articles' method.")
@click.option("--dead-only", is_flag=True,
              help="First try random multi-scale inits on every map; run the precursor only "
                   "on the maps that stay dead, and write a rescue table.")
@click.option("--probe-inits", type=count(1, 4096), default=8, show_default=True,
              help="Random inits per map for --dead-only.")
@click.option("--probe-epochs", type=count(1), default=300, show_default=True,
              help="Ascent steps of the random inits for --dead-only.")
@click.option("--yes", is_flag=True, help="Go on with a grid of more than 1.5 million patterns.")
@seed_option()
@output_options("precursor_LAYER_MAP", resumable=True)
@model_options
def command(model, layer, map_spec, grid, values_text, test_epochs, top, epochs, lr, screen, chunk,
            wake, dead_only, probe_inits, probe_epochs, yes, seed, out, force, quiet,
            resume) -> None:
    """Screen every coarse GRID×GRID pattern of grey VALUES on a map, refine the best.

    \b
    Writes the top candidates' start patterns and refined OIPs (viridis, gray),
    a histogram of the screen losses, the refinement curves, a contact sheet and
    manifest.json.  With several maps (or --dead-only) each map gets a subfolder,
    written as soon as it is finished, and a rescue table; Ctrl-C keeps finished
    maps and --resume continues.
    """
    from ..manifest import base_manifest
    from ..outputs import OutputFolder
    from ..precursor import check_params
    from .params import float_list, progress_sink

    values, n = check_params(grid, float_list(values_text, "--values", 0.0, 1.0), top,
                             test_epochs, epochs, lr, screen, chunk)
    tag = map_spec.strip().lower().replace(",", "_").replace(" ", "")
    params = dict(layer=layer, maps=map_spec, grid=grid, values=list(values), screen=screen,
                  test_epochs=test_epochs, top=top, epochs=epochs, lr=lr, chunk=chunk, wake=wake,
                  dead_only=dead_only)
    if dead_only:
        params.update(probe_inits=probe_inits, probe_epochs=probe_epochs)
    with OutputFolder(out or f"precursor_{layer}_{tag}", "precursor", force, resume,
                      resumable=True, identity={"parameters": params, "seed": seed}) as folder:
        if folder.already_complete:
            click.echo(f"{folder.shown} is already complete; nothing to do")
            return
        loaded = model.load()
        info = loaded.unit_layer(layer)
        maps = parse_maps(map_spec, info.units)
        _guard(loaded, info.name, maps, screen, n, test_epochs, top, epochs, lr, chunk, yes)
        manifest = base_manifest("precursor", loaded, params, seed)
        run = dict(loaded=loaded, layer=info.name, grid=grid, values=values,
                   test_epochs=test_epochs, top=top, epochs=epochs, lr=lr, seed=seed,
                   screen=screen, chunk=chunk, wake=wake)
        with progress_sink(quiet) as sink:
            if dead_only or len(maps) > 1:
                from .rescue_run import run_many

                lines = run_many(folder, maps, dead_only, probe_inits, probe_epochs, manifest,
                                 sink, **run)
            else:
                lines = _run_one(folder, maps[0], n, manifest, sink, **run)
        folder.commit()
    for line in lines:
        click.echo(line)
    click.echo(f"wrote {folder.shown}/")


def _guard(loaded, layer, maps, screen, n, test_epochs, top, epochs, lr, chunk, yes) -> None:
    """Very large grids need --yes; an estimate from a short calibration is shown."""
    from ..errors import OipvizError
    from ..precursor import GUARD_PATTERNS
    from ..screens import estimate_seconds

    if n <= GUARD_PATTERNS:
        return
    secs = estimate_seconds(loaded, layer, maps[0], screen, n, len(maps), test_epochs, top,
                            epochs, lr, chunk)
    if not yes:
        raise OipvizError(f"{n:,} patterns per map × {len(maps)} map(s) is a very large grid "
                          f"({screen} screen, estimated {_duration(secs)}); add --yes to run it")
    click.echo(f"{n:,} patterns per map × {len(maps)} map(s), {screen} screen: "
               f"estimated {_duration(secs)}", err=True)


def _duration(secs: float) -> str:
    secs = int(round(secs))
    if secs < 60:
        return f"{secs} s"
    if secs < 3600:
        return f"{secs // 60} min {secs % 60:02d} s"
    return f"{secs // 3600} h {secs % 3600 // 60:02d} min"


def _run_one(folder, m, n, manifest, sink, loaded, layer, **kw) -> list[str]:
    from ..precursor import precursor
    from ..screens import work
    from ..writers.precursor import write_precursor

    total = work(n, 1, kw["screen"], kw["test_epochs"], kw["top"], kw["epochs"])
    with click.progressbar(length=total, label=f"{layer} map {m}: {n:,} patterns",
                           show_eta=True, file=sink) as bar:
        res = precursor(layer, m, loaded, progress=bar.update, **kw)
    write_precursor(folder, res, manifest)
    return [res.summary()] + ([f"note: {res.note}"] if res.note else [])
