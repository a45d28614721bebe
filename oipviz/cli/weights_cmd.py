"""``oipviz weights``: a layer's weights as pictures (templates or kernels) beside the
per-class mean images of real digits."""

from __future__ import annotations

import click

from oipviz.cli.embed_cmd import data_options, tag
from oipviz.cli.params import model_options, output_options


@click.command("weights")
@click.option(
    "--layer",
    default=None,
    help="A conv layer (its kernels) or a Dense layer on the 784 pixels (one 28×28 "
    "template per unit) [default: the first layer with weights].",
)
@data_options
@output_options("weights_MODEL[_LAYER]")
@model_options
def command(model, layer, data, dataset, out, force, quiet) -> None:
    """Show the weights of a layer as pictures.

    \b
    A Dense layer on the flat image: one 28×28 template per unit (per class for a linear
    model, e.g. 'oipviz train --arch linear'); a conv layer: its kernels (a grid of
    output maps × input channels beyond the first layer).  Diverging colours, one
    symmetric range for the layer: blue < 0 (white) < red.  Also class_means.png (the
    mean image per class), the raw .npy arrays and manifest.json; for class templates,
    correlation.csv (each template against each class mean).
    """
    from pathlib import Path

    from oipviz.compute.space.weights import weights
    from oipviz.core.folders import OutputFolder
    from oipviz.core.manifest import base_manifest
    from oipviz.writers.features import write_weights

    stem = Path(model.path).stem if model.path else "seed_cnn"
    name = f"weights_{tag(stem)}" + (f"_{tag(layer)}" if layer else "")
    with OutputFolder(out or name, "weights", force) as folder:
        loaded = model.load()
        res = weights(layer, loaded, data=data, dataset=dataset)
        params = dict(layer=res.layer, data=data, dataset=dataset)
        man = write_weights(folder, res, base_manifest("weights", loaded, params, None))
        folder.commit()
    s = man["summary"]
    click.echo(f"{res.model}: {res.layer}, {s['pictures']} {res.kind} (range ±{s['range']:.3g})")
    if "template_vs_class_mean_correlation" in s:
        r = s["template_vs_class_mean_correlation"]
        rs = " ".join(f"{d}:{v:.2f}" for d, v in enumerate(r))
        click.echo(
            f"template ~ own class mean, r: {rs}; {s['template_matches_own_class_mean']}"
            "/10 templates match their own class mean best"
        )
    click.echo(f"wrote {folder.shown}/")
