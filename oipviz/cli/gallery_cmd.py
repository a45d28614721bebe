"""``oipviz gallery``: a static HTML site of a layer's maps (OIPs, precursor, data)."""

from __future__ import annotations

import sys

import click

from oipviz.cli.options import choice, opt
from oipviz.cli.params import LR, ModelSpec, count, job_options
from oipviz.core.checks import parse_maps


def _probe(i: int):
    from oipviz.compute import rescue as R

    return (R.PROBE_INITS, R.PROBE_STEPS, R.PROBE_RANGE, R.PROBE_STYLE, R.PROBE_PLATEAU)[i]


def _wake():
    from oipviz.compute.precursor_settings import DEFAULT_WAKE

    return DEFAULT_WAKE


@click.command("gallery")
@opt(
    "--layer",
    None,
    None,
    "Layer(s) to show: a conv layer (its maps) or a Dense layer (its units), or a list "
    "(conv1,conv2,conv3) [default: the last conv layer; without conv layers the first Dense "
    "layer].",
)
@click.option(
    "--all-layers",
    is_flag=True,
    help="One site with every conv layer (every Dense layer without conv layers).",
)
@opt(
    "--maps",
    None,
    "all",
    "Subset of maps: index, list (1,3,9), range (0-15) or all (one layer only).",
    dest="map_spec",
)
@opt(
    "--inits",
    count(1, 4096),
    lambda: _probe(0),
    "Random multi-scale inits per map [default: 8, the rescue probe's].",
)
@opt(
    "--epochs",
    count(1),
    lambda: _probe(1),
    "Gradient-ascent steps per init [default: 300, the rescue probe's].",
)
@opt("--lr", LR, 0.02, "Step size: RMS of each step, in standardized pixels.")
@opt(
    "--plateau",
    click.FloatRange(0.0, 1.0),
    lambda: _probe(4),
    "Stop an init once its activation rose by less than this fraction over its last 50 "
    "steps (0, the default: every init takes every step).",
)
@choice(
    "--range",
    ["valid", "free"],
    lambda: _probe(2),
    "valid: every OIP is a real input (pixels in [0, 1]), drawn as exact pixels; free: the "
    "articles' unconstrained ascent, min-max scaled [default: valid, the rescue probe's].",
    dest="range_mode",
)
@choice(
    "--style",
    ["readable", "plain"],
    lambda: _probe(3),
    "readable: ±2 px jitter, 5% scale, 5° rotation, a gradient blur and a relative TV "
    "penalty; plain: none [default: readable, the rescue probe's].",
)
@choice(
    "--precursor",
    ["forward", "halving", "exhaustive", "off"],
    "forward",
    "Screen of the precursor run on maps no random init woke (off: skip it).",
    dest="precursor_screen",
)
@opt("--precursor-top", count(1, 10_000), 2, "Precursor patterns refined per dead map.")
@opt("--precursor-epochs", count(1), 200, "Refinement steps of each precursor pattern.")
@opt(
    "--wake",
    click.IntRange(0, 100_000),
    _wake,
    "Pre-activation steps for precursor candidates at zero (0: the articles') "
    "[default: 200, as 'precursor'].",
)
@opt(
    "--data",
    None,
    None,
    "Your images for the dataset statistics, top images, misclassified page and feature "
    "space: a folder with a subfolder per class, or an .npz (x, y) [default: the model's "
    "data set].",
    metavar="PATH",
)
@opt(
    "--data-limit", count(10), 5000, "Use at most this many real digits for the dataset statistics."
)
@opt(
    "--compare",
    None,
    None,
    "Another model (e.g. a random_features model) shown side by side.",
    dest="compare_path",
    metavar="MODEL",
)
@opt(
    "--explain/--no-explain",
    None,
    True,
    "Grad-CAM of each map's top digits (conv layers) and misclassified.html: the "
    "misclassified digits under every attribution method.",
    dest="explain",
)
@opt(
    "--feature-space/--no-feature-space",
    None,
    True,
    "feature_space.html: the layer's 2-D embedding with its kNN agreement and a k-means scan "
    "(with --compare: the other model's beside it).",
    dest="feature_space",
)
@choice(
    "--feature-method",
    ["tsne", "pca"],
    "tsne",
    "Embedding of the feature-space page (tsne: openTSNE).",
)
@opt("--feature-samples", count(100, 2000), 2000, "Real digits on the feature-space page.")
@job_options(
    "the (model, layer) jobs (OIPs and rescue of each layer)",
    "gallery_LAYER (gallery_conv1_conv2 for a list); gallery_all with --all-layers; "
    "gallery without --layer",
    resumable=True,
)
def command(model, out, force, quiet, resume, **o) -> None:
    """Build a static HTML gallery of a layer: open OUT/index.html in a browser.

    \b
    The index shows the model, its card and every map's optimal input pattern (OIP)
    with its status: live (a random init woke it), rescued (the precursor grid search
    did, as 'precursor --dead-only') or dead, how many in-range OIPs beat the best real
    digit and how many maps have a unique OIP.  Each map has a page with the OIPs of
    all inits, their in-range activation against the best real digit, their
    similarity across inits, the precursor result where random inits failed (free
    range), the 9 real digits that excite it most, a histogram of its activation over
    the data and its class selectivity.  A map's activation is the spatial mean of its
    output; a Dense layer's units are shown the same way.  Also linked from the index:
    misclassified.html (every attribution method on the misclassified digits; Grad-CAM
    strips on the map pages), feature_space.html (embedding, kNN agreement, k-means)
    and weights.html (the first layer's kernels or templates, the class means).

    \b
    Ctrl-C keeps what is finished and a valid index; --resume computes only what is
    missing (same settings, same seed: the same images).  No network, no JavaScript.
    Each (model, layer) is one job: with --executor ray they run in parallel on a Ray
    cluster and give the same images as a local run.
    """
    from oipviz.cli.run import StageBars, already_complete, result
    from oipviz.core.folders import OutputFolder

    req = _request(o)
    identity = {"parameters": req["params"], "seed": o["seed"], "model": model.identity()}
    if o["compare_path"]:
        identity["compare"] = ModelSpec(o["compare_path"], None, model.unsafe).identity()
    bars = StageBars(quiet)
    try:
        with OutputFolder(out or req["target"], "gallery", force, resume, True, identity) as folder:
            if already_complete(folder):
                return
            res = _run(folder, model, req, o, bars)
            folder.commit()
    finally:
        bars.close()
    for line in summary(res, req["params"]["range"]):
        result(line)
    result(f"wrote {res.pages_written} map page(s); open {folder.shown}/index.html")


