"""``oipviz oip``: optimal input patterns of one map, a list, or a whole layer."""

from __future__ import annotations

import click

from oipviz.cli.params import (
    already_complete,
    ascent_options,
    count,
    model_options,
    output_options,
    parse_maps,
    precision_option,
    seed_option,
)


@click.command("oip")
@click.option("--layer", required=True, help="Layer name, e.g. conv3 (see 'oipviz info').")
@click.option(
    "--map",
    "map_spec",
    default="all",
    show_default=True,
    help="Map index, list (1,3,9), range (0-15) or all.",
)
@click.option(
    "--inits",
    type=count(1, 4096),
    default=8,
    show_default=True,
    help="Random multi-scale inits per map.",
)
@ascent_options(epochs=600, lr=0.02)
@click.option(
    "--objective",
    type=click.Choice(["mean", "max", "unit", "logit"]),
    default=None,
    help="mean/max of a conv map; unit or logit (pre-softmax) of a dense layer.",
)
@click.option(
    "--scale-weights",
    default="0.5,0.5,1,1",
    show_default=True,
    help="Weights of the fluctuations on 1, 2, 4 and 7 px cells.",
)
@precision_option
@seed_option()
@output_options("oip_LAYER_MAP", resumable=True)
@model_options
def command(
    model,
    layer,
    map_spec,
    inits,
    epochs,
    lr,
    range_mode,
    style,
    jitter,
    tv,
    blur,
    objective,
    scale_weights,
    precision,
    seed,
    out,
    force,
    quiet,
    resume,
) -> None:
    """Find input patterns that excite maps of LAYER most (gradient ascent, batched).

    Writes per map viridis, gray and contrast-enhanced PNGs and the raw .npy, a
    contact sheet and manifest.json.  Maps that stay at zero from every init are
    reported as dead (try 'oipviz precursor' on them).  A run over many maps is
    computed in parts: Ctrl-C keeps the finished parts and --resume continues.
    """
    from oipviz.cli.params import float_list, progress_sink
    from oipviz.compute.oip import check_scale_weights, oip, plan_transforms
    from oipviz.core import transforms as T
    from oipviz.core.manifest import base_manifest
    from oipviz.core.outputs import OutputFolder
    from oipviz.writers.oip import FolderParts, run_in_parts, write_oip

    weights = check_scale_weights(float_list(scale_weights, "--scale-weights", 0.0, 1e6))
    tag = map_spec.strip().lower().replace(",", "_").replace(" ", "")
    params = dict(
        layer=layer,
        maps=map_spec,
        inits=inits,
        epochs=epochs,
        lr=lr,
        range=range_mode,
        style=style,
        jitter=jitter,
        tv=tv,
        blur=blur,
        objective=objective,
        scale_weights=weights,
        precision=precision,
    )
    with OutputFolder(
        out or f"oip_{layer}_{tag}",
        "oip",
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
        kind = objective or ("mean" if info.is_conv else "unit")
        transforms = plan_transforms(loaded.convention, range_mode, style, jitter, tv, blur)
        manifest = dict(
            base_manifest("oip", loaded, params, seed), transform_list=T.describe(transforms)
        )
        # written now (complete: false) so an interrupted run can be recognized and resumed
        folder.write_manifest(manifest, complete=False)
        total = len(maps) * inits * epochs
        with (
            progress_sink(quiet) as sink,
            click.progressbar(
                length=total,
                label=f"{info.name}: {len(maps)} map(s) × {inits} inits",
                show_eta=True,
                file=sink,
            ) as bar,
        ):
            run = run_in_parts(
                FolderParts(folder, loaded.convention, transforms),
                maps,
                inits,
                lambda group: oip(
                    info.name,
                    group,
                    loaded,
                    inits=inits,
                    steps=epochs,
                    lr=lr,
                    seed=seed,
                    kind=kind,
                    scale_weights=weights,
                    range_mode=range_mode,
                    transforms=transforms,
                    progress=bar.update,
                    precision=precision,
                ),
                on_skip=lambda n: bar.update(n * inits * epochs),
            )
        write_oip(folder, run, dict(manifest, precision_used=run.precision))
        folder.commit()
    status = run.status
    dead = [m for m, s in zip(run.maps, status) if s == "dead"]
    best = run.best_values
    click.echo(
        f"{info.name}: {len(maps)} map(s), {len(maps) - len(dead)} live, {len(dead)} dead; "
        f"best activation {best.max():.3g} (map {run.maps[int(best.argmax())]})"
    )
    if dead:
        shown = ",".join(str(m) for m in dead[:20]) + ("…" if len(dead) > 20 else "")
        click.echo(f"dead maps (0 from all {inits} inits): {shown}")
        click.echo(f"hint: oipviz precursor --layer {info.name} --map {dead[0]}")
    click.echo(f"wrote {folder.shown}/")
