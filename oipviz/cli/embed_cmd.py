"""``oipviz embed``: a 2-D map (t-SNE, PCA, UMAP) of real digits as a layer sees them,
with the kNN class-agreement score; ``--compare`` sets a random-weight net beside it."""

from __future__ import annotations

import click

from oipviz.cli.options import choice, opt, stack
from oipviz.cli.params import Finite, count, model_options, output_options, seed_option
from oipviz.compute.space.inputs import MODES
from oipviz.compute.space.project import METHODS


def data_options(f):
    """--data and --dataset: where the digits of the feature commands come from."""
    return stack(
        opt(
            "--data",
            click.Path(exists=True),
            None,
            "Your images (a folder with a subfolder per class, or an .npz with x, y), or an "
            "MNIST-layout .npz or IDX folder [default: the first source of --dataset that "
            "works, e.g. the offline MNIST subset].",
        ),
        choice(
            "--dataset",
            ["mnist", "fashion_mnist", "shapes"],
            None,
            "The data set of the digits [default: the model's (its card), else mnist].",
        ),
    )(f)


def digit_options(samples: int, lo: int):
    """--samples, --mode, --data, --dataset: which digits, and how conv outputs become vectors."""
    return stack(
        opt("--samples", count(lo, 70_000), samples, "Real digits (held-out ones first)."),
        choice(
            "--mode",
            MODES,
            "pool",
            "Conv layers: average each map over space (pool) or flatten (flat).",
        ),
        data_options,
    )


def stage_echo(quiet: bool):
    """A progress callable(stage, n, total) printing each new stage once (or nothing)."""
    seen = set()

    def report(stage: str, n: int, total: int) -> None:
        if not quiet and stage not in seen:
            seen.add(stage)
            click.echo(f"{stage} …", err=True)

    return report


def tag(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


@click.command("embed")
@opt("--layer", None, "dense1", "Any layer (see 'oipviz info'), or 'pixels' for the raw images.")
@choice(
    "--method", METHODS, "tsne", "tsne (openTSNE), pca (scikit-learn) or umap (needs umap-learn)."
)
@opt(
    "--perplexity",
    Finite(1.0, 1000.0),
    30.0,
    "t-SNE perplexity (needs at least 3×perplexity+1 samples).",
)
@opt("--k", count(1, 1000), 10, "Neighbours for the kNN class-agreement score.", dest="k")
@click.option(
    "--compare",
    is_flag=False,
    flag_value="random_features",
    default=None,
    metavar="[MODEL]",
    help="Add a second model's panel and a raw-pixels panel.  Alone: the zoo's "
    "random_features net (frozen random convs seeded with --seed, Dense head "
    "trained for 2 epochs here); or a .keras/.h5 path.",
)
@opt(
    "--compare-layer",
    None,
    None,
    "The second model's layer [default: same name, else its last hidden layer].",
)
@opt(
    "--jobs",
    count(1, 256),
    None,
    "t-SNE threads [default: 1 below 10,000 samples (Barnes-Hut), else all cores (FFT)].",
)
@digit_options(samples=2000, lo=2)
@seed_option("Random seed (0 to 2^31-1) of the embedding (and of a random_features net).")
@output_options("embed_LAYER")
@model_options
def command(model, out, force, quiet, **o) -> None:
    """Embed real digits as LAYER sees them; colour by class, ring the misclassified.

    \b
    Writes embedding.png (one scatter per panel), index.html (hover a point to see the
    digit; no network needed), coords.npy, labels.npy, scores.csv and manifest.json.
    The kNN class agreement is the mean share of each digit's k nearest neighbours with
    its class, in the 2-D map and in the layer's own feature space: compare layers or
    models by it.
    """
    from pathlib import Path

    from oipviz.api import embed
    from oipviz.cli.run import note, result
    from oipviz.compute.space import project
    from oipviz.core.errors import ModelError
    from oipviz.core.folders import OutputFolder
    from oipviz.core.manifest import base_manifest
    from oipviz.models.random import RANDOM_FEATURES
    from oipviz.writers.features import write_embed

    project.check_method(o["method"])
    project.check_sizes(o["samples"], o["method"], o["perplexity"], o["k"])
    compare = o["compare"]
    if compare not in (None, RANDOM_FEATURES) and not Path(compare).is_file():
        raise ModelError(f"--compare: model file {compare} not found")
    name = f"embed_{tag(o['layer'])}" + (f"_vs_{tag(Path(compare).stem)}" if compare else "")
    params = dict(o)
    params.pop("seed")
    if compare not in (None, RANDOM_FEATURES):
        from oipviz.core.versions import file_sha256

        params["compare_sha256"] = file_sha256(compare)
    with OutputFolder(out or name, "embed", force) as folder:
        loaded = model.load()
        res = embed(
            o["layer"], loaded, samples=o["samples"], method=o["method"], mode=o["mode"],
            seed=o["seed"], perplexity=o["perplexity"], k=o["k"], compare=compare,
            compare_layer=o["compare_layer"], data=o["data"], dataset=o["dataset"],
            n_jobs=o["jobs"], progress=stage_echo(quiet),
        )  # fmt: skip
        write_embed(folder, res, base_manifest("embed", loaded, params, o["seed"]))
        folder.commit()
    for line in res.notes:
        note(f"note: {line}")
    for s in res.summary():
        acc = "" if s["accuracy"] is None else f", {s['misclassified']} misclassified"
        result(
            f"{s['panel']}: kNN agreement {s['knn_agreement_2d']:.3f} in 2-D, "
            f"{s['knn_agreement_features']:.3f} in {s['dims']}-D{acc}"
        )
    result(f"wrote {folder.shown}/ ({len(res.digits)} digits); open index.html")
