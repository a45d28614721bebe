"""``oipviz activations``: what every layer does with some inputs."""

from __future__ import annotations

import click

from oipviz.cli.params import count, model_options, output_options, seed_option


def _parse_digits(text: str | None) -> list[int] | None:
    from oipviz.core.errors import OipvizError

    if text is None:
        return None
    try:
        out = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        out = []
    if not out or any(d < 0 for d in out):
        raise OipvizError(f"bad --digits {text!r}; give class indices like 3,8")
    return out


@click.command("activations")
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--samples",
    type=count(1, 1000),
    default=None,
    help="Without IMAGES: how many real held-out digits to show (default 4).",
)
@click.option(
    "--digits",
    "digit_spec",
    default=None,
    metavar="3,8",
    help="Without IMAGES: only digits of these classes.",
)
@click.option(
    "--data",
    default=None,
    metavar="PATH",
    help="Without IMAGES: your images, a folder with a subfolder per class or an .npz "
    "(x, y) [default: the model's data set].",
)
@seed_option("Which held-out digits (the offline set is shuffled with it).")
@output_options("activations")
@model_options
def command(model, images, samples, digit_spec, data, seed, out, force, quiet) -> None:
    """Show the activations of every layer for IMAGES (or real digits).

    \b
    Writes, per input and layer, a PNG: a conv layer's maps as small viridis images
    (with their indices, one colour scale per picture), a Dense layer's units as a
    heat strip; beside it the input and the model's prediction with its probability.
    Plus index.html and manifest.json.

    \b
    For a digit model, IMAGES of any size and colour become MNIST-style digits:
    grayscale; inverted if the border pixels are light (MNIST is white on black);
    background level subtracted; cropped to the bounding box of the ink; scaled so
    the longest side is 20 px, keeping the aspect ratio; placed in a 28×28 frame with
    the centre of mass of the ink at the centre.  Transparent parts are filled with
    the background.  For a colour model they are resized to its input.  Without
    IMAGES, --samples real held-out digits are used (optionally only the classes in
    --digits).
    """
    from oipviz.cli.run import result
    from oipviz.compute.activations import activations
    from oipviz.core.errors import OipvizError
    from oipviz.core.folders import OutputFolder
    from oipviz.core.manifest import base_manifest
    from oipviz.data.inputs import dataset_inputs, dataset_of, load_inputs, read_inputs
    from oipviz.writers.activations import write_activations

    digits = _parse_digits(digit_spec)
    if images and (digits is not None or samples is not None or data is not None):
        raise OipvizError(
            "--samples/--digits/--data pick real images; they cannot be combined with IMAGES"
        )
    files = read_inputs(list(images)) if images else None  # bad files fail here
    with OutputFolder(out or "activations", "activations", force) as folder:
        loaded = model.load()
        if files is not None:
            inputs = load_inputs(list(images), loaded.geometry, files)
            params: dict[str, object] = {"images": list(images)}
        else:
            n = samples or 4
            inputs, source = dataset_inputs(n, digits, seed, dataset_of(loaded, data), loaded)
            params = {"samples": n, "digits": digits, "data_source": source, "split": "test"}
        res = activations(loaded, inputs)
        man = write_activations(
            folder, res, loaded, base_manifest("activations", loaded, params, seed)
        )
        folder.commit()
    for e in man["inputs"]:
        lab = f" (label {e['label']})" if e["label"] is not None else ""
        result(f"{e['input']:2d} {e['source']}{lab}: predicted {e['prediction']} "
               f"({e['probability']:.1%})")  # fmt: skip
    result(
        f"wrote {folder.shown}/ ({len(man['inputs'])} input(s) × {len(res.layers)} "
        "layer(s)); open index.html"
    )
