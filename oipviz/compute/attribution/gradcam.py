"""Grad-CAM (Selvaraju et al. 2017) on any conv layer (nested ones too), upsampled
bicubically to the image size."""

from __future__ import annotations

from oipviz.compute.attribution.base import Method, Scorer
from oipviz.compute.attribution.registry import register
from oipviz.core.errors import LayerError


def conv_layer(loaded, layer: str | None) -> str:
    """The conv layer ``layer`` (default: the last one); one-line error for other layers."""
    convs = loaded.conv_layers()
    names = ", ".join(c.name for c in convs) or "none"
    if layer is None:
        if not convs:
            raise LayerError(f"{loaded.name} has no conv layer; Grad-CAM needs one")
        return convs[-1].name
    info = loaded.layer(layer)
    if not info.is_conv:
        raise LayerError(
            f"layer {info.name!r} ({info.type}) is not a conv layer; Grad-CAM needs one of: {names}"
        )
    return info.name


class Tail:
    """The model split at a conv layer: ``a(z)`` gives its output A for engine-space
    images, and the heads' outputs are computed from A with the model's graph run past
    that layer (:mod:`oipviz.core.graph`, A in place of the layer's output), so ∂f/∂A is a
    real gradient, inside nested models too."""

    def __init__(self, loaded, layer: str, heads: list[tuple[str, bool]]):
        from oipviz.core import fastpath

        self.layer = loaded.layer(layer).name
        order = [i.name for i in loaded.layers]
        early = [h for h, _ in heads if order.index(loaded.layer(h).name) < order.index(self.layer)]
        if early:
            raise LayerError(f"a target on {early[0]} lies before the Grad-CAM layer {self.layer}")
        keras_front = loaded.heads([(self.layer, False)])
        self.front = fastpath.for_heads(loaded, [(self.layer, False)], keras_front) or keras_front
        self.after = loaded.heads(heads)

    def a(self, z):
        """A for engine-space images ``z``."""
        return self.front(z)[0]

    def __call__(self, a, z) -> list:
        """The heads' outputs computed from A (B, h, w, K) (``z``: the images A came from)."""
        return self.after(z, override={self.layer: a})


@register("grad-cam")
class GradCAM(Method):
    """ReLU(Σₖ αₖ Aₖ) with αₖ the spatial mean of ∂f/∂Aₖ; ``cam`` in the extras keeps the
    map at the layer's own resolution (before upsampling).  Always float32: ∂f/∂A runs
    through the few layers after A, not the engine's conv chain (nothing for bf16 to speed
    up), and A itself is part of the map."""

    name, title = "gradcam", "Grad-CAM"
    order = 50
    low_precision = False
    needs_conv = True

    def __init__(self, layer: str | None = None):
        self.layer = layer

    def extra_heads(self, loaded) -> list[tuple[str, bool]]:
        return [(conv_layer(loaded, self.layer), False)]

    def prepare(self, loaded, f: Scorer) -> None:
        f.tail = Tail(loaded, conv_layer(loaded, self.layer), f.heads)

    def bind(self, loaded) -> None:
        self.layer = conv_layer(loaded, self.layer)

    def weights(self, a, g):
        """Per-map weights (B,K) from activations and gradients (B,h,w,K)."""
        import tensorflow as tf

        return tf.reduce_mean(g, axis=[1, 2])

    def graph(self, f: Scorer, x, w):
        import tensorflow as tf

        tail = f.tail
        assert tail is not None  # made by prepare, before the graph is traced
        z = (x - f.mean) / f.std
        a = tail.a(z)
        with tf.GradientTape() as tape:
            tape.watch(a)
            acts = tail(a, z)
            s = f.value(acts, w)
        g = tape.gradient(s, a)
        cam = tf.nn.relu(tf.einsum("bhwk,bk->bhw", a, self.weights(a, g)))
        up = tf.image.resize(cam[..., None], tf.shape(x)[1:3], method="bicubic")
        return {"map": tf.nn.relu(up[..., 0]), "score": s, "probs": f.probs(acts), "cam": cam}

    def params(self) -> dict:
        return {"layer": self.layer, "upsampling": "bicubic"}
