"""oipviz: see what the maps of a Keras CNN respond to, explain its decisions, dream with it.

Python API (TensorFlow is imported on first use)::

    import oipviz
    model = oipviz.load_model()                      # the bundled seed CNN
    run = oipviz.oip("conv3", 46, model)              # OIPs of one map (or maps=None: all)
    res = oipviz.precursor("conv3", 46, model)        # grid search for hard maps
    tab = oipviz.rescue("conv3", model=model)         # random inits, precursor on the dead
    out = oipviz.dream(photo_array, map=56, iters=4)  # DeepDream on an image array
    res = oipviz.explain(digits, methods="all")       # attribution maps (saliency, IG, Grad-CAM…)
    pred = oipviz.predict(digits)                     # probabilities + every layer's activations
    emb = oipviz.embed("dense1", compare="random_features")  # t-SNE + kNN class agreement
    km = oipviz.clusters("pixels", k="5-40")          # k-means scan: elbow, silhouette, purity
    w = oipviz.weights(model="linear.keras")          # templates / kernels as pictures
    tracker = oipviz.callbacks.Tracker({"conv3": range(16)}, out="track")  # model.fit(...,
                                                      #   callbacks=[tracker]): a timeline

The functions live in :mod:`oipviz.api`; the layers below it are :mod:`oipviz.core`
(model, engine, output layer), :mod:`oipviz.data`, :mod:`oipviz.compute` (compute
functions returning results) and :mod:`oipviz.writers` / :mod:`oipviz.gallery` /
:mod:`oipviz.timeline` (files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oipviz.core.versions import VERSION as __version__  # noqa: F401  (the package version)

__all__ = [
    "load_model",
    "load_dataset",
    "ascend",
    "oip",
    "precursor",
    "rescue",
    "dream",
    "explain",
    "predict",
    "embed",
    "clusters",
    "weights",
    "OipvizError",
    "objectives",
    "transforms",
]

if TYPE_CHECKING:
    from oipviz.api import (
        OipvizError,
        ascend,
        clusters,
        dream,
        embed,
        explain,
        load_dataset,
        load_model,
        oip,
        precursor,
        predict,
        rescue,
        weights,
    )
    from oipviz.core import objectives, transforms


def __getattr__(name: str) -> object:
    """The API is loaded on first use, so ``import oipviz.core.errors`` (or ``oipviz
    --help``) does not load every feature."""
    import importlib

    if name in ("objectives", "transforms"):
        return importlib.import_module(f"oipviz.core.{name}")
    if name == "callbacks":  # Keras callbacks: imports TensorFlow, which ``import oipviz`` does not
        return importlib.import_module("oipviz.callbacks")
    if name in __all__:
        return getattr(importlib.import_module("oipviz.api"), name)
    raise AttributeError(f"module 'oipviz' has no attribute {name!r}")
