"""SmoothGrad: the gradient averaged over noisy copies of the image (Smilkov et al. 2017)."""

from __future__ import annotations

from oipviz.compute.attribution.base import Method, Scorer, channel_map
from oipviz.compute.attribution.registry import register
from oipviz.core import checks

PIXEL_RANGE = 1.0  # the input range in pixel space, [0, 1]


@register()
class SmoothGrad(Method):
    """|mean of ∂f/∂(x + ε)| over ``samples`` draws of ε ~ N(0, (noise · range)²); the range
    of pixel space is 1, so ``noise`` is the σ in pixels (tf-keras-vis' ``smooth_noise``).
    ``absolute=False`` keeps the sign of the mean gradient."""

    name, title = "smoothgrad", "SmoothGrad"
    autograph = True  # its graph loops over tf.range
    order = 30

    def __init__(self, samples: int = 50, noise: float = 0.2, seed: int = 0, absolute: bool = True):
        self.absolute = bool(absolute)
        self.signed = not self.absolute
        self.samples = checks.integer("smoothgrad samples", samples, 1, 100_000)
        self.noise = checks.number("smoothgrad noise", noise, 0.0, 10.0)
        self.seed = checks.seed(seed)

    def key(self) -> tuple:
        return (*super().key(), self.absolute)

    def args(self, loaded, lo: int) -> tuple:
        import tensorflow as tf

        return (
            tf.constant(self.samples, tf.int32),
            tf.constant(self.noise * PIXEL_RANGE, tf.float32),
            tf.constant([self.seed, lo], tf.int32),
        )

    def arg_specs(self, loaded) -> tuple:
        import tensorflow as tf

        return (
            tf.TensorSpec((), tf.int32),
            tf.TensorSpec((), tf.float32),
            tf.TensorSpec((2,), tf.int32),
        )

    def graph(self, f: Scorer, x, w, n, sigma, seed):
        import tensorflow as tf

        s, acts = f.score(x, w)
        acc = tf.zeros_like(x)
        for i in tf.range(n):
            eps = sigma * tf.random.stateless_normal(tf.shape(x), tf.stack([seed[0] + i, seed[1]]))
            acc += f.gradient(x + eps, w)
        mean = channel_map(acc / tf.cast(n, tf.float32), self.absolute)
        return {"map": mean, "score": s, "probs": f.probs(acts)}

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("samples", "noise", "seed", "absolute")}
