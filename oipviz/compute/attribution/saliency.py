"""Vanilla gradient (saliency): ∂(target)/∂x in pixel space (Simonyan et al. 2014)."""

from __future__ import annotations

from oipviz.compute.attribution.base import Method, Scorer, squeeze


class Saliency(Method):
    """|∂f/∂x| (``absolute=False``: the signed gradient), as tf-keras-vis and Xplique show it."""

    name, title = "saliency", "saliency |∇f|"

    def __init__(self, absolute: bool = True):
        self.absolute = bool(absolute)
        self.signed = not self.absolute

    def key(self) -> tuple:
        return super().key() + (self.absolute,)

    def graph(self, f: Scorer, x, w):
        import tensorflow as tf

        s, g, acts = f.grad(x, w)
        g = squeeze(g)
        return {"map": tf.abs(g) if self.absolute else g, "score": s, "probs": f.probs(acts)}

    def params(self) -> dict:
        return {"absolute": self.absolute}
