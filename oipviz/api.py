"""The public Python API: plain functions, imported once by ``oipviz/__init__.py``.

``oipviz.oip``, ``oipviz.precursor``, ``oipviz.rescue`` and ``oipviz.dream`` are the
functions; their modules (``oipviz.oip`` …) are loaded here *before* the package binds
the names, so no later ``import oipviz.oip`` can rebind them to the modules.
"""
from __future__ import annotations

from .ascent import ascend
from .attribution.explain import explain
from .data import load_dataset
from .dream import dream
from .errors import OipvizError
from .features.clusters import clusters
from .features.embed import embed
from .features.weights import weights
from .loader import load_model
from .oip import oip
from .precursor import precursor
from .rescue import rescue

__all__ = ["load_model", "load_dataset", "ascend", "oip", "precursor", "rescue", "dream",
           "explain", "embed", "clusters", "weights", "OipvizError"]
