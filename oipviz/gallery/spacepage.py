"""The gallery's ``feature_space.html``: per layer the 2-D embedding (kNN agreement) and
the k-means scan of :func:`oipviz.compute.space.space.feature_space`.  Computed by
:func:`feature_spaces` (which the site runs beside its map pages), written by
:func:`write_feature_space`."""

from __future__ import annotations

from pathlib import Path

from oipviz.core.beside import Beside
from oipviz.core.layers import folder_name
from oipviz.core.outputs import save_image
from oipviz.data.userdata import is_data_path
from oipviz.gallery.settings import FeatureSpaceSettings
from oipviz.writers.html import fmt, write_page

FEATURE_KS = [6, 8, 10, 12, 15]  # MiniBatchKMeans: a small K range
FEATURE_SPACE = "feature_space.html"


def feature_spaces(
    loaded, names: list[str], site, settings: FeatureSpaceSettings, *, compare=None, seed: int = 0,
    progress=None,
) -> dict:  # fmt: skip
    """Compute the feature-space page's results (:func:`oipviz.compute.space.space.feature_space`
    with the page's K range); no files.

    Parameters
    ----------
    loaded, names, site
        The model, the layers, the SiteInfo (its dataset).
    settings : FeatureSpaceSettings
        The embedding method and the number of digits.
    compare : LoadedModel or None
        Its feature space of the same-named layer too.
    seed : int
        Of the embedding and k-means.
    progress : Stages, False or None
        Progress of the embeddings.

    Returns
    -------
    dict
        {layer: (FeatureSpace, the compare model's FeatureSpace or None)}.
    """
    from oipviz.compute.space.space import feature_space

    ds = site.params["dataset"]
    run = dict(samples=settings.samples, method=settings.method, seed=seed, progress=progress)
    run.update({"data": ds} if is_data_path(ds) else {"dataset": ds})
    return {
        name: (
            feature_space(name, loaded, k=FEATURE_KS, **run),
            None if compare is None else feature_space(name, compare, k=FEATURE_KS, **run),
        )
        for name in names
    }


def start(
    root: Path, loaded, states: list, site, settings: FeatureSpaceSettings | None, *,
    compare=None, seed: int = 0,
) -> Beside | None:  # fmt: skip
    """:func:`feature_spaces` started on a thread of its own (its t-SNE and k-means release
    the GIL: they use the core a site's drawing thread leaves idle), silently; ``stop()``
    ends it at its next progress report.

    Parameters
    ----------
    root, loaded, states, site, settings, compare, seed
        As in :func:`write_feature_space`.

    Returns
    -------
    Beside or None
        The running computation; None without a feature-space page or when it exists.
    """
    if settings is None or (root / FEATURE_SPACE).exists():
        return None
    names = [st.info.name for st in states]
    return Beside(  # its progress only lets a Ctrl-C stop it
        feature_spaces, loaded, names, site, settings, compare=compare, seed=seed, progress=True
    )


def finish(
    job: Beside | None, root: Path, loaded, states: list, site, settings: FeatureSpaceSettings,
    stages, compare=None, seed: int = 0,
) -> float | None:  # fmt: skip
    """Wait for :func:`start`'s computation (None: compute now), then write the page.

    Parameters
    ----------
    job : Beside or None
        What :func:`start` returned.
    root, loaded, states, site, settings, compare, seed
        As in :func:`write_feature_space`.
    stages : Stages
        Progress.

    Returns
    -------
    float or None
        The wall seconds of ``job``'s computation (None without one).
    """
    spaces = None
    if job is not None:
        stages("feature space", 0, 1)
        spaces = job.result()
        stages("feature space", 1, 1)
    write_feature_space(
        root, loaded, states, site, settings,
        compare=compare, seed=seed, progress=stages, spaces=spaces,
    )  # fmt: skip
    return None if job is None else job.seconds


