"""``oipviz.predict``: class probabilities and every layer's activations in one forward pass.

    pred = oipviz.predict(digits, model)          # digits (N,28,28) in [0,1]
    pred.probabilities, pred.predicted             # (N,10), (N,)
    pred.activations["conv3"]                      # (N,3,3,128)
    pred.map_means("conv3")                        # (N,128): what an OIP maximizes

One call of the engine's compiled forward function (:func:`oipviz.core.ascent.forward`)
over all the heads at once; the probabilities follow the attribution base's rule
(:func:`oipviz.compute.attribution.base.probs_from_output`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oipviz.compute.attribution.base import probs_from_output
from oipviz.core import checks
from oipviz.core.errors import OipvizError


@dataclass
class Prediction:
    """What the model does with N images: probabilities, predicted classes, activations."""

    probabilities: np.ndarray  # (N, classes) float32
    predicted: np.ndarray  # (N,) int64
    layers: list[str]  # the layers in ``activations``, in model order
    activations: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    # layer -> (N, h, w, maps) for a conv layer, (N, units) for a Dense layer

    @property
    def probability(self) -> np.ndarray:
        """(N,) the probability of the predicted class."""
        return self.probabilities.max(axis=1)

    def map_means(self, layer: str) -> np.ndarray:
        """(N, maps) spatial mean of every map (a Dense layer: its unit values)."""
        a = self.activations[layer]
        return a.mean(axis=(1, 2)) if a.ndim == 4 else a.reshape(len(a), -1)

    def map_maxes(self, layer: str) -> np.ndarray:
        """(N, maps) spatial maximum of every map (a Dense layer: its unit values)."""
        a = self.activations[layer]
        return a.max(axis=(1, 2)) if a.ndim == 4 else a.reshape(len(a), -1)


def shown_layers(loaded) -> list[str]:
    """The layers with maps or units (conv and Dense), in model order."""
    return [i.name for i in loaded.layers if i.units is not None]


def as_batch(loaded, images01) -> np.ndarray:
    """Images in [0,1] as (N, H, W, C) float32 of the model's geometry; one-line errors."""
    x = checks.finite_array("images", images01)
    shape = tuple(loaded.geometry.shape)
    if x.shape == shape or (x.shape == shape[:2] and shape[2] == 1):
        x = x.reshape(1, *shape)
    elif x.ndim == 3 and x.shape[1:] == shape[:2] and shape[2] == 1:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != shape or len(x) == 0:
        want = "×".join(map(str, shape))
        raise OipvizError(f"images must be (N,{want}) in [0,1], got shape {x.shape}")
    return np.ascontiguousarray(x)


def predict(images01, model=None, layers: list[str] | None = None) -> Prediction:
    """Probabilities, predicted classes and activations of ``images01``.

    Parameters
    ----------
    images01 : array
        (N, H, W[, C]) or one (H, W[, C]) image, pixels in [0, 1], of the model's geometry.
    model : str, Path, LoadedModel or None
        The model (None: the bundled seed CNN).
    layers : list of str, optional
        Layers whose outputs to return (default: every conv and Dense layer).

    Returns
    -------
    Prediction
    """
    from oipviz.core.ascent import forward
    from oipviz.core.loader import as_loaded

    loaded = as_loaded(model)
    x = as_batch(loaded, images01)
    names = [loaded.layer(n).name for n in layers] if layers is not None else shown_layers(loaded)
    last = loaded.layers[-1].name
    heads = [(n, False) for n in dict.fromkeys(names + [last])]
    outs = dict(
        zip(
            [h[0] for h in heads],
            forward(loaded, heads, loaded.convention.to_engine(x)),
            strict=True,
        )
    )
    probs = probs_from_output(loaded, outs[last])
    return Prediction(
        probs,
        probs.argmax(axis=1).astype(np.int64),
        list(names),
        {n: outs[n].astype(np.float32, copy=False) for n in names},
    )
