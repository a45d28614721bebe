"""Galleries: static HTML folders, viewable offline (relative links, no JavaScript).

* :func:`build_gallery` (``oipviz gallery``): a site of a conv layer's maps: OIPs from
  several inits, the precursor where random inits fail, the top real digits with the
  map's activation overlaid, activation histogram and class selectivity; resumable.
* :func:`activation_gallery` (``oipviz activations``): every conv layer's activation
  maps for some inputs; :func:`mnist_style` turns any picture of a digit into a 28×28
  MNIST-style input.

TensorFlow is imported only when a gallery is built.
"""
from __future__ import annotations

import importlib

_API = {
    "build_gallery": "site",
    "gallery_layers": "site",
    "GalleryResult": "site",
    "dataset_activations": "site",
    "selectivity": "site",
    "PRECURSOR_DEFAULTS": "site",
    "activation_gallery": "activations",
    "mnist_style": "activations",
    "load_inputs": "activations",
    "dataset_inputs": "activations",
}
__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'oipviz.gallery' has no attribute {name!r}")
