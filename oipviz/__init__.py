"""oipviz: see what the maps of a Keras MNIST CNN respond to, and dream with them.

Python API (TensorFlow is imported on first use)::

    import oipviz
    model = oipviz.load_model()                      # the bundled seed CNN
    run = oipviz.oip("conv3", 46, model)              # OIPs of one map (or maps=None: all)
    res = oipviz.precursor("conv3", 46, model)        # grid search for hard maps
    out = oipviz.dream(photo_array, map=56, iters=4)  # DeepDream on an image array
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "load_model": "loader",
    "load_dataset": "data",
    "ascend": "ascent",
    "oip": "oip",
    "precursor": "precursor",
    "dream": "dream",
    "OipvizError": "errors",
}
__all__ = list(_API) + ["objectives", "render", "inits"]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    if name in ("objectives", "render", "inits"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'oipviz' has no attribute {name!r}")
