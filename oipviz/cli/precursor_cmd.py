"""``oipviz precursor``: grid search for maps that random inits don't wake."""

from __future__ import annotations

import click

from oipviz.cli.params import (
    LR,
    already_complete,
    count,
    executor_options,
    model_options,
    output_options,
    parse_maps,
    precision_option,
    seed_option,
)

SCREEN_HELP = (
    "halving: forward on all, 3 steps on the best 1/8, TEST-EPOCHS steps on the best "
    "1/4 of those; exhaustive: TEST-EPOCHS ascent steps on every pattern (the "
    "articles'); forward: rank by the raw pattern's activation (one pass for all "
    "maps).  [default: halving; exhaustive with --executor ray or --shard-size, as "
    "halving is not sharded]"
)


@click.command("precursor")
@click.option("--layer", required=True, help="Layer name, e.g. conv3 (see 'oipviz info').")
@click.option(
    "--map", "map_spec", required=True, help="Map index, list (1,3,9), range (0-15) or all."
)
@click.option(
    "--grid",
    type=count(1, 28),
    default=3,
    show_default=True,
    help="Squares per side of the coarse pattern (3 = squares of about 9 px).",
)
@click.option(
    "--values",
    "values_text",
    default="0.2,0.5,0.8",
    show_default=True,
    help="Grey values of the squares, in [0, 1].",
)
@click.option(
    "--test-epochs",
    type=count(0, 10_000),
    default=10,
    show_default=True,
    help="Ascent steps per pattern in the screen.",
)
@click.option(
    "--top",
    type=count(1, 100_000),
    default=8,
    show_default=True,
    help="Candidates refined per map.",
)
@click.option(
    "--epochs",
    type=count(1),
    default=1200,
    show_default=True,
    help="Ascent steps of the refinement.",
)
@click.option(
    "--lr",
    type=LR,
    default=0.02,
    show_default=True,
    help="Step size (RMS of each step, in standardized pixels).",
)
@click.option(
    "--screen",
    type=click.Choice(["halving", "exhaustive", "forward"]),
    default=None,
    help=SCREEN_HELP,
)
@click.option(
    "--chunk",
    type=count(1, 65_536),
    default=1024,
    show_default=True,
    help="Patterns per engine batch.",
)
@click.option(
    "--wake",
    type=count(0, 100_000),
    default=200,
    show_default=True,
    help="Steps up the map's pre-activation (before its ReLU) for candidates whose map "
    "is zero everywhere and so has no gradient; 0 = the articles' method.",
)
@click.option(
    "--dead-only",
    is_flag=True,
    help="First try random multi-scale inits on every map; run the precursor only "
    "on the maps that stay dead, and write a rescue table.",
)
@click.option(
    "--probe-inits",
    type=count(1, 4096),
    default=8,
    show_default=True,
    help="Random inits per map for --dead-only.",
)
@click.option(
    "--probe-epochs",
    type=count(1),
    default=300,
    show_default=True,
    help="Ascent steps of the random inits for --dead-only.",
)
@click.option(
    "--probe-range",
    type=click.Choice(["valid", "free"]),
    default="valid",
    show_default=True,
    help="Pixel range of the random inits for --dead-only (as the "
    "gallery's; free + --probe-style plain: the articles' probe).",
)
@click.option(
    "--probe-style",
    type=click.Choice(["readable", "plain"]),
    default="readable",
    show_default=True,
    help="Style of the random inits for --dead-only.",
)
@click.option("--yes", is_flag=True, help="Go on with a grid of more than 1.5 million patterns.")
@click.option(
    "--shard-size",
    type=count(1, 50_000_000),
    default=None,
    help="Patterns per shard, rounded up to a multiple of --chunk [default: about 1/8 "
    "of the grid, at most 16 chunks].",
)
@executor_options("the shards and the refinements")
@precision_option
@seed_option()
@output_options("precursor_LAYER_MAP", resumable=True)
@model_options
def command(
    model,
    layer,
    map_spec,
    grid,
    values_text,
    test_epochs,
    top,
    epochs,
    lr,
    screen,
    chunk,
    wake,
    dead_only,
    probe_inits,
    probe_epochs,
    probe_range,
    probe_style,
    yes,
    shard_size,
    executor_name,
    address,
    cpus_per_task,
    precision,
    seed,
    out,
    force,
    quiet,
    resume,
) -> None:
    """Screen every coarse GRID×GRID pattern of grey VALUES on a map, refine the best.

    \b
    Writes the top candidates' start patterns and refined OIPs (viridis, gray),
    a histogram of the screen losses, the refinement curves, a contact sheet and
    manifest.json.  With several maps (or --dead-only) each map gets a subfolder,
    written as soon as it is finished, and a rescue table; Ctrl-C keeps finished
    maps and --resume continues.
    """
    from oipviz.cli.params import float_list, progress_sink
    from oipviz.compute.precursor import check_params
    from oipviz.core.manifest import base_manifest
    from oipviz.core.outputs import OutputFolder

    screen = screen or default_screen(executor_name, shard_size)
    values, n = check_params(
        grid,
        float_list(values_text, "--values", 0.0, 1.0),
        top,
        test_epochs,
        epochs,
        lr,
        screen,
        chunk,
    )
    from oipviz.compute.executors import check_executor

    shard_size = check_executor(executor_name, address, screen, n, chunk, shard_size)
    tag = map_spec.strip().lower().replace(",", "_").replace(" ", "")
    params = dict(
        layer=layer,
        maps=map_spec,
        grid=grid,
        values=list(values),
        screen=screen,
        test_epochs=test_epochs,
        top=top,
        epochs=epochs,
        lr=lr,
        chunk=chunk,
        wake=wake,
        dead_only=dead_only,
        shard_size=shard_size,
        precision=precision,
    )
    if dead_only:
        params.update(
            probe_inits=probe_inits,
            probe_epochs=probe_epochs,
            probe_range=probe_range,
            probe_style=probe_style,
        )
    with OutputFolder(
        out or f"precursor_{layer}_{tag}",
        "precursor",
        force,
        resume,
        resumable=True,
        identity={"parameters": params, "seed": seed},
    ) as folder:
        if already_complete(folder):
            return
        loaded = model.load()
        info = loaded.unit_layer(layer)
        maps = parse_maps(map_spec, info.units)
        _guard(
            loaded,
            info.name,
            maps,
            screen,
            n,
            test_epochs,
            top,
            epochs,
            lr,
            chunk,
            yes,
            grid,
            values,
        )
        manifest = base_manifest("precursor", loaded, params, seed)
        run = dict(
            loaded=loaded,
            layer=info.name,
            grid=grid,
            values=values,
            test_steps=test_epochs,
            top=top,
            steps=epochs,
            lr=lr,
            seed=seed,
            screen=screen,
            chunk=chunk,
            wake=wake,
            precision=precision,
        )
        from oipviz.compute.executors import executor

        with (
            progress_sink(quiet) as sink,
            executor(executor_name, loaded, address, cpus_per_task, unsafe=model.unsafe) as ex,
        ):
            manifest["executor"] = {"name": ex.name, "workers": ex.workers, "cores": ex.cores}
            run.update(ex=ex, shard_size=shard_size, quiet=quiet)
            if dead_only or len(maps) > 1:
                from oipviz.cli.rescue_run import run_many

                probe_cfg = dict(
                    inits=probe_inits, epochs=probe_epochs, range=probe_range, style=probe_style
                )
                lines = run_many(folder, maps, dead_only, probe_cfg, manifest, sink, **run)
            else:
                lines = _run_one(folder, maps[0], n, manifest, sink, **run)
        folder.commit()
    for line in lines:
        click.echo(line)
    click.echo(f"wrote {folder.shown}/")


