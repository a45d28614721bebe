"""Vanilla gradient (saliency): ∂(target)/∂x in pixel space (Simonyan et al. 2014)."""

from __future__ import annotations

from oipviz.compute.attribution.base import Method, Scorer, channel_map
from oipviz.compute.attribution.registry import register


@register("gradient", "vanilla")
class Saliency(Method):
    """|∂f/∂x| (``absolute=False``: the signed gradient), as tf-keras-vis and Xplique show it;
    for colour images the largest magnitude over the channels (signed: their sum)."""

    name, title = "saliency", "saliency |∇f|"
    order = 10

    def __init__(self, absolute: bool = True):
        self.absolute = bool(absolute)
        self.signed = not self.absolute

    def key(self) -> tuple:
        return (*super().key(), self.absolute)

    def graph(self, f: Scorer, x, w):
        s, g, acts = f.grad(x, w)
        return {"map": channel_map(g, self.absolute), "score": s, "probs": f.probs(acts)}

    def params(self) -> dict:
        return {"absolute": self.absolute}
