"""Galleries: static HTML folders, viewable offline (relative links, no JavaScript).

* :func:`build_gallery` (``oipviz gallery``): a site of a layer's maps (or Dense units)
  composed from results: OIPs (:func:`oipviz.oip`), the rescue of the maps random inits
  miss (:func:`oipviz.rescue`) and dataset statistics (:func:`dataset_stats`); resumable.
* :func:`activations` / :func:`write_activations` (``oipviz activations``): every layer's
  activations for some inputs; :func:`mnist_style` turns any picture of a digit into a
  28×28 MNIST-style input.

TensorFlow is imported only when something is computed.
"""
from __future__ import annotations

import importlib

_API = {
    "build_gallery": "site",
    "gallery_layers": "work",
    "GalleryResult": "site",
    "PRECURSOR_DEFAULTS": "site",
    "dataset_stats": "stats",
    "DatasetStats": "stats",
    "LayerStats": "stats",
    "selectivity": "stats",
    "activations": "activations",
    "write_activations": "activations",
    "ActivationResult": "activations",
    "mnist_style": "inputs",
    "load_inputs": "inputs",
    "dataset_inputs": "inputs",
}
__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'oipviz.gallery' has no attribute {name!r}")
