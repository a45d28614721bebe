"""A Keras model as a graph of leaf layers that oipviz can run and tap anywhere.

Models are often nested: a Functional model around a Sequential (or Functional) backbone,
the transfer-learning shape.  Keras hides the inner layers' outputs from the outer graph,
so oipviz runs the graph itself, layer by layer (:func:`run`): every leaf layer has a path
(``backbone/c2``), its output (and its value before the activation) can be read, and one
layer's output can be replaced by a given tensor (Grad-CAM differentiates with respect to
it).  The same code runs eagerly, inside ``tf.function`` and under a GradientTape, so
gradients reach inner layers of any nesting; a test checks them against a flat copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

MODEL_TYPES = ("Sequential", "Functional", "Model")


def is_model(layer) -> bool:
    """True for a nested model (Sequential or Functional), whose layers are walked."""
    import keras

    return isinstance(layer, keras.Model)


def leaves(model: keras.Model, prefix: str = "") -> Iterator[tuple[str, keras.layers.Layer]]:
    """(path, layer) of every leaf layer in execution order, nested models walked
    (``backbone/c2``); input layers skipped."""
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        path = f"{prefix}{layer.name}"
        if is_model(layer):
            yield from leaves(layer, path + "/")
        else:
            yield path, layer


@dataclass
class Tap:
    """What one run of the graph records: the outputs of ``want`` (paths), the values
    before the activation of ``pre`` (paths), and ``override``: layer outputs replaced by
    given tensors."""

    want: set = field(default_factory=set)
    pre: set = field(default_factory=set)
    override: dict = field(default_factory=dict)
    out: dict = field(default_factory=dict)  # (path, pre) -> tensor


def run(model, x, tap: Tap, prefix: str = ""):
    """Run ``model`` on ``x`` (tensors), leaf by leaf, recording what ``tap`` asks for;
    returns the model's output."""
    if model.__class__.__name__ == "Sequential" or not hasattr(model, "_run_through_graph"):
        for layer in model.layers:
            if layer.__class__.__name__ != "InputLayer":
                x = _call(layer, (x,), {}, tap, prefix)
        return x

    def operation_fn(op):
        return lambda *args, **kwargs: _call(op, args, kwargs, tap, prefix)

    return model._run_through_graph(x, operation_fn=operation_fn)


def _call(layer, args: tuple, kwargs: dict, tap: Tap, prefix: str):
    path = f"{prefix}{layer.name}"
    if path in tap.override:
        y = tap.override[path]
    elif is_model(layer):
        y = run(layer, args[0], tap, path + "/")
    else:
        if _takes_training(layer) and "training" not in kwargs:
            kwargs = dict(kwargs, training=False)
        y = layer(*args, **kwargs)
        if path in tap.pre:
            tap.out[(path, True)] = before_activation(layer, args, kwargs, y)
    if path in tap.want:
        tap.out[(path, False)] = y
    return y


def _takes_training(layer) -> bool:
    import inspect

    try:
        return "training" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False


def before_activation(layer, args: tuple, kwargs: dict, y):
    """The layer's value before its activation (e.g. logits before a softmax), computed
    with the layer's own live variables: the layer is called once more with a linear
    activation (restored at once).  ``y`` itself for layers without an activation."""
    import keras

    act = getattr(layer, "activation", None)
    if act is None or act is keras.activations.linear:
        return y
    layer.activation = keras.activations.linear
    try:
        return layer(*args, **kwargs)
    finally:
        layer.activation = act
