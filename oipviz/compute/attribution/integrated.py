"""Integrated Gradients (Sundararajan et al. 2017), trapezoidal rule, with its
completeness error Σ attr − (f(x) − f(baseline)) per image."""

from __future__ import annotations

import numpy as np

from oipviz.compute.attribution.base import Method, Scorer, channel_map
from oipviz.compute.attribution.registry import register
from oipviz.core import checks
from oipviz.core.errors import OipvizError

BASELINES = ("black", "mean")


@register("integrated_gradients")
class IntegratedGradients(Method):
    """(x − x₀) · ∫₀¹ ∂f/∂x(x₀ + α(x − x₀)) dα on ``ig_steps`` points (α = 0 … 1,
    trapezoid), summed over the colour channels.

    ``baseline``: ``"black"`` (all pixels 0), ``"mean"`` (every pixel at engine space's mean:
    the data mean the model was standardized with, e.g. the average MNIST pixel), a number
    in pixel units, or an image of the model's size in [0, 1].
    """

    name, title, signed = "ig", "Integrated Gradients", True
    autograph = True  # its graph loops over tf.range
    order = 40

    def __init__(self, ig_steps: int = 64, baseline: str | float | np.ndarray = "black"):
        self.steps = checks.integer("ig steps", ig_steps, 2, 100_000)
        if isinstance(baseline, str) and baseline not in BASELINES:
            raise OipvizError(
                f"unknown IG baseline {baseline!r}; use black, mean, a number or an image"
            )
        if not isinstance(baseline, str):
            checks.finite_array("IG baseline", baseline)
        self.baseline = baseline

    def baseline_image(self, loaded) -> np.ndarray:
        """The baseline as a (1, H, W, C) pixel-space image."""
        shape = (1, *loaded.geometry.shape)
        if isinstance(self.baseline, str):
            v = 0.0 if self.baseline == "black" else loaded.convention.mean
            return (np.zeros(shape, np.float32) + np.asarray(v, np.float32)).astype(np.float32)
        b = np.asarray(self.baseline, np.float32)
        if b.size == 1:
            return np.full(shape, float(b.ravel()[0]), np.float32)
        if b.size * shape[3] == np.prod(shape) and shape[3] > 1:
            b = np.repeat(b.reshape(*shape[:3], 1), shape[3], axis=3)
        if b.size != np.prod(shape):
            raise OipvizError(
                f"IG baseline must be a number or a {shape[1]}×{shape[2]} image, got {b.shape}"
            )
        return b.reshape(shape).astype(np.float32)

    def args(self, loaded, lo: int) -> tuple:
        import tensorflow as tf

        alphas = np.linspace(0.0, 1.0, self.steps)
        wts = np.full(self.steps, 1.0 / (self.steps - 1))
        wts[[0, -1]] *= 0.5
        return (
            tf.constant(self.baseline_image(loaded)),
            tf.constant(alphas, tf.float32),
            tf.constant(wts, tf.float32),
        )

    def arg_specs(self, loaded) -> tuple:
        import tensorflow as tf

        return (
            tf.TensorSpec((1, *loaded.geometry.shape), tf.float32),
            tf.TensorSpec((None,), tf.float32),
            tf.TensorSpec((None,), tf.float32),
        )

    def graph(self, f: Scorer, x, w, base, alphas, wts):
        import tensorflow as tf

        s, acts = f.score(x, w)
        x0 = tf.zeros_like(x) + base
        s0 = f.score(x0, w)[0]
        acc = tf.zeros_like(x)
        for i in tf.range(tf.shape(alphas)[0]):
            acc += wts[i] * f.gradient(x0 + alphas[i] * (x - x0), w)
        attr = channel_map((x - x0) * acc)
        err = tf.reduce_sum(attr, axis=[1, 2]) - (s - s0)
        return {
            "map": attr,
            "score": s,
            "probs": f.probs(acts),
            "baseline_score": s0,
            "completeness_error": err,
        }

    def params(self) -> dict:
        b = self.baseline if isinstance(self.baseline, str) else "custom"
        return {"steps": self.steps, "baseline": b, "rule": "trapezoid"}
