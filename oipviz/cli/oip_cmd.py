"""``oipviz oip``: optimal input patterns of one map, a list, or a whole layer."""

from __future__ import annotations

import click

from oipviz.cli.options import choice, opt
from oipviz.cli.params import (
    ascent_options,
    count,
    model_options,
    output_options,
    precision_option,
    seed_option,
)


@click.command("oip")
@click.option("--layer", required=True, help="Layer name, e.g. conv3 (see 'oipviz info').")
@opt("--map", None, "all", "Map index, list (1,3,9), range (0-15) or all.", dest="map_spec")
@opt("--inits", count(1, 4096), 8, "Random multi-scale inits per map.")
@ascent_options(epochs=600, lr=0.02)
@choice(
    "--objective",
    ["mean", "max", "unit", "logit"],
    None,
    "mean/max of a conv map; unit or logit (pre-softmax) of a dense layer.",
)
@opt(
    "--scale-weights", None, "0.5,0.5,1,1", "Weights of the fluctuations on 1, 2, 4 and 7 px cells."
)
@choice(
    "--param",
    ["auto", "pixel", "spectral"],
    "pixel",
    "Image parameterization: pixel (the ascent moves pixels) or spectral (lucid's "
    "1/f Fourier spectrum, decorrelated colour on RGB models); auto: what "
    "bench/quality.py found best for the model's geometry.",
)
@precision_option
@seed_option()
@output_options("oip_LAYER_MAP", resumable=True)
@model_options
def command(model, out, force, quiet, resume, **o) -> None:
    """Find input patterns that excite maps of LAYER most (gradient ascent, batched).

    Writes per map viridis, gray and contrast-enhanced PNGs and the raw .npy, a
    contact sheet and manifest.json.  Maps that stay at zero from every init are
    reported as dead (try 'oipviz precursor' on them).  A run over many maps is
    computed in parts: Ctrl-C keeps the finished parts and --resume continues.
    """
    from oipviz.cli.params import float_list
    from oipviz.cli.run import already_complete, result
    from oipviz.compute.oip import check_scale_weights
    from oipviz.core.folders import OutputFolder

    weights = check_scale_weights(float_list(o["scale_weights"], "--scale-weights", 0.0, 1e6))
    params = dict(
        layer=o["layer"], maps=o["map_spec"], inits=o["inits"], epochs=o["epochs"], lr=o["lr"],
        range=o["range_mode"], style=o["style"], jitter=o["jitter"], tv=o["tv"],
        blur=o["blur"], objective=o["objective"], scale_weights=weights,
        precision=o["precision"], param=o["param"],
    )  # fmt: skip
    identity = {"parameters": params, "seed": o["seed"], "model": model.identity()}
    tag = o["map_spec"].strip().lower().replace(",", "_").replace(" ", "")
    with OutputFolder(
        out or f"oip_{o['layer']}_{tag}", "oip", force, resume, True, identity
    ) as folder:
        if already_complete(folder):
            return
        run = _run(folder, model.load(), params, o["seed"], quiet)
        folder.commit()
    for line in summary(run, o["inits"]):
        result(line)
    result(f"wrote {folder.shown}/")


def _run(folder, loaded, p: dict, seed: int, quiet: bool):
    """The OIPs in resumable parts, then their files."""
    from oipviz.cli.run import bar, progress_sink
    from oipviz.compute.oip import objective_for, oip, plan_transforms, resolve_param
    from oipviz.compute.parts import run_in_parts
    from oipviz.core import transforms as T
    from oipviz.core.checks import parse_maps
    from oipviz.core.manifest import base_manifest
    from oipviz.writers.oip import FolderParts, write_oip

    info = loaded.unit_layer(p["layer"])
    maps = parse_maps(p["maps"], info.units)
    kind = p["objective"] or ("mean" if info.is_conv else "unit")
    objective_for(loaded, info.name, maps[0], kind)  # a bad --objective fails before the bar
    param = resolve_param(p["param"], loaded.geometry.channels)
    transforms = plan_transforms(
        loaded.convention, p["range"], p["style"], p["jitter"], p["tv"], p["blur"], param
    )
    manifest = dict(
        base_manifest("oip", loaded, p, seed), param_used=param,
        transform_list=T.describe(transforms),
    )  # fmt: skip
    # written now (complete: false) so an interrupted run can be recognized and resumed
    folder.write_manifest(manifest, complete=False)
    inits, steps = p["inits"], p["epochs"]
    label = f"{info.name}: {len(maps)} map(s) × {inits} inits"
    with progress_sink(quiet) as sink, bar(sink, len(maps) * inits * steps, label) as b:
        run = run_in_parts(
            FolderParts(folder, loaded.convention, transforms), maps, inits,
            lambda group: oip(
                info.name, group, loaded, inits=inits, steps=steps, lr=p["lr"], seed=seed,
                kind=kind, scale_weights=p["scale_weights"], range_mode=p["range"],
                transforms=transforms, progress=b.update, precision=p["precision"],
            ),
            on_skip=lambda n: b.update(n * inits * steps),
        )  # fmt: skip
    write_oip(folder, run, dict(manifest, precision_used=run.precision))
    return run


def summary(run, inits: int) -> list[str]:
    """The result lines: live and dead counts, the best activation, the dead maps."""
    dead = [m for m, s in zip(run.maps, run.status, strict=True) if s == "dead"]
    best = run.best_values
    lines = [
        f"{run.layer}: {len(run.maps)} map(s), {len(run.maps) - len(dead)} live, {len(dead)} "
        f"dead; best activation {best.max():.3g} (map {run.maps[int(best.argmax())]})"
    ]
    if dead:
        shown = ",".join(str(m) for m in dead[:20]) + ("…" if len(dead) > 20 else "")
        lines.append(f"dead maps (0 from all {inits} inits): {shown}")
        lines.append(f"hint: oipviz precursor --layer {run.layer} --map {dead[0]}")
    return lines
