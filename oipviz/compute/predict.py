"""``oipviz.predict``: class probabilities and every layer's activations in one forward pass.

    pred = oipviz.predict(digits, model)          # images of the model's geometry, [0,1]
    pred.probabilities, pred.predicted             # (N,classes), (N,)
    pred.activations["conv3"]                      # (N,h,w,maps), e.g. (N,3,3,128)
    pred.map_means("conv3")                        # (N,maps): what an OIP maximizes

One call of the engine's compiled forward function (:func:`oipviz.core.ascent.forward`)
over all the heads at once; images follow the API's input contract
(:func:`oipviz.core.pixels.as_pixels`) and the probabilities oipviz's one rule
(:func:`oipviz.core.layers.class_probabilities`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oipviz.core.layers import class_probabilities
from oipviz.core.pixels import as_pixels


@dataclass
class Prediction:
    """What the model does with N images: probabilities, predicted classes, activations."""

    probabilities: np.ndarray  # (N, classes) float32
    predicted: np.ndarray  # (N,) int64
    layers: list[str]  # the layers in ``activations``, in model order
    activations: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    # layer -> (N, h, w, maps) for a conv layer, (N, units) for a Dense layer
    notes: list[str] = field(default_factory=list)  # conversions made to the images

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


def predict(images01, model=None, layers: list[str] | None = None) -> Prediction:
    """Probabilities, predicted classes and activations of ``images01``.

    Parameters
    ----------
    images01 : array
        (N, H, W[, C]) or one (H, W[, C]) image of the model's geometry: pixels in [0, 1]
        or uint8 (:func:`oipviz.core.pixels.as_pixels`: a grey image given to a colour
        model is repeated over R, G and B, a colour one given to a grey model becomes its
        luminance).
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
    x, notes = as_pixels(images01, loaded.geometry)
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
    probs = class_probabilities(loaded, outs[last])
    return Prediction(
        probs,
        probs.argmax(axis=1).astype(np.int64),
        list(names),
        {n: outs[n].astype(np.float32, copy=False) for n in names},
        notes,
    )
