"""``oipviz dream``: DeepDream on a photo with maps of the MNIST CNN."""

from __future__ import annotations

import click

from oipviz.cli.params import (
    LR,
    Finite,
    count,
    float_list,
    model_options,
    output_options,
    parse_maps,
    seed_option,
)
from oipviz.cli.run import progress_sink


@click.command("dream")
@click.argument("image", type=click.Path(dir_okay=True))
@click.option(
    "--layer",
    default="conv3",
    show_default=True,
    help="Layer whose map(s) dream (see 'oipviz info').",
)
@click.option(
    "--map",
    "map_spec",
    default="56",
    show_default=True,
    help="Map index, list (3,56), range (0-15) or all (the whole layer).",
)
@click.option(
    "--weights",
    default=None,
    metavar="W1,W2,...",
    help="Weights of the maps in a list (default: equal).",
)
@click.option(
    "--iters",
    type=count(0, 10_000),
    default=4,
    show_default=True,
    help="Rounds of down-scale, ascent, up-scale, re-add details (per octave).",
)
@click.option(
    "--epochs",
    type=count(0),
    default=None,
    help="Ascent steps per round [default: 20; 5 with --tile/--octaves].",
)
@click.option(
    "--lr",
    type=LR,
    default=None,
    help="Step size (RMS of each step, in standardized pixels) [default: 0.05].",
)
@click.option(
    "--tile",
    type=count(28, 100_000),
    default=None,
    metavar="PX",
    help="Dream tiles of PX pixels (each downscaled to 28×28) as one batch, "
    "rolled randomly each round so no seams show.",
)
@click.option(
    "--octaves",
    type=click.IntRange(min=1, max=12),
    default=1,
    show_default=True,
    help="Scales from coarse to fine, with lost detail re-injected between them "
    "(without --tile: the coarsest is dreamt whole, finer ones in tiles of "
    "that size).",
)
@click.option(
    "--octave-scale",
    type=Finite(1.0, 100.0, min_open=True),
    default=1.4,
    show_default=True,
    help="Size ratio between two octaves.",
)
@click.option(
    "--gray", is_flag=True, help="Gray output (the articles' look) even for a colour photo."
)
@seed_option("Seeds the tile rolls (0 to 2^31-1).")
@output_options("dream_STEM_MAP")
@model_options
def command(
    model,
    image,
    layer,
    map_spec,
    weights,
    iters,
    epochs,
    lr,
    tile,
    octaves,
    octave_scale,
    gray,
    seed,
    out,
    force,
    quiet,
) -> None:
    """Let maps of LAYER dream on IMAGE (JPEG, PNG, TIFF, ...), as in the articles.

    The luminance is downscaled to 28×28, the map's response is raised by gradient
    ascent, the result is upscaled, the details the downscale lost are added back and
    the contrast is matched to the photo's; ITERS times.  A colour photo gives a colour
    dream (luminance dreamt, chroma kept).

    \b
    Writes OUT/dream.png (the input's size and mode: RGB, RGBA with its alpha, gray;
    palette images become RGB(A), 16-bit gray stays 16-bit, 16-bit colour is read as
    8-bit), one strip per round with the articles' panels (28×28 OIP in viridis and
    gray, blurry upscaled dream, details re-added, contrast adjusted) and manifest.json.
    Images above 50 MP are refused (set $OIPVIZ_MAX_PIXELS to change that).
    """
    from pathlib import Path

    from oipviz.compute.dream import (
        DEFAULT_STEPS,
        DEFAULT_TILE_STEPS,
        dream,
        make_objective,
        plan,
        total_image_steps,
    )
    from oipviz.core.errors import ImageError
    from oipviz.core.folders import OutputFolder
    from oipviz.core.images import MIN_SIDE, read_image, to_float
    from oipviz.core.manifest import base_manifest
    from oipviz.core.status import fires
    from oipviz.writers.dream import write_dream

    src = Path(image)
    img = read_image(src)
    if min(img.size) < MIN_SIDE:
        raise ImageError(
            f"{src} is {img.width}×{img.height} px; DeepDream needs at least {MIN_SIDE}×{MIN_SIDE}"
        )
    planes = to_float(img)
    scales = plan(planes.size[0], planes.size[1], tile, octaves, octave_scale)
    n_epochs = (
        epochs
        if epochs is not None
        else (DEFAULT_STEPS if tile is None and octaves == 1 else DEFAULT_TILE_STEPS)
    )
    w = float_list(weights, "--weights", -1e6, 1e6)
    label = map_spec.strip().lower().replace(",", "_").replace(" ", "")
    default = (
        f"dream_{src.stem}_{label}" if layer == "conv3" else f"dream_{src.stem}_{layer}_{label}"
    )
    with OutputFolder(out or default, "dream", force) as folder:
        loaded = model.load()
        info = loaded.unit_layer(layer)
        maps = parse_maps(map_spec, info.units)
        whole = map_spec.strip().lower() == "all" and w is None
        objective = make_objective(
            loaded, info.name, "all" if whole else None, maps=None if whole else maps, weights=w
        )
        total = max(1, total_image_steps(scales, iters, n_epochs))
        with (
            progress_sink(quiet) as sink,
            click.progressbar(
                length=total, label=f"dream {objective.name}", show_eta=True, file=sink
            ) as bar,
        ):
            res = dream(
                planes,
                layer=info.name,
                iters=iters,
                steps=epochs,
                lr=lr,
                tile=tile,
                octaves=octaves,
                octave_scale=octave_scale,
                gray=gray,
                seed=seed,
                model=loaded,
                objective=objective,
                progress=bar.update,
            )
        if res.interrupted:
            raise KeyboardInterrupt
        params = dict(image=str(src), maps=maps, weights=w, **res.params)
        write_dream(folder, res, base_manifest("dream", loaded, params, seed), planes)
        folder.commit()
    if (
        n_epochs
        and res.rounds
        and not any(fires([r.activation_start, r.activation_end]).any() for r in res.rounds)
    ):
        click.echo(
            f"warning: {objective.name} is 0 on this image before and after every round "
            "(a dead map here); the dream is the photo with its contrast adjusted. "
            "Try another --map.",
            err=True,
        )
    if res.rounds:
        click.echo(
            f"{objective.name}: activation {res.rounds[0].activation_start:.3g} -> "
            f"{res.rounds[-1].activation_end:.3g} over {len(res.rounds)} round(s); "
            f"engine {res.engine_seconds:.1f}s of {res.total_seconds:.1f}s"
        )
    click.echo(f"wrote {folder.shown}/")