def default_screen(executor_name: str, shard_size) -> str:
    """The precursor's default screen, or exhaustive for a sharded run (halving is not sharded)."""
    from oipviz.compute.screens import DEFAULT_SCREEN

    return DEFAULT_SCREEN if executor_name == "local" and shard_size is None else "exhaustive"


def _guard(
    loaded, layer, maps, screen, n, test_epochs, top, epochs, lr, chunk, yes, grid, values
) -> None:
    """Very large grids need --yes; an estimate from a short calibration (a timed probe
    shard in this process for the sharded screens) is shown."""
    from oipviz.compute.executors import LocalExecutor
    from oipviz.compute.precursor import GUARD_PATTERNS
    from oipviz.compute.scaleout import plan_run, probe_seconds
    from oipviz.compute.screens import estimate_seconds
    from oipviz.core.errors import OipvizError

    if n <= GUARD_PATTERNS:
        return
    if screen == "halving":
        secs = estimate_seconds(
            loaded, layer, maps[0], screen, n, len(maps), test_epochs, top, epochs, lr, chunk
        )
    else:
        ex = LocalExecutor(loaded)
        secs = probe_seconds(
            ex,
            plan_run(
                ex,
                layer,
                maps,
                grid,
                values,
                test_epochs,
                top,
                epochs,
                lr,
                screen=screen,
                chunk=chunk,
            ),
        )[1]
    if not yes:
        raise OipvizError(
            f"{n:,} patterns per map × {len(maps)} map(s) is a very large grid "
            f"({screen} screen, estimated {_duration(secs)}); add --yes to run it"
        )
    click.echo(
        f"{n:,} patterns per map × {len(maps)} map(s), {screen} screen: "
        f"estimated {_duration(secs)}",
        err=True,
    )


