"""The public Python API: plain functions, imported once by ``oipviz/__init__.py``.

``oipviz.compute.oip``, ``oipviz.compute.precursor``, ``oipviz.compute.rescue`` and
``oipviz.compute.dream`` are the functions; their modules (``oipviz.compute.oip`` …) are
loaded here *before* the package binds the names, so no later ``import oipviz.compute.oip``
can rebind them to the modules.
"""

from __future__ import annotations

from oipviz.compute.attribution.explain import explain
from oipviz.compute.dream import dream
from oipviz.compute.oip import oip
from oipviz.compute.precursor import precursor
from oipviz.compute.predict import predict
from oipviz.compute.rescue import rescue
from oipviz.compute.space.clusters import clusters
from oipviz.compute.space.embed import embed
from oipviz.compute.space.weights import weights
from oipviz.core.ascent import ascend
from oipviz.core.errors import OipvizError
from oipviz.core.loader import load_model
from oipviz.data.sources import load_dataset

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
]
