"""``oipviz explain``: attribution maps (saliency, SmoothGrad, IG, Grad-CAM, ...) of digits."""

from __future__ import annotations

import click

from oipviz.cli.params import (
    Finite,
    count,
    model_options,
    output_options,
    progress_sink,
    seed_option,
)
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
    help="MNIST .npz or IDX folder for --samples (and the sanity check's "
    "random-features model) [default: keras cache, else the offline subset].",
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
    type=count(1, 28),
    default=4,
    show_default=True,
    help="Occlusion: patch size in pixels.",
)
@click.option(
    "--stride",
    type=count(1, 28),
    default=2,
    show_default=True,
    help="Occlusion: patch stride in pixels.",
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
def command(
    model,
    images,
    samples,
    data,
    methods,
    target_spec,
    layer,
    sanity,
    smooth_samples,
    noise,
    ig_steps,
    baseline,
    patch,
    stride,
    occlusion_value,
    precision,
    seed,
    out,
    force,
    quiet,
) -> None:
    """Which pixels of IMAGES (or real digits) make the model predict what it predicts.

    \b
    Writes OUT/explain.png (per input: the digit with the prediction and its probability,
    then one heatmap per method drawn over the digit), maps_METHOD.npy (N×28×28, pixel
    units), inputs.npy, probs.npy and manifest.json; with --sanity also sanity.csv,
    sanity_cascade.csv, sanity.png and sanity_maps.png.

    \b
    The class score is the pre-softmax logit; gradients are taken with respect to the
    pixels in [0,1].  IMAGES of any size and colour become 28×28 MNIST-style digits
    (grayscale, inverted if the border is light, cropped to the ink, scaled to 20 px,
    centred by mass), as in 'oipviz activations'.
    """
    from pathlib import Path

    from oipviz.compute.attribution import method_names
    from oipviz.compute.attribution.explain import explain
    from oipviz.core.errors import OipvizError
    from oipviz.core.manifest import base_manifest
    from oipviz.core.outputs import OutputFolder

    names = method_names(",".join(methods))
    target = _parse_target(target_spec)
    if images and samples is not None:
        raise OipvizError("--samples picks real digits; it cannot be combined with IMAGES")
    if images and target == "true":
        raise OipvizError("--target true needs labels; image files have none (use --samples)")
    inputs = None
    if images:
        from oipviz.compute.activations import load_inputs

        inputs = load_inputs(list(images))  # bad files fail here
    default = f"explain_{Path(images[0]).stem}" if len(images) == 1 else "explain"
    with OutputFolder(out or default, "explain", force) as folder:
        if inputs is not None:
            import numpy as np

            x, labels, sources = np.stack([i.x01 for i in inputs]), None, [i.source for i in inputs]
            params = {"images": list(images)}
        else:
            from oipviz.data.sources import mnist_digits

            n = samples or 8
            x, labels, source = mnist_digits(n, seed=seed, path=data, split="test")
            sources = [f"{source} held-out digit #{i}" for i in range(len(x))]
            params = {"samples": n, "data_source": source, "split": "test"}
        loaded = model.load()
        params.update(
            methods=names, target=target_spec, layer=layer, sanity=sanity, precision=precision
        )
        total = len(x) * len(names)
        label = f"explain: {len(x)} input(s) × {len(names)} method(s)"
        with (
            progress_sink(quiet) as sink,
            click.progressbar(length=total, label=label, file=sink) as bar,
        ):

            def tick(stage: str, k: int, _total: int) -> None:
                if stage in names:
                    bar.update(k)

            res = explain(
                x,
                names,
                target,
                loaded,
                labels=labels,
                layer=layer,
                samples=smooth_samples,
                noise=noise,
                steps=ig_steps,
                baseline=baseline,
                patch=patch,
                stride=stride,
                occlusion_value=occlusion_value,
                seed=seed,
                sanity=sanity,
                progress=tick,
                sources=sources,
                data=data,
                precision=precision,
            )
        from oipviz.writers.explain import write_explain

        write_explain(folder, res, base_manifest("explain", loaded, params, seed))
        folder.commit()
    _report(res, quiet)
    click.echo(f"wrote {folder.shown}/ (explain.png{', sanity.png' if sanity else ''})")


def _report(res, quiet: bool) -> None:
    """A few lines: predictions, IG completeness, the sanity verdicts."""
    if quiet:
        return
    for i in range(min(len(res.images), 16)):
        lab = "" if res.labels is None else f" (label {int(res.labels[i])})"
        click.echo(
            f"{i:2d} {res.sources[i]}{lab}: predicted {int(res.predicted[i])} "
            f"({res.probability[i]:.1%}), target {res.targets[i]}"
        )
    if "ig" in res.methods:
        err = res.attributions["ig"].extras["completeness_error"]
        click.echo(
            f"Integrated Gradients: largest |completeness error| {abs(err).max():.3g} "
            "(sum of the map minus f(x) - f(baseline), in logits)"
        )
    if res.sanity is not None:
        for r in res.sanity.table():
            if "verdict" in r:
                click.echo(
                    f"sanity {r['method']:10s} Spearman {r['spearman_random']:+.2f} "
                    f"SSIM {r['ssim_random']:.2f} vs all-random; deletion AUC "
                    f"{r['deletion_auc']:.3f}, insertion AUC {r['insertion_auc']:.3f}: "
                    f"{r['verdict']}"
                )