def write_feature_space(
    root: Path,
    loaded,
    states: list,
    site,
    settings: FeatureSpaceSettings,
    *,
    compare=None,
    seed: int = 0,
    progress=None,
    spaces: dict | None = None,
) -> bool:
    """``feature_space.html``: per layer the embedding (kNN agreement) and the k-means
    sheet and scores of :func:`feature_spaces`.

    Parameters
    ----------
    root, loaded, states, site
        The site's root folder, the model, the layers (LayerState), the SiteInfo.
    settings : FeatureSpaceSettings
        The embedding method and the number of digits.
    compare : LoadedModel or None
        Its embedding of the same-named layer is shown beside.
    seed : int
        Of the embedding and k-means.
    progress : Stages or None
        Progress of the embeddings.
    spaces : dict or None
        :func:`feature_spaces`' results, computed already (None: computed here).

    Returns
    -------
    bool
        False if the page existed (a resumed run).
    """
    if (root / FEATURE_SPACE).exists():
        return False
    names = [st.info.name for st in states]
    if spaces is None:
        spaces = feature_spaces(
            loaded, names, site, settings, compare=compare, seed=seed, progress=progress
        )
    d = root / "feature_space"
    d.mkdir(exist_ok=True)
    sections = [
        _feature_section(d, name, site, compare, settings.method, *spaces[name]) for name in names
    ]
    n = sections[0]["rows"][0][2] if sections else 0
    how = "t-SNE (openTSNE)" if settings.method == "tsne" else settings.method.upper()
    note = (
        f"{n:,} real digits (held-out first) as each layer sees them (conv maps pooled over "
        f"space), embedded in 2-D with {how}, seed {seed}. kNN agreement: the share of each "
        "digit's nearest neighbours with its class, in the 2-D map and in the layer's "
        "feature space."
    )
    write_page(
        root / FEATURE_SPACE,
        "feature_space.html",
        root="",
        title=f"Feature space: {site.model}",
        note=note,
        sections=sections,
    )
    return True


def _feature_section(d: Path, name: str, site, compare, method: str, fs, other) -> dict:
    """One layer's section of ``feature_space.html`` (its figures written into ``d``)."""
    from oipviz.render.plots import contingency

    km, sm = fs.clusters, fs.summary()
    figs = [
        figure_entry(
            d,
            f"{folder_name(name)}_embedding.png",
            fs.embedding.figure(),
            f"{site.model}: {name} ({method}), coloured by true class",
        )
    ]
    rows = [_space_row(site.model, sm)]
    if other is not None:
        figs.append(
            figure_entry(
                d,
                f"{folder_name(name)}_compare_embedding.png",
                other.embedding.figure(),
                f"{compare.name}: its layer {name} ({method})",
            )
        )
        rows.append(_space_row(compare.name, other.summary()))
    k = km.show_k
    clusters = [
        figure_entry(
            d,
            f"{folder_name(name)}_clusters.png",
            km.sheet(),
            f"K={k}: the digit nearest each centroid, its cluster's majority class and share",
        ),
        figure_entry(
            d,
            f"{folder_name(name)}_contingency.png",
            contingency(km.contingency, f"K={k}: cluster × class (purity {km.purity:.3f})"),
            "cluster × true class counts",
        ),
    ]
    scan = [
        (r["k"], fmt(r["inertia"]), fmt(r["silhouette"]), fmt(r["cpu_seconds"])) for r in km.rows()
    ]
    return {
        "name": name,
        "figures": figs,
        "rows": rows,
        "clusters": clusters,
        "scan": scan,
        "line": f"k-means (MiniBatchKMeans) over K = "
        f"{', '.join(map(str, km.ks))}: best silhouette at K = "
        f"{sm['best_k_silhouette']} ({fmt(sm['best_silhouette'])}); "
        f"shown K = {k}, purity {fmt(sm['purity'])}.",
    }


def _space_row(model: str, sm: dict) -> tuple:
    """A model's row of the section's table."""
    return (
        model,
        sm["features"],
        sm["samples"],
        fmt(sm["knn_agreement_2d"]),
        fmt(sm["knn_agreement_features"]),
    )


def figure_entry(d: Path, name: str, img, caption: str) -> dict:
    """Save picture ``img`` as ``d/name`` and return a page's figure entry (src, size,
    caption; ``src`` relative to the site's root)."""
    save_image(d / name, img, fast=True)
    return {"src": f"{d.name}/{name}", "size": img.size, "caption": caption}
