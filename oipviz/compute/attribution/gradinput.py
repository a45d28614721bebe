"""Gradient × input: ∂f/∂x · x in pixel space (Shrikumar et al. 2016)."""

from __future__ import annotations

from oipviz.compute.attribution.base import Method, Scorer, squeeze


class GradientInput(Method):
    """Signed: positive where a lit pixel raises the target.  For a linear model it equals
    Integrated Gradients from a black (zero) baseline."""

    name, title, signed = "gradinput", "gradient × input", True

    def graph(self, f: Scorer, x, w):
        s, g, acts = f.grad(x, w)
        return {"map": squeeze(g * x), "score": s, "probs": f.probs(acts)}
