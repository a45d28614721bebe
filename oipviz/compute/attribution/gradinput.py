"""Gradient × input: ∂f/∂x · x in pixel space (Shrikumar et al. 2016)."""

from __future__ import annotations

from oipviz.compute.attribution.base import Method, Scorer, channel_map
from oipviz.compute.attribution.registry import register


@register("gradxinput")
class GradientInput(Method):
    """Signed: positive where a lit pixel raises the target (colour: summed over the
    channels).  For a linear model it equals Integrated Gradients from a black baseline."""

    name, title, signed = "gradinput", "gradient × input", True
    order = 20

    def graph(self, f: Scorer, x, w):
        s, g, acts = f.grad(x, w)
        return {"map": channel_map(g * x), "score": s, "probs": f.probs(acts)}
