"""``oipviz explain``: attribution maps (saliency, SmoothGrad, IG, Grad-CAM, ...) of digits."""

from __future__ import annotations

import click

from oipviz.cli.params import Finite, count, model_options, output_options, seed_option
from oipviz.core.precision import PRECISIONS


def _parse_target(text: str):
    """``predicted``, ``true`` or a class index (its range is checked once the model is loaded)."""
    from oipviz.core.errors import OipvizError

    t = text.strip().lower()
    if t in ("predicted", "true"):
        return t
    if t.isdigit():
        return int(t)
    raise OipvizError(f"bad --target {text!r}; use predicted, true or a class index like 3")


@click.command("explain")
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--samples",
    type=count(1, 100_000),
    default=None,
    help="Without IMAGES: how many real held-out digits [default: 8].",
)
@click.option(
    "--data",
    default=None,
    metavar="PATH",
    help="Your images for --samples: a folder with a subfolder per class, or an .npz "
    "(x, y); or an MNIST .npz or IDX folder (also for the sanity check's random-features "
    "model) [default: the model's data set].",
)
@click.option(
    "--method",
    "methods",
    multiple=True,
    default=("all",),
    show_default=True,
    help="saliency, gradinput, smoothgrad, ig, gradcam, gradcampp, occlusion or all; "
    "repeat or separate with commas.",
)
@click.option(
    "--target",
    "target_spec",
    default="predicted",
    show_default=True,
    help="Class whose logit is explained: predicted, true (--samples only) or K.",
)
@click.option("--layer", default=None, help="Conv layer for Grad-CAM(++) [default: the last].")
@click.option(
    "--sanity",
    is_flag=True,
    help="Also run the sanity checks: cascading model randomization, the random-"
    "features model, deletion/insertion curves (sanity.csv, sanity.png).",
)
@click.option(
    "--smooth-samples",
    type=count(1, 10_000),
    default=50,
    show_default=True,
    help="SmoothGrad: noisy copies per image.",
)
@click.option(
    "--noise",
    type=Finite(0.0, 10.0),
    default=0.2,
    show_default=True,
    help="SmoothGrad: noise σ as a fraction of the pixel range [0,1].",
)
@click.option(
    "--ig-steps",
    type=count(2, 10_000),
    default=64,
    show_default=True,
    help="Integrated Gradients: points on the path (trapezoidal rule).",
)
@click.option(
    "--baseline",
    type=click.Choice(["black", "mean"]),
    default="black",
    show_default=True,
    help="Integrated Gradients: black image or the data mean.",
)
@click.option(
    "--patch",
    type=count(1, 512),
    default=None,
    help="Occlusion: patch size in pixels [default: 1/7 of the image side, 4 on 28×28].",
)
@click.option(
    "--stride",
    type=count(1, 512),
    default=None,
    help="Occlusion: patch stride in pixels [default: half the patch].",
)
@click.option(
    "--occlusion-value",
    type=Finite(-1e3, 1e3),
    default=0.0,
    show_default=True,
    help="Occlusion: pixel value of the patch (0 = black).",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="float32",
    show_default=True,
    help="Of the gradients (saliency, gradinput, SmoothGrad, IG): bfloat16 runs the "
    "conv chain in bf16 (fast path only), auto where the CPU has native bf16; "
    "scores and probabilities stay float32.",
)
@seed_option("Which held-out digits, and the SmoothGrad noise / randomization seeds.")
@output_options("explain (explain_STEM for one image)")
@model_options
def command(model, images, out, force, quiet, **o) -> None:
    """Which pixels of IMAGES (or real digits) make the model predict what it predicts.

    \b
    Writes OUT/explain.png (per input: the image with the prediction and its probability,
    then one heatmap per method drawn over it), maps_METHOD.npy (N×H×W, pixel units),
    inputs.npy, probs.npy and manifest.json; with --sanity also sanity.csv,
    sanity_cascade.csv, sanity.png and sanity_maps.png.

    \b
    The class score is the pre-softmax logit; gradients are taken with respect to the
    pixels in [0,1].  For a digit model, IMAGES of any size and colour become MNIST-style
    digits (grayscale, inverted if the border is light, cropped to the ink, scaled to 20 px
    of 28, centred by mass), as in 'oipviz activations'; for a colour model they are
    resized to its input size.  With --method all, methods that need a conv layer are
    skipped (with a note) on models without one.
    """
    from pathlib import Path

    from oipviz.cli.run import note, result
    from oipviz.compute.attribution import method_names
    from oipviz.core.errors import OipvizError
    from oipviz.core.folders import OutputFolder
    from oipviz.data.inputs import read_inputs

    method_names(",".join(o["methods"]))  # a bad --method fails before anything loads
    target = _parse_target(o["target_spec"])
    if images and o["samples"] is not None:
        raise OipvizError("--samples picks real digits; it cannot be combined with IMAGES")
    if images and target == "true":
        raise OipvizError("--target true needs labels; image files have none (use --samples)")
    files = read_inputs(list(images)) if images else None  # bad files fail here
    default = f"explain_{Path(images[0]).stem}" if len(images) == 1 else "explain"
    with OutputFolder(out or default, "explain", force) as folder:
        loaded = model.load()
        x, labels, sources, params = _inputs(loaded, images, files, o)
        res = _explain(loaded, x, labels, sources, target, o, quiet)
        params.update(methods=res.methods, target=o["target_spec"], layer=o["layer"],
                      sanity=o["sanity"], precision=o["precision"])  # fmt: skip
        _write(folder, loaded, res, params, o["seed"])
        folder.commit()
    for line in res.notes:
        note(f"note: {line}")
    for line in report(res):
        result(line)
    result(f"wrote {folder.shown}/ (explain.png{', sanity.png' if o['sanity'] else ''})")