def _duration(secs: float) -> str:
    secs = int(round(secs))
    if secs < 60:
        return f"{secs} s"
    if secs < 3600:
        return f"{secs // 60} min {secs % 60:02d} s"
    return f"{secs // 3600} h {secs % 3600 // 60:02d} min"


def planned(folder, ex, layer, maps, quiet, shard_size, **kw):
    """Plan a sharded run (finished shards in ``folder`` are skipped) and, unless quiet,
    print the plan and an estimate from a timed probe shard.  Returns (plan, store, units)."""
    from oipviz.compute.scaleout import plan_run, probe_seconds
    from oipviz.compute.screens import work
    from oipviz.writers.shards import ShardStore

    store = ShardStore(folder)
    plan = plan_run(ex, layer, maps, shard_size=shard_size, store=store, **kw) if maps else None
    if plan is None:
        return (
            None,
            store,
            work(
                len(kw["values"]) ** (kw["grid"] ** 2),
                len(maps),
                kw["screen"],
                kw["test_steps"],
                kw["top"],
                kw["steps"],
            ),
        )
    if not quiet:
        for line in plan.lines(ex):
            click.echo(line, err=True)
        rate, secs = probe_seconds(ex, plan)
        click.echo(
            f"plan: probe shard: {rate:,.0f} image-steps/s in this process; estimated "
            f"{_duration(secs)}",
            err=True,
        )
    return plan, store, plan.total


def _run_one(folder, m, n, manifest, sink, loaded, layer, ex, shard_size, quiet, **kw) -> list[str]:
    from oipviz.compute.scaleout import precursor_run
    from oipviz.writers.precursor import write_precursor

    folder.write_manifest(manifest, complete=False)
    plan, store, total = planned(folder, ex, layer, [m], quiet, shard_size, **kw)
    with click.progressbar(
        length=total, label=f"{layer} map {m}: {n:,} patterns", show_eta=True, file=sink
    ) as bar:
        res = next(precursor_run(ex, layer, [m], plan=plan, store=store, progress=bar.update, **kw))
    write_precursor(folder, res, manifest)
    return [res.summary()] + ([f"note: {res.note}"] if res.note else [])
