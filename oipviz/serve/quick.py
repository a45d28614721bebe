"""The short calls of the explorer (run on the TensorFlow thread through
:meth:`~oipviz.serve.jobs.Worker.call`): the served models, predict and explain payloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

import oipviz
from oipviz.compute.datastats import DatasetStats
from oipviz.core.errors import OipvizError
from oipviz.serve.encode import finite, json_bytes, map_stack, png_url, rounded
from oipviz.serve.inputs import Prepared, input_geometry, mnist_like
from oipviz.serve.jobs import Job

if TYPE_CHECKING:
    from oipviz.core.loader import LoadedModel

#: attribution methods the page draws over the input
PAGE_METHODS = ("saliency", "gradcam")
TOP_MAPS = 5  # the most active maps marked per layer


@dataclass
class Served:
    """A model the server serves (``main`` or ``compare``) and what it computed once."""

    role: str
    loaded: LoadedModel
    sha256: str
    stats: DatasetStats | None = None  # over the real digits, once computed
    stats_error: str | None = None
    stats_job: Job | None = None  # the job computing them

    @property
    def name(self) -> str:
        return self.loaded.name

    def info(self) -> dict:
        """What ``GET /api/model`` says about this model."""
        lm = self.loaded
        h, w, c = input_geometry(lm)
        return {
            "role": self.role,
            "name": lm.name,
            "path": str(lm.path),
            "sha256": self.sha256,
            "input": {
                "height": h,
                "width": w,
                "channels": c,
                "geometry": lm.geometry.describe(),
                "convention": lm.convention.as_dict(),
                "convention_text": lm.convention.describe(),
                "mnist_style": mnist_like((h, w, c)),
            },
            "methods": page_methods(lm),
            "classes": int(lm.layers[-1].shape[-1]),
            "layers": [_layer_info(i) for i in lm.layers],
            "card": lm.card,
        }


def page_methods(loaded) -> list[str]:
    """The attribution methods the page draws that apply to ``loaded`` (Grad-CAM needs a
    conv layer)."""
    from oipviz.compute.attribution.explain import applicable

    return applicable(loaded, list(PAGE_METHODS))[0]


def _layer_info(i) -> dict:
    kind = "conv" if i.is_conv else ("dense" if i.units is not None else None)
    return {
        "name": i.name,
        "type": i.type,
        "shape": [None if d is None else int(d) for d in i.shape[1:]],
        "kind": kind,
        "maps": i.units if kind == "conv" else None,
        "units": i.units if kind == "dense" else None,
    }


def predict_payload(served: Served, prep: Prepared, maps: bool) -> bytes:
    """``POST /api/predict``: probabilities, the class, the input and every layer's
    activation summary (with ``maps``: the activation maps themselves, quantized)."""
    pred = oipviz.predict(prep.x01[None], served.loaded)
    probs = pred.probabilities[0]
    layers = []
    for name in pred.layers:
        a = pred.activations[name][0]
        means, maxes = pred.map_means(name)[0], pred.map_maxes(name)[0]
        order = np.argsort(-means, kind="stable")[:TOP_MAPS]
        entry: dict[str, Any] = {
            "name": name,
            "kind": "conv" if a.ndim == 3 else "dense",
            "shape": list(a.shape),
            "mean": rounded(means),
            "max": rounded(maxes),
            "top": [int(m) for m in order],
            "silent": int((maxes <= 0).sum()),
        }
        if maps and a.ndim == 3:
            entry["maps"] = map_stack(a)
        layers.append(entry)
    return json_bytes(
        {
            "model": served.role,
            "predicted": int(pred.predicted[0]),
            "probability": finite(probs.max()),
            "probabilities": rounded(probs, 5),
            "input": dict(
                prep.describe(),
                pixels=rounded(_gray(prep.x01), 3),
                image=png_url(prep.x01) if prep.x01.shape[-1] == 3 else None,
            ),
            "notes": pred.notes,
            "layers": layers,
        }
    )


def _gray(x01: np.ndarray) -> np.ndarray:
    """(H, W) of a (H, W, C) input: the plane itself, or the luminance of the colours."""
    from oipviz.core.pixels import LUMA

    return x01[..., 0] if x01.shape[-1] == 1 else x01 @ LUMA


def explain_payload(served: Served, prep: Prepared, methods: list[str], target) -> bytes:
    """``POST /api/explain``: one (H, W) attribution map per method for the input."""
    res = oipviz.explain(prep.x01[None], methods, target, served.loaded)
    out = {}
    for m in res.methods:
        a = res.attributions[m].maps[0]
        peak = float(np.abs(a).max())
        out[m] = {
            "signed": bool(a.min() < 0),
            "max_abs": peak,
            "values": rounded(a / peak if peak > 0 else a, 3),
            "note": "values divided by max_abs",
        }
    return json_bytes(
        {
            "model": served.role,
            "target": res.targets[0],
            "target_mode": res.target_mode,
            "predicted": int(res.predicted[0]),
            "probabilities": rounded(res.probs[0], 5),
            "input": prep.describe(),
            "methods": out,
            "notes": res.notes,
        }
    )


def activation_of(served: Served, x01: np.ndarray, layer: str, m: int) -> float:
    """The spatial mean of map (or unit) ``m`` of ``layer`` for one image in [0, 1]."""
    pred = oipviz.predict(x01[None], served.loaded, layers=[layer])
    return float(pred.map_means(pred.layers[0])[0, m])


def check_map(served: Served, layer: str, m: int) -> tuple[str, int]:
    """The layer's own name and the map, checked (one-line LayerError otherwise)."""
    info = served.loaded.unit_layer(layer)
    served.loaded.check_maps(info.name, [m])
    return info.name, int(m)


def parse_methods(text) -> list[str]:
    """``saliency,gradcam`` or a list; checked against oipviz's methods."""
    from oipviz.compute.attribution import method_names

    if text is None:
        return list(PAGE_METHODS)
    items = text if isinstance(text, list) else str(text).split(",")
    if not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise OipvizError('"method" must be a method name or a comma-separated list')
    return method_names([v.strip() for v in items])


def map_data(served: Served, layer: str, m: int) -> dict | None:
    """The top-9 real digits of map ``m`` and its class selectivity (from the dataset
    statistics), or None while they are not computed."""
    stats = served.stats
    if stats is None:
        return None
    s = stats.layers[layer]
    top = [
        {
            "rank": r + 1,
            "index": int(i),
            "label": int(stats.labels[i]),
            "prediction": int(stats.pred[i]),
            "activation": finite(a),
            "image": png_url(s.top_digits[m, r]),
        }
        for r, (i, a) in enumerate(zip(s.top_idx[m], s.top_acts[m], strict=True))
    ]
    return {
        "source": stats.source,
        "digits": int(len(stats.labels)),
        "top": top,
        "selectivity": rounded(s.selectivity[:, m]),
        "summary": s.summary(m),
    }
