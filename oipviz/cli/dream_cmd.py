"""``oipviz dream``: DeepDream on a photo with maps of a CNN."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from oipviz.cli.options import opt
from oipviz.cli.params import (
    LR,
    Finite,
    count,
    float_list,
    model_options,
    output_options,
    seed_option,
)
from oipviz.core.checks import parse_maps

if TYPE_CHECKING:
    from oipviz.core.images import ImagePlanes


@click.command("dream")
@click.argument("image", type=click.Path(dir_okay=True))
@opt("--layer", None, "conv3", "Layer whose map(s) dream (see 'oipviz info').")
@opt(
    "--map",
    None,
    "56",
    "Map index, list (3,56), range (0-15) or all (the whole layer).",
    dest="map_spec",
)
@opt(
    "--weights", None, None, "Weights of the maps in a list (default: equal).", metavar="W1,W2,..."
)
@opt(
    "--iters",
    count(0, 10_000),
    4,
    "Rounds of down-scale, ascent, up-scale, re-add details (per octave).",
)
@opt("--epochs", count(0), None, "Ascent steps per round [default: 20; 5 with --tile/--octaves].")
@opt("--lr", LR, None, "Step size (RMS of each step, in standardized pixels) [default: 0.05].")
@opt(
    "--tile",
    count(8, 100_000),
    None,
    "Dream tiles of PX pixels (each downscaled to the model's input size, 28×28 for an MNIST "
    "CNN; at least that size) as one batch, rolled randomly each round so no seams show.",
    metavar="PX",
)
@opt(
    "--octaves",
    click.IntRange(min=1, max=12),
    1,
    "Scales from coarse to fine, with lost detail re-injected between them (without --tile: "
    "the coarsest is dreamt whole, finer ones in tiles of that size).",
)
@opt("--octave-scale", Finite(1.0, 100.0, min_open=True), 1.4, "Size ratio between two octaves.")
@click.option(
    "--gray", is_flag=True, help="Gray output (the articles' look) even for a colour photo."
)
@seed_option("Seeds the tile rolls (0 to 2^31-1).")
@output_options("dream_STEM_MAP")
@model_options
def command(model, image, out, force, quiet, **o) -> None:
    """Let maps of LAYER dream on IMAGE (JPEG, PNG, TIFF, ...), as in the articles.

    The picture is downscaled to the model's input size (28×28 for an MNIST CNN), the
    map's response is raised by gradient ascent, the result is upscaled, the details the
    downscale lost are added back and the contrast is matched to the photo's; ITERS
    times.  A grey model dreams on the luminance (a colour photo keeps its chroma); a
    colour model dreams on the RGB picture.

    \b
    Writes OUT/dream.png (the input's size and mode: RGB, RGBA with its alpha, gray;
    palette images become RGB(A), 16-bit gray stays 16-bit, 16-bit colour is read as
    8-bit), one strip per round with the articles' panels (the model-size OIP, the
    blurry upscaled dream, details re-added, contrast adjusted) and manifest.json.
    Images above 50 MP are refused (set $OIPVIZ_MAX_PIXELS to change that).
    """
    from pathlib import Path

    from oipviz.cli.run import result
    from oipviz.core.folders import OutputFolder
    from oipviz.core.images import read_image, to_float

    src = Path(image)
    planes = to_float(read_image(src))  # a bad image fails before anything loads
    _check_size(src, planes.size, model.geometry())
    w = float_list(o["weights"], "--weights", -1e6, 1e6)
    label = o["map_spec"].strip().lower().replace(",", "_").replace(" ", "")
    layer = o["layer"]
    default = (
        f"dream_{src.stem}_{label}" if layer == "conv3" else f"dream_{src.stem}_{layer}_{label}"
    )
    with OutputFolder(out or default, "dream", force) as folder:
        res = _dream(folder, model.load(), planes, src, w, o, quiet)
        folder.commit()
    for line in _summary(res, o["epochs"]):
        result(line)
    result(f"wrote {folder.shown}/")


def _maps(spec: str, info) -> list[int]:
    """The maps of ``--map``; the defaults (conv3, map 56: the articles' seed_cnn) name what
    to choose on a model that lacks them."""
    from oipviz.core.errors import LayerError

    try:
        return parse_maps(spec, info.units)
    except LayerError as e:
        source = click.get_current_context().get_parameter_source("map_spec")
        if source is not click.core.ParameterSource.DEFAULT:
            raise
        raise LayerError(
            f"{e} (--map defaults to 56, the articles' map of seed_cnn's conv3); "
            f"choose --map 0-{info.units - 1} or all"
        ) from None


def _check_size(src, size: tuple[int, int], geometry) -> None:
    """A photo smaller than the model's input is refused (before anything loads when the
    model file says its size)."""
    from oipviz.core.errors import ImageError

    side = max(geometry.shape[:2]) if geometry is not None else 8
    if min(size) < side:
        raise ImageError(f"{src} is {size[0]}×{size[1]} px; DeepDream needs at least {side}×{side}")


def _dream(folder, loaded, planes: ImagePlanes, src, w, o: dict, quiet: bool):
    from oipviz.cli.run import bar, progress_sink
    from oipviz.compute.dream import dream, make_objective
    from oipviz.compute.dreamer import DEFAULT_STEPS, DEFAULT_TILE_STEPS
    from oipviz.compute.scales import plan, total_image_steps
    from oipviz.core.manifest import base_manifest
    from oipviz.writers.dream import write_dream

    info = loaded.unit_layer(o["layer"])
    maps = _maps(o["map_spec"], info)
    whole = o["map_spec"].strip().lower() == "all" and w is None
    objective = make_objective(
        loaded, info.name, "all" if whole else None, maps=None if whole else maps, weights=w
    )
    _check_size(src, planes.size, loaded.geometry)
    tile, octaves = o["tile"], o["octaves"]
    scales = plan(*planes.size, tile, octaves, o["octave_scale"], max(loaded.geometry.shape[:2]))
    steps = o["epochs"] if o["epochs"] is not None else (
        DEFAULT_STEPS if tile is None and octaves == 1 else DEFAULT_TILE_STEPS)  # fmt: skip
    total = total_image_steps(scales, o["iters"], steps)
    with progress_sink(quiet) as sink, bar(sink, total, f"dream {objective.name}") as b:
        res = dream(
            planes, layer=info.name, iters=o["iters"], steps=o["epochs"], lr=o["lr"], tile=tile,
            octaves=octaves, octave_scale=o["octave_scale"], gray=o["gray"], seed=o["seed"],
            model=loaded, objective=objective, progress=b.update,
        )  # fmt: skip
    if res.interrupted:
        raise KeyboardInterrupt
    params = dict(image=str(src), maps=maps, weights=w, **res.params)
    write_dream(folder, res, base_manifest("dream", loaded, params, o["seed"]), planes)
    return res


def _summary(res, epochs) -> list[str]:
    """The result line (and a warning on stderr for a map that is 0 everywhere)."""
    from oipviz.cli.run import note
    from oipviz.core.status import fires

    if (
        epochs != 0
        and res.rounds
        and not any(fires([r.activation_start, r.activation_end]).any() for r in res.rounds)
    ):
        note(
            f"warning: {res.objective} is 0 on this image before and after every round "
            "(a dead map here); the dream is the photo with its contrast adjusted. "
            "Try another --map."
        )
    if not res.rounds:
        return []
    return [
        f"{res.objective}: activation {res.rounds[0].activation_start:.3g} -> "
        f"{res.rounds[-1].activation_end:.3g} over {len(res.rounds)} round(s); "
        f"engine {res.engine_seconds:.1f}s of {res.total_seconds:.1f}s"
    ]
