"""The gallery's composed extras: Grad-CAM strips of each map's top digits, the
misclassified digits under every attribution method (``misclassified.html``) and the first
layer's weights (``weights.html``); the feature space (``feature_space.html``) is
:mod:`.spacepage`'s.  Each part is computed by its own module (:mod:`oipviz.compute.attribution`,
:mod:`oipviz.compute.space`) and written as a finished item: its page is written last, and a
resumed run skips a part whose page exists.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oipviz.core.layers import folder_name
from oipviz.core.outputs import save_image
from oipviz.data.userdata import is_data_path
from oipviz.gallery.spacepage import FEATURE_SPACE, figure_entry
from oipviz.render.panels import activation_overlay, tile_grid
from oipviz.writers.html import fmt, write_page

MAX_MISCLASSIFIED = 24
MISCLASSIFIED, WEIGHTS = "misclassified.html", "weights.html"


# ----------------------------------------------------------------------------- Grad-CAM strips


def gradcam_strips(root: Path, loaded, st, ks: list[int], save=save_image) -> dict:
    """Grad-CAM (predicted class) at the gallery's conv layer for the top-9 digits of the
    maps ``ks``, one call for all of them; writes ``<layer>/map_NNN/gradcam.png`` (through
    ``save(path, image, fast)``) and returns {k: figure entry for the map page}.  Not a
    conv layer: {}."""
    if not st.info.is_conv or not ks:
        return {}
    from oipviz.compute.attribution.explain import gradcam_maps

    s, layer = st.stats, st.info.name
    digits = np.concatenate([s.top_digits[st.maps[k]] for k in ks])
    maps, _, probs = gradcam_maps(loaded, digits.astype(np.float32), layer)
    n = len(s.top_digits[st.maps[ks[0]]])
    out = {}
    for j, k in enumerate(ks):
        m = st.maps[k]
        cam, p = maps[j * n : (j + 1) * n], probs[j * n : (j + 1) * n]
        peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
        norm = np.where(peak > 0, cam / np.where(peak > 0, peak, 1.0), 0.0)
        caps = [f"#{r + 1}: {int(q.argmax())} {q.max():.0%}" for r, q in enumerate(p)]
        grid = tile_grid(
            activation_overlay(s.top_digits[m], norm, 1.0), caps, cols=len(norm), scale=3
        )
        rel = f"map_{m:03d}/gradcam.png"
        (root / folder_name(layer) / rel).parent.mkdir(parents=True, exist_ok=True)
        save(root / folder_name(layer) / rel, grid, True)
        out[k] = {
            "src": rel,
            "size": grid.size,
            "caption": f"Grad-CAM at {layer} for the predicted class over the same "
            "top digits (#rank: predicted class and its probability; each "
            "map scaled to its own maximum; bright: the regions of the layer "
            "that raise the class logit).",
        }
    return out


# ----------------------------------------------------------------------------- misclassified


def write_misclassified(root: Path, loaded, st, site, seed: int = 0) -> bool:
    """``misclassified.html``: the model's misclassified held-out digits (the confusion
    matrix's; at most :data:`MAX_MISCLASSIFIED`) with every attribution method side by
    side (:func:`oipviz.compute.attribution.explain`, its writer's grid figure)."""
    from oipviz.compute.attribution.base import predict_probs
    from oipviz.compute.attribution.explain import explain
    from oipviz.data.inputs import real_images
    from oipviz.render.explain import grid_figure

    if (root / MISCLASSIFIED).exists():
        return False
    split_seed = int((loaded.card or {}).get("seed", 0))
    x01, labels, source = real_images(site.params["dataset"], None, split_seed, "test", loaded)
    probs = predict_probs(loaded, x01)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    shown = wrong[:MAX_MISCLASSIFIED]
    fig, rows = None, []
    if len(shown):
        layer = st.info.name if st.info.is_conv else None
        res = explain(
            x01[shown],
            "all",
            target="predicted",
            model=loaded,
            labels=labels[shown],
            layer=layer,
            seed=seed,
        )
        fig = grid_figure(res, rows=len(shown))
        (root / "explain").mkdir(exist_ok=True)
        save_image(root / "explain" / "misclassified.png", fig, fast=True)
        rows = [(int(i), int(labels[i]), int(pred[i]), f"{probs[i].max():.0%}") for i in shown]
    note = (
        f"{len(wrong)} of the {len(labels):,} held-out digits ({source}; the confusion "
        "matrix's) are misclassified"
        + (f"; the first {len(shown)} are shown" if len(shown) < len(wrong) else "")
        + ". Each row: the digit with the model's prediction, then one attribution map per "
        "method for the predicted (wrong) class: red/bright raises its logit, blue "
        "lowers it." + (f" Grad-CAM and Grad-CAM++ at {st.info.name}." if st.info.is_conv else "")
    )
    write_page(
        root / MISCLASSIFIED,
        "misclassified.html",
        root="",
        title=f"Misclassified digits: {site.model}",
        note=note,
        rows=rows,
        grid=None if fig is None else {"src": "explain/misclassified.png", "size": fig.size},
    )
    return True


# ----------------------------------------------------------------------------- weights


def write_weights(root: Path, loaded, site, samples: int = 5000) -> bool:
    """``weights.html``: the first conv layer's kernels (an MLP: the first Dense layer's
    28×28 templates) and the per-class mean images (:mod:`oipviz.compute.space.weights`).
    A model whose first layer with weights is not drawable gets no page."""
    from oipviz.compute.space.weights import weights
    from oipviz.core.errors import LayerError

    if (root / WEIGHTS).exists():
        return False
    convs = loaded.conv_layers()
    try:
        ds = site.params["dataset"]
        data = {"data": ds} if is_data_path(ds) else {"dataset": ds}
        res = weights(convs[0].name if convs else None, loaded, samples=samples, **data)
    except LayerError:
        return False
    d = root / "weights"
    d.mkdir(exist_ok=True)
    figs = [
        figure_entry(
            d,
            f"{res.kind}.png",
            res.sheet(),
            f"{res.layer}: {'class templates' if res.per_class else res.kind}, one "
            f"symmetric range ±{res.vmax:.3g} (blue < 0 < red)",
        ),
        figure_entry(
            d,
            "class_means.png",
            res.means_sheet(),
            f"mean image per class of {int(res.class_counts.sum()):,} real digits ({res.source})",
        ),
    ]
    corr = res.correlation()
    rows = (
        []
        if corr is None
        else [(c, fmt(corr[c, c]), int(corr[c].argmax())) for c in range(len(corr))]
    )
    note = f"The weights of {res.layer}, the model's first layer with weights, as pictures: " + (
        "one 28×28 template per unit."
        if res.kind == "templates"
        else "its kernels (rows: output maps, columns: input channels)."
    )
    write_page(
        root / WEIGHTS,
        "weights.html",
        root="",
        title=f"Weights of {res.layer}: {site.model}",
        note=note,
        figures=figs,
        rows=rows,
    )
    return True


def links(root: Path) -> list[tuple[str, str]]:
    """The index's links to the extra pages that exist."""
    return [
        (page, text)
        for page, text in (
            (FEATURE_SPACE, "feature space (embedding, clusters)"),
            (MISCLASSIFIED, "misclassified digits, every attribution method"),
            (WEIGHTS, "weight templates / kernels and class means"),
        )
        if (root / page).exists()
    ]


__all__ = ["gradcam_strips", "write_misclassified", "write_weights", "links"]