def _request(o: dict) -> dict:
    """The checked request (before anything loads): layers, maps, settings, parameters."""
    from oipviz.compute.executors import check_executor
    from oipviz.compute.layerjobs import layer_list
    from oipviz.compute.precursor_settings import PrecursorSettings
    from oipviz.core.errors import LayerError
    from oipviz.gallery.site import PRECURSOR_DEFAULTS, GallerySettings

    if o["all_layers"] and o["layer"]:
        raise LayerError("give --layer or --all-layers, not both")
    names = layer_list(o["layer"])
    check_executor(o["executor_name"], o["address"], "exhaustive", 1, 1)
    whole = o["map_spec"].strip().lower() == "all"
    if not whole:
        if o["all_layers"] or len(names) > 1:
            raise LayerError("--maps needs a single --layer")
        parse_maps(o["map_spec"], sys.maxsize)  # syntax now, range once loaded
    precursor = None if o["precursor_screen"] == "off" else dict(
        PRECURSOR_DEFAULTS, screen=o["precursor_screen"], top=o["precursor_top"],
        steps=o["precursor_epochs"], wake=o["wake"],
    )  # fmt: skip
    if precursor:
        PrecursorSettings.checked(**dict(precursor, lr=o["lr"]))
    settings = GallerySettings.from_options(
        inits=o["inits"], steps=o["epochs"], lr=o["lr"], range_mode=o["range_mode"],
        style=o["style"], seed=o["seed"], precision=o["precision"], plateau=o["plateau"],
        precursor=precursor, data=o["data"], data_limit=o["data_limit"], explain=o["explain"],
        feature_space=o["feature_space"], feature_method=o["feature_method"],
        feature_samples=o["feature_samples"],
    )  # fmt: skip
    params = dict(
        layer=o["layer"], all_layers=o["all_layers"], maps=o["map_spec"].strip().lower(),
        inits=o["inits"], epochs=o["epochs"], lr=o["lr"], range=o["range_mode"],
        style=o["style"], precursor=precursor, data=o["data"], data_limit=o["data_limit"],
        compare=o["compare_path"], explain=o["explain"], feature_space=o["feature_space"],
        feature_method=o["feature_method"], feature_samples=o["feature_samples"],
        precision=o["precision"], plateau=o["plateau"],
    )  # fmt: skip
    target = (
        "gallery_all" if o["all_layers"] else "gallery_" + "_".join(names) if names else "gallery"
    )
    return dict(names=names, whole=whole, settings=settings, params=params, target=target)


