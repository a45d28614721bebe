"""Grad-CAM (Selvaraju et al. 2017) on any conv layer, upsampled bicubically to 28×28."""

from __future__ import annotations

import numpy as np

from oipviz.compute.attribution.base import Method, Scorer
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
    """The model split at a conv layer: ``front`` (engine space → A) and the layers after
    it re-applied to A, so that ∂f/∂A is a real gradient.  (Keras 3 models built from a
    loaded model's layer outputs don't route the heads through the returned A.)"""

    def __init__(self, loaded, layer: str, heads: list[tuple[str, bool]]):
        from oipviz.core import fastpath

        keras_front = loaded.engine_model([layer])
        self.front = fastpath.for_heads(loaded, [(layer, False)], keras_front) or keras_front
        model_layers = [ly for ly in loaded.model.layers if ly.__class__.__name__ != "InputLayer"]
        names = [ly.name for ly in model_layers]
        self.layers = model_layers[names.index(layer) + 1 :]
        self.heads, self.layer = heads, layer
        after = {ly.name for ly in self.layers} | {layer}
        early = [h for h, _ in heads if h not in after]
        if early:
            raise LayerError(f"a target on {early[0]} lies before the Grad-CAM layer {layer}")
        self.twins = {}
        for ly in self.layers:
            if (ly.name, True) in heads and getattr(ly, "activation", None) is not None:
                cfg = dict(ly.get_config(), activation="linear", name=ly.name + "_camtwin")
                twin = ly.__class__.from_config(cfg)
                twin.build(ly.input.shape)
                twin.set_weights(ly.get_weights())
                self.twins[ly.name] = twin
        self.check(loaded)

    def a(self, z):
        """A for engine-space images ``z``."""
        out = self.front(z)
        return out[0] if isinstance(out, (list, tuple)) else out

    def __call__(self, a) -> list:
        """The heads' outputs computed from A (B,h,w,K)."""
        out = {(self.layer, False): a, (self.layer, True): a}
        h = a
        for ly in self.layers:
            if ly.name in self.twins:
                out[(ly.name, True)] = self.twins[ly.name](h)
            h = ly(h, training=False)
            out[(ly.name, False)] = h
            out.setdefault((ly.name, True), h)
        return [out[k] for k in self.heads]

    def check(self, loaded) -> None:
        """The re-applied layers must reproduce the model (true for chains, e.g. Sequential)."""
        from oipviz.core.ascent import forward

        z = np.random.default_rng(0).normal(size=(2, 28, 28, 1)).astype(np.float32)
        want = forward(loaded, self.heads, z)
        got = self(self.a(z))
        if not all(np.allclose(np.asarray(g), w, rtol=1e-3, atol=1e-4) for g, w in zip(got, want)):
            raise LayerError(
                f"Grad-CAM needs a model whose layers form a chain after "
                f"{self.layer} (like a Sequential model)"
            )


class GradCAM(Method):
    """ReLU(Σₖ αₖ Aₖ) with αₖ the spatial mean of ∂f/∂Aₖ; ``cam`` in the extras keeps the
    map at the layer's own resolution (before upsampling).  Always float32: ∂f/∂A runs
    through the few layers after A, not the engine's conv chain (nothing for bf16 to speed
    up), and A itself is part of the map."""

    name, title = "gradcam", "Grad-CAM"
    low_precision = False

    def __init__(self, layer: str | None = None):
        self.layer = layer

    def extra_heads(self, loaded) -> list[tuple[str, bool]]:
        return [(conv_layer(loaded, self.layer), False)]

    def prepare(self, loaded, f: Scorer) -> None:
        f.tail = Tail(loaded, self.layer, f.heads)

    def __call__(self, loaded, images, targets, **kw):
        self.layer = conv_layer(loaded, self.layer)
        return super().__call__(loaded, images, targets, **kw)

    def weights(self, a, g):
        """Per-map weights (B,K) from activations and gradients (B,h,w,K)."""
        import tensorflow as tf

        return tf.reduce_mean(g, axis=[1, 2])

    def graph(self, f: Scorer, x, w):
        import tensorflow as tf

        a = f.tail.a((x - f.mean) / f.std)
        with tf.GradientTape() as tape:
            tape.watch(a)
            acts = f.tail(a)
            s = f.value(acts, w)
        g = tape.gradient(s, a)
        cam = tf.nn.relu(tf.einsum("bhwk,bk->bhw", a, self.weights(a, g)))
        up = tf.image.resize(cam[..., None], (28, 28), method="bicubic")
        return {"map": tf.nn.relu(up[..., 0]), "score": s, "probs": f.probs(acts), "cam": cam}

    def params(self) -> dict:
        return {"layer": self.layer, "upsampling": "bicubic"}
