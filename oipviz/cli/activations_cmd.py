"""``oipviz activations``: the activation maps of every conv layer for some inputs."""
from __future__ import annotations

import click

from .common import model_options


def _parse_digits(text: str | None) -> list[int] | None:
    from ..errors import OipvizError

    if text is None:
        return None
    try:
        out = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        out = []
    if not out or any(not 0 <= d <= 9 for d in out):
        raise OipvizError(f"bad --digits {text!r}; give classes 0-9 like 3,8")
    return out


@click.command("activations")
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Without IMAGES: how many real held-out digits to show (default 4).")
@click.option("--digits", "digit_spec", default=None, metavar="3,8",
              help="Without IMAGES: only digits of these classes.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Which held-out digits (the offline set is shuffled with it).")
@click.option("--out", type=click.Path(file_okay=False), default="activations", show_default=True,
              help="Output folder.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--quiet", is_flag=True, help="Print only the output folder.")
@model_options
def command(loaded, images, samples, digit_spec, seed, out, force, quiet) -> None:
    """Show the activation maps of every conv layer for IMAGES (or real digits).

    \b
    Writes, per input and conv layer, a PNG with all the layer's maps as small
    viridis images (with their indices, one colour scale per picture), the input and
    the model's prediction with its probability, plus index.html and manifest.json.

    \b
    IMAGES of any size and colour are converted to 28×28 MNIST-style digits:
    grayscale; inverted if the border pixels are light (MNIST is white on black);
    background level subtracted; cropped to the bounding box of the ink; scaled so
    the longest side is 20 px, keeping the aspect ratio; placed in a 28×28 frame with
    the centre of mass of the ink at the centre.  Transparent parts are filled with
    the background.  Without IMAGES, --samples real held-out digits are used
    (optionally only the classes in --digits).
    """
    from pathlib import Path

    from ..errors import OipvizError
    from ..gallery.activations import activation_gallery, dataset_inputs, load_inputs
    from ..outputs import check_target

    digits = _parse_digits(digit_spec)
    if images and (digits is not None or samples is not None):
        raise OipvizError("--samples/--digits pick real digits; they cannot be combined with IMAGES")
    if not loaded.conv_layers():
        from ..errors import ModelError

        names = ", ".join(i.name for i in loaded.layers if i.units is not None) or "none"
        raise ModelError(f"{loaded.name} has no conv layer (layers with units: {names}); "
                         "activation maps need one")
    check_target(Path(out), force)
    if images:
        inputs = load_inputs(list(images))
        params = {"images": list(images)}
    else:
        n = samples or 4
        inputs, source = dataset_inputs(n, digits, seed)
        params = {"samples": n, "digits": digits, "data_source": source, "split": "test"}
    man = activation_gallery(loaded, inputs, out, force=force, params=params, seed=seed)
    if not quiet:
        for e in man["inputs"]:
            lab = f" (label {e['label']})" if e["label"] is not None else ""
            click.echo(f"{e['input']:2d} {e['source']}{lab}: predicted {e['prediction']} "
                       f"({e['probability']:.1%})")
    click.echo(f"wrote {out}/ ({len(man['inputs'])} input(s) × {len(man['parameters']['layers'])} "
               "layer(s)); open index.html")
