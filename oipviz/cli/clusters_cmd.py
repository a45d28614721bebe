"""``oipviz clusters``: MiniBatchKMeans over a range of K on pixels or a layer's
activations: elbow, silhouette, CPU time, centroids, cluster × class table, purity."""

from __future__ import annotations

from typing import Any

import click

from oipviz.cli.embed_cmd import digit_options, stage_echo, tag
from oipviz.cli.params import count, model_options, output_options, seed_option


@click.command("clusters")
@click.option(
    "--layer",
    default="pixels",
    show_default=True,
    help="'pixels' (no model needed) or any layer (see 'oipviz info').",
)
@click.option(
    "--k",
    "k_spec",
    default="5-40",
    show_default=True,
    help="K values: a range (5-40), a list (5,10,20) or one number; 2 <= K < samples.",
)
@click.option(
    "--show-k",
    type=count(2, 1000),
    default=None,
    help="The K shown in detail [default: the best mean silhouette].",
)
@digit_options(samples=5000, lo=3)
@seed_option("Random seed (0 to 2^31-1) of k-means and of the silhouette subset.")
@output_options("clusters_LAYER")
@model_options
def command(
    model, layer, k_spec, show_k, samples, mode, data, dataset, seed, out, force, quiet
) -> None:
    """Cluster real digits with MiniBatchKMeans for every K in --k.

    \b
    Writes elbow.png (inertia), silhouette.png (mean silhouette), cpu_time.png and
    scores.csv over K; for the shown K: centroids_K<K>.png (the centroids as 28×28
    images for pixels, else the real digit nearest to each centroid, with its cluster's
    majority class and share), contingency_K<K>.csv/.png (cluster × class counts),
    assignment.npy, centroids.npy and manifest.json.  Purity: the share of digits whose
    cluster's majority class is their own.
    """
    from oipviz.compute.space.clusters import check_ks, clusters, parse_k
    from oipviz.compute.space.inputs import PIXELS
    from oipviz.core.folders import OutputFolder
    from oipviz.core.manifest import base_manifest
    from oipviz.writers.features import write_clusters

    ks = parse_k(k_spec)
    check_ks(ks + ([show_k] if show_k else []), samples)
    where: dict[str, Any] = dict(samples=samples, mode=mode, data=data, dataset=dataset)
    params = dict(layer=layer, k=k_spec, show_k=show_k, **where)
    with OutputFolder(out or f"clusters_{tag(layer)}", "clusters", force) as folder:
        loaded = None if layer == PIXELS else model.load()
        res = clusters(
            layer, loaded, k=ks, seed=seed, show_k=show_k, progress=stage_echo(quiet), **where
        )
        man = (
            base_manifest("clusters", loaded, params, seed)
            if loaded
            else _pixels_manifest(params, seed)
        )
        write_clusters(folder, res, man)
        folder.commit()
    s = res.summary()
    for note in res.notes:
        click.echo(f"note: {note}")
    click.echo(
        f"{s['features']}, {s['samples']} digits, K {ks[0]}–{ks[-1]}: best mean "
        f"silhouette {s['best_silhouette']:.3f} at K={s['best_k_silhouette']}; "
        f"at K={s['show_k']} "
        f"purity {s['purity']:.3f}"
    )
    click.echo(f"wrote {folder.shown}/")


def _pixels_manifest(params: dict, seed: int) -> dict:
    """The manifest head of a run that loads no model."""
    import shlex
    import sys
    from datetime import datetime, timezone

    from oipviz.core.versions import package_versions

    command = " ".join(shlex.quote(a) for a in ["oipviz"] + sys.argv[1:])
    return {
        "kind": "clusters",
        "command": command,
        "parameters": params,
        "seed": seed,
        "model": None,
        "versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
