"""Activation gallery: what the layers of a model do with given inputs.

:func:`activations` computes (through the engine's forward pass, :func:`oipviz.core.ascent.forward`)
every conv layer's maps and every hidden Dense layer's unit values for some inputs, and
the prediction; :func:`oipviz.writers.activations.write_activations` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oipviz.core.errors import ImageError, ModelError
from oipviz.core.layers import class_probabilities
from oipviz.data.inputs import PREP_NOTE, Input, dataset_inputs, load_inputs, mnist_style  # noqa: F401


@dataclass
class ActivationResult:
    """Per layer the outputs (K,h,w,M) or (K,U) for K inputs, and the probabilities."""

    inputs: list[Input]
    layers: list[str]
    acts: list[np.ndarray]
    probs: np.ndarray  # (K, classes)


def activation_layers(loaded) -> list[str]:
    """The conv layers and the hidden Dense layers (the output layer is the prediction)."""
    names = [i.name for i in loaded.layers[:-1] if i.units is not None]
    if not names:
        raise ModelError(f"{loaded.name} has no conv or hidden Dense layer to show")
    return names


def activations(loaded, inputs: list[Input]) -> ActivationResult:
    """Every shown layer's output and the class probabilities for ``inputs``."""
    from oipviz.core.ascent import forward

    if not inputs:
        raise ImageError("no inputs")
    layers = activation_layers(loaded)
    last = loaded.layers[-1].name
    x01 = np.stack([i.x01 for i in inputs]).reshape(-1, *loaded.geometry.shape)
    x01 = x01.astype(np.float32)
    outs = forward(loaded, [(n, False) for n in layers + [last]], loaded.convention.to_engine(x01))
    return ActivationResult(inputs, layers, outs[:-1], class_probabilities(loaded, outs[-1]))