def _run(folder, model, req: dict, o: dict, bars):
    """Load the model(s), check the layer and maps, build the site (the folder is open)
    with the (model, layer) jobs on the chosen executor."""
    from oipviz.compute.executors import executor
    from oipviz.compute.layerjobs import check_compare, gallery_layers
    from oipviz.core.folders import check_free_space
    from oipviz.core.manifest import base_manifest
    from oipviz.data.inputs import check_fits, dataset_of
    from oipviz.gallery.site import build_gallery, site_bytes

    loaded = model.load()
    layers = gallery_layers(loaded, o["layer"], o["all_layers"])
    maps = None
    if not req["whole"]:
        maps = {layers[0]: parse_maps(o["map_spec"], loaded.layer(layers[0]).units)}
    check_fits(loaded, dataset_of(loaded, o["data"]))  # before the work, not at its end
    n_maps = sum(len(maps[n]) if maps else loaded.layer(n).units for n in layers)
    check_free_space(folder, site_bytes(loaded.geometry, n_maps))
    other = ModelSpec(o["compare_path"], None, model.unsafe).load() if o["compare_path"] else None
    if other is not None:
        check_compare(other, layers)
    base = base_manifest("gallery", loaded, req["params"], o["seed"])
    with executor(o["executor_name"], loaded, o["address"], cpus_per_task=o["cpus_per_task"],
                  unsafe=model.unsafe) as ex:  # fmt: skip
        base["executor"] = {"name": ex.name, "workers": ex.workers, "cores": ex.cores}
        folder.write_manifest(base, complete=False)
        return build_gallery(folder, loaded, layers, maps, req["settings"], compare=other,
                             progress=bars, manifest=base, executor=ex)  # fmt: skip


def summary(res, range_mode: str) -> list[str]:
    """The result lines: counts per layer, how the in-range OIPs compare, the times."""
    lines = []
    for name, c in res.counts.items():
        lines.append(f"{name}: {c['live']} live, {c['rescued']} rescued, {c['dead']} dead")
        st = res.layers[name]
        s, what = st.measures.summary(), "map" if st.info.is_conv else "unit"
        lines.append(
            f"{name}: {range_mode} range; the OIP beats the best real digit on "
            f"{s['beats_best_real']} of {s['live']} live {what}s ({s['counted_on']}); "
            f"{s['unique']} unique, {s['several_forms']} several forms"
        )
    lines.append("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.seconds.items()))
    return lines