def _inputs(loaded, images, files, o: dict):
    """(images, labels, sources, manifest parameters): the files as model inputs, or
    --samples real held-out digits (a note when fewer are available)."""
    import numpy as np

    from oipviz.cli.run import note
    from oipviz.data.inputs import dataset_of, load_inputs, real_images
    from oipviz.data.sources import mnist_digits
    from oipviz.data.userdata import is_image_data

    if files is not None:
        inputs = load_inputs(list(images), loaded.geometry, files)
        x = np.stack([i.x01 for i in inputs]).reshape(-1, *loaded.geometry.shape)
        return x, None, [i.source for i in inputs], {"images": list(images)}
    n = o["samples"] or 8
    data = o["data"]
    if data is not None and not is_image_data(data):  # an MNIST .npz or IDX folder
        x, labels, source = mnist_digits(n, seed=o["seed"], path=data, split="test")
    else:  # the model's own data set, or the user's images
        x, labels, source = real_images(dataset_of(loaded, data), n, o["seed"], "test", loaded)
    what = "image" if data is not None and is_image_data(data) else "held-out image"
    if len(x) < n:
        note(f"note: --samples {n}: only {len(x)} {what}s in {source}; using those")
    sources = [f"{source} {what} #{i}" for i in range(len(x))]
    return x, labels, sources, {"samples": len(x), "data_source": source, "split": "test"}


def _explain(loaded, x, labels, sources, target, o: dict, quiet: bool):
    from oipviz.api import explain
    from oipviz.cli.run import bar, progress_sink
    from oipviz.compute.attribution import method_names

    methods = "all" if o["methods"] == ("all",) else ",".join(o["methods"])
    label = f"explain: {len(x)} input(s) × {len(method_names(methods))} method(s)"
    with progress_sink(quiet) as sink, bar(sink, len(x) * len(method_names(methods)), label) as b:
        return explain(
            x, methods, target, loaded, labels=labels, layer=o["layer"],
            samples=o["smooth_samples"], noise=o["noise"], ig_steps=o["ig_steps"],
            baseline=o["baseline"], patch=o["patch"], stride=o["stride"],
            occlusion_value=o["occlusion_value"], seed=o["seed"], sanity=o["sanity"],
            progress=lambda stage, k, _total: b.update(k) if stage in method_names(methods)
            else None,
            sources=sources, data=o["data"], precision=o["precision"],
        )  # fmt: skip


def _write(folder, loaded, res, params: dict, seed: int) -> None:
    from oipviz.core.manifest import base_manifest
    from oipviz.writers.explain import write_explain

    write_explain(folder, res, dict(base_manifest("explain", loaded, params, seed),
                                    notes=res.notes))  # fmt: skip


def report(res) -> list[str]:
    """A few lines: predictions, IG completeness, the sanity verdicts."""
    lines = []
    for i in range(min(len(res.images), 16)):
        lab = "" if res.labels is None else f" (label {int(res.labels[i])})"
        lines.append(f"{i:2d} {res.sources[i]}{lab}: predicted {int(res.predicted[i])} "
                     f"({res.probability[i]:.1%}), target {res.targets[i]}")  # fmt: skip
    if "ig" in res.methods:
        err = res.attributions["ig"].extras["completeness_error"]
        lines.append(f"Integrated Gradients: largest |completeness error| {abs(err).max():.3g} "
                     "(sum of the map minus f(x) - f(baseline), in logits)")  # fmt: skip
    for r in res.sanity.table() if res.sanity is not None else []:
        if "verdict" in r:
            lines.append(
                f"sanity {r['method']:10s} Spearman {r['spearman_random']:+.2f} "
                f"SSIM {r['ssim_random']:.2f} vs all-random; deletion AUC "
                f"{r['deletion_auc']:.3f}, insertion AUC {r['insertion_auc']:.3f}: "
                f"{r['verdict']}"
            )
    return lines
