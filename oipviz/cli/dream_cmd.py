"""``oipviz dream``: DeepDream on a photo with maps of the MNIST CNN."""
from __future__ import annotations

import click

from .common import model_options, parse_maps


def _float_list(text: str | None, name: str) -> list[float] | None:
    from ..errors import OipvizError

    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise OipvizError(f"bad {name} {text!r}; give comma-separated numbers") from None


class _DreamCommand(click.Command):
    """Checks the image and the output folder before ``--model`` loads TensorFlow."""

    def invoke(self, ctx):
        ctx.meta["oipviz.dream"] = _prepare(ctx.params)
        return super().invoke(ctx)


def _prepare(p: dict) -> dict:
    """Read the image, plan the scales, check --weights and the output folder (no TF)."""
    from pathlib import Path

    from ..dream import plan
    from ..errors import ImageError, OutputError
    from ..images import MIN_SIDE, read_image, to_float
    from ..outputs import check_target

    src = Path(p["image"])
    img = read_image(src)
    if min(img.size) < MIN_SIDE:
        raise ImageError(f"{src} is {img.width}×{img.height} px; DeepDream needs at least "
                         f"{MIN_SIDE}×{MIN_SIDE}")
    planes = to_float(img)
    scales = plan(planes.size[0], planes.size[1], p["tile"], p["octaves"], p["octave_scale"])
    weights = _float_list(p["weights"], "--weights")
    label = p["map_spec"].strip().lower().replace(",", "_").replace(" ", "")
    layer = p["layer"]
    default_out = f"dream_{src.stem}_{label}" if layer == "conv3" else f"dream_{src.stem}_{layer}_{label}"
    out = Path(p["out"] or default_out)
    if out.exists() and not p["force"]:
        raise OutputError(f"{out} already exists; use --force to replace it")
    out = check_target(out, p["force"])
    return dict(src=src, img=img, planes=planes, scales=scales, weights=weights, out=out)


@click.command("dream", cls=_DreamCommand)
@click.argument("image", type=click.Path(dir_okay=True))
@click.option("--layer", default="conv3", show_default=True,
              help="Layer whose map(s) dream (see 'oipviz info').")
@click.option("--map", "map_spec", default="56", show_default=True,
              help="Map index, list (3,56), range (0-15) or all (the whole layer).")
@click.option("--weights", default=None, metavar="W1,W2,...",
              help="Weights of the maps in a list (default: equal).")
@click.option("--iters", type=click.IntRange(min=0), default=4, show_default=True,
              help="Rounds of down-scale, ascent, up-scale, re-add details (per octave).")
@click.option("--epochs", type=click.IntRange(min=0), default=None,
              help="Ascent steps per round [default: 20; 5 with --tile/--octaves].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Step size (RMS of each step, in standardized pixels) [default: 0.05].")
@click.option("--tile", type=click.IntRange(min=28), default=None, metavar="PX",
              help="Dream tiles of PX pixels (each downscaled to 28×28) as one batch, "
                   "rolled randomly each round so no seams show.")
@click.option("--octaves", type=click.IntRange(min=1, max=12), default=1, show_default=True,
              help="Scales from coarse to fine, with lost detail re-injected between them "
                   "(without --tile: the coarsest is dreamt whole, finer ones in tiles of "
                   "that size).")
@click.option("--octave-scale", type=click.FloatRange(min=1, min_open=True), default=1.4,
              show_default=True, help="Size ratio between two octaves.")
@click.option("--gray", is_flag=True, help="Gray output (the articles' look) even for a colour photo.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the tile rolls.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder [default: dream_STEM_MAP].")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@model_options
def command(loaded, image, layer, map_spec, weights, iters, epochs, lr, tile, octaves, octave_scale,
            gray, seed, out, force, quiet) -> None:
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
    import os

    from ..dream import (DEFAULT_EPOCHS, DEFAULT_TILE_EPOCHS, dream_planes, make_objective,
                         total_image_steps, write_dream_folder)
    from ..errors import OipvizError

    prep = click.get_current_context().meta.get("oipviz.dream") or _prepare(dict(
        image=image, tile=tile, octaves=octaves, octave_scale=octave_scale, weights=weights,
        map_spec=map_spec, layer=layer, out=out, force=force))
    src, img, planes, scales, w, out = (prep[k] for k in ("src", "img", "planes", "scales",
                                                          "weights", "out"))

    info = loaded.layer(layer)
    if info.units is None:
        raise OipvizError(f"layer {info.name!r} ({info.type}) has no maps or units to dream with")
    maps = parse_maps(map_spec, info.units)
    whole = map_spec.strip().lower() == "all" and w is None
    objective = make_objective(loaded, info.name, "all" if whole else None,
                               maps=None if whole else maps, weights=w)
    simple = tile is None and octaves == 1
    n_epochs = epochs if epochs is not None else (DEFAULT_EPOCHS if simple else DEFAULT_TILE_EPOCHS)
    total = max(1, total_image_steps(scales, iters, n_epochs))
    with open(os.devnull, "w") as devnull, click.progressbar(
            length=total, label=f"dream {objective.name}", show_eta=True,
            file=devnull if quiet else None) as bar:
        res = dream_planes(planes, loaded, objective, iters, epochs, lr, tile, octaves, octave_scale,
                           gray, seed, progress=bar.update)
    params = dict(image=str(src), layer=info.name, maps=maps, weights=w, **res.params)
    write_dream_folder(out, res, planes, loaded, params, seed, force,
                       source={"path": str(src), "size": list(planes.size), "mode": img.mode})
    live = [r for r in res.rounds if r.activation_end > 1e-6]
    if res.rounds and not live:
        click.echo(f"warning: {objective.name} stays at 0 on this image (a dead map here); "
                   "the dream is the photo with its contrast adjusted. Try another --map.", err=True)
    if res.rounds:
        click.echo(f"{objective.name}: activation {res.rounds[0].activation_start:.3g} -> "
                   f"{res.rounds[-1].activation_end:.3g} over {len(res.rounds)} round(s); "
                   f"engine {res.engine_seconds:.1f}s of {res.total_seconds:.1f}s"
                   + ("; interrupted, partial result" if res.interrupted else ""))
    click.echo(f"wrote {out}/")
