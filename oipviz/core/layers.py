"""The layers of a model as oipviz sees them: every leaf layer with a path (``conv3``,
``backbone/c2`` inside a nested model), found by path, by its own name where that is
unique, or as ``convN``; and :class:`Heads`, the outputs of some of them for
engine-space images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from oipviz.core import graph
from oipviz.core.errors import LayerError


class Model(Protocol):
    """What :class:`Heads` needs of a loaded model (:class:`oipviz.core.loader.LoadedModel`)."""

    model: Any
    geometry: Any
    convention: Any

    def layer(self, name: str) -> LayerInfo: ...


FEATURE_TYPES = ("Conv2D", "Dense", "SeparableConv2D", "DepthwiseConv2D", "Conv1D")


@dataclass
class LayerInfo:
    """A leaf layer of the model: its path (``conv3``, or ``backbone/c2`` inside a nested
    model), type, output shape and maps (conv) or units (Dense)."""

    name: str
    type: str
    shape: tuple
    units: int | None  # maps of a conv layer, units of a dense layer

    @property
    def is_conv(self) -> bool:
        return len(self.shape) == 4 and self.units is not None

    @property
    def short(self) -> str:
        """The layer's own name (the last part of its path)."""
        return self.name.rsplit("/", 1)[-1]


class Heads:
    """The outputs of some layers ((path, pre_activation) pairs) for engine-space images:
    a callable for TensorFlow code (``tf.function``, GradientTape), with the outputs'
    shapes (no batch axis).  It applies the input convention and the model's own input
    shape, then runs the model's graph (:mod:`oipviz.core.graph`) and taps it."""

    def __init__(self, loaded: Model, heads: list[tuple[str, bool]]):
        self.loaded, self.heads = loaded, [(loaded.layer(n).name, bool(p)) for n, p in heads]
        self.shapes = [tuple(int(d) for d in loaded.layer(n).shape[1:]) for n, _ in self.heads]

    def __call__(self, z, override: dict | None = None) -> list:
        import tensorflow as tf

        g, c = self.loaded.geometry, self.loaded.convention
        a, b = c.affine()
        x = z if (np.isscalar(a) and (a, b) == (1.0, 0.0)) else z * a + b
        if c.bgr:
            x = tf.reverse(x, axis=[-1])
        if g.model_shape != g.shape:
            x = tf.reshape(x, (-1, *g.model_shape))
        tap = graph.Tap(
            {n for n, _ in self.heads}, {n for n, p in self.heads if p}, dict(override or {})
        )
        graph.run(self.loaded.model, x, tap)
        return [tap.out[h] for h in self.heads]


def layer_table(model) -> tuple[list[LayerInfo], list[str]]:
    """The leaf layers (paths; nested models walked) and the nested models' paths."""
    layers = []
    for path, layer in graph.leaves(model):
        try:
            out_shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            continue
        units = int(out_shape[-1]) if layer.__class__.__name__ in FEATURE_TYPES else None
        layers.append(LayerInfo(path, layer.__class__.__name__, out_shape, units))
    return layers, list(_nested_paths(model))


def _nested_paths(model, prefix: str = ""):
    for layer in model.layers:
        if graph.is_model(layer):
            yield prefix + layer.name
            yield from _nested_paths(layer, prefix + layer.name + "/")


def find_layer(layers: list[LayerInfo], nested: list[str], name: str, model: str) -> LayerInfo:
    """The layer ``name`` of ``layers`` (path, unique own name, or ``convN``)."""
    if not isinstance(name, str):
        raise LayerError(f"a layer is given by its name, like 'conv3' (got {name!r})")
    for info in layers:
        if info.name == name:
            return info
    short = [i for i in layers if i.short == name]
    if len(short) == 1:
        return short[0]
    if len(short) > 1:
        names = ", ".join(i.name for i in short)
        raise LayerError(f"{name!r} names several layers of {model}: {names}; give the path")
    convs = [i for i in layers if i.is_conv]
    if name.startswith("conv") and name[4:].isdigit() and 1 <= int(name[4:]) <= len(convs):
        return convs[int(name[4:]) - 1]
    choices = ", ".join(i.name for i in layers if i.units is not None)
    what = f"{name!r} is a nested model, not a layer" if name in nested else f"no layer {name!r}"
    raise LayerError(f"{what} in {model}; choose from: {choices}")


def keras_layer(model, path: str):
    """The Keras layer at ``path`` (nested models walked)."""
    for p, layer in graph.leaves(model):
        if p == path:
            return layer
    raise LayerError(f"no layer {path!r}")


def outputs_are_probabilities(loaded) -> bool:
    """True if the model's last layer ends in a softmax (its outputs are probabilities)."""
    last = keras_layer(loaded.model, loaded.layers[-1].name)
    act = getattr(last, "activation", None)
    return getattr(act, "__name__", "") == "softmax" or last.__class__.__name__ == "Softmax"


def class_probabilities(loaded, outputs: np.ndarray) -> np.ndarray:
    """The model's final outputs as class probabilities (float32): as they are for a model
    ending in a softmax, else their softmax (the outputs are logits).  The one rule for
    every prediction oipviz shows."""
    out = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    if not outputs_are_probabilities(loaded):
        e = np.exp(out - out.max(axis=1, keepdims=True))
        out = e / e.sum(axis=1, keepdims=True)
    return out.astype(np.float32)


def folder_name(layer: str) -> str:
    """A layer's name as one file or folder name: a nested layer's path ``backbone/c2``
    becomes ``backbone--c2`` (pages, pictures and arrays are named after layers)."""
    return layer.replace("/", "--")
