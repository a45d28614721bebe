"""``oipviz oip``: optimal input patterns of one map, a list, or a whole layer."""
from __future__ import annotations

import click

from .common import model_options, parse_maps


@click.command("oip")
@click.option("--layer", required=True, help="Layer name, e.g. conv3 (see 'oipviz info').")
@click.option("--map", "map_spec", default="all", show_default=True,
              help="Map index, list (1,3,9), range (0-15) or all.")
@click.option("--inits", type=click.IntRange(min=1), default=8, show_default=True,
              help="Random multi-scale inits per map.")
@click.option("--epochs", type=click.IntRange(min=1), default=600, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.02, show_default=True,
              help="Step size (RMS of each step, in standardized pixels).")
@click.option("--objective", type=click.Choice(["mean", "max", "unit", "logit"]), default=None,
              help="mean/max of a conv map; unit or logit (pre-softmax) of a dense layer.")
@click.option("--scale-weights", default="0.5,0.5,1,1", show_default=True,
              help="Weights of the fluctuations on 1, 2, 4 and 7 px cells.")
@click.option("--jitter", type=click.IntRange(min=0, max=8), default=0, show_default=True,
              help="Random roll of up to ± this many pixels per step.")
@click.option("--tv", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Total-variation penalty (smoother pictures).")
@click.option("--blur", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Sigma (px) of a Gaussian blur of each gradient.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: oip_LAYER_MAP).")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@model_options
def command(loaded, layer, map_spec, inits, epochs, lr, objective, scale_weights, jitter, tv, blur,
            seed, out, force, quiet) -> None:
    """Find input patterns that excite maps of LAYER most (gradient ascent, batched).

    Writes per map viridis, gray and contrast-enhanced PNGs and the raw .npy, a
    contact sheet and manifest.json.  Maps that stay at zero from every init are
    reported as dead (try 'oipviz precursor' on them).
    """
    from pathlib import Path

    from ..errors import OipvizError
    from ..oip import oip
    from ..outputs import check_target
    from ..oip_output import write_oip_folder

    info = loaded.layer(layer)
    if info.units is None:
        raise OipvizError(f"layer {info.name!r} ({info.type}) has no maps or units to optimize")
    maps = parse_maps(map_spec, info.units)
    try:
        weights = tuple(float(v) for v in scale_weights.split(","))
        assert len(weights) == 4 and all(w >= 0 for w in weights) and any(weights)
    except (ValueError, AssertionError):
        raise OipvizError(f"bad --scale-weights {scale_weights!r}; give 4 non-negative numbers") from None
    kind = objective or ("mean" if info.is_conv else "unit")
    out = Path(out or f"oip_{info.name}_{map_spec.replace(',', '_') if len(maps) > 1 else maps[0]}")
    check_target(out, force)
    total = len(maps) * inits * epochs
    with click.progressbar(length=total, label=f"{info.name}: {len(maps)} map(s) × {inits} inits",
                           show_eta=True, file=None if not quiet else open("/dev/null", "w")) as bar:
        run = oip(info.name, maps, loaded, inits=inits, epochs=epochs, lr=lr, seed=seed, kind=kind,
                  scale_weights=weights, jitter=jitter, tv=tv, blur=blur, progress=bar.update)
    params = dict(layer=info.name, maps=maps, inits=inits, epochs=epochs, lr=lr, objective=kind,
                  scale_weights=weights, jitter=jitter, tv=tv, blur=blur)
    write_oip_folder(out, run, loaded, params, seed, force)
    status = run.status
    dead = [m for m, s in zip(run.maps, status) if s == "dead"]
    best = run.best_values
    click.echo(f"{info.name}: {len(maps)} map(s), {len(maps) - len(dead)} live, {len(dead)} dead; "
               f"best activation {best.max():.3g} (map {run.maps[int(best.argmax())]})"
               + ("; interrupted, partial result" if run.interrupted else ""))
    if dead:
        shown = ",".join(str(m) for m in dead[:20]) + ("…" if len(dead) > 20 else "")
        click.echo(f"dead maps (0 from all {inits} inits): {shown}")
        click.echo(f"hint: oipviz precursor --layer {info.name} --map {dead[0]}")
    click.echo(f"wrote {out}/")
