"""Occlusion (Zeiler & Fergus 2014): how much the target drops when a patch is covered."""

from __future__ import annotations

import numpy as np

from oipviz.compute.attribution.base import Method, Scorer
from oipviz.core import checks


def patch_masks(size: int, stride: int) -> np.ndarray:
    """(K,28,28,1) masks of every patch position; the last row/column of patches is
    aligned with the border so every pixel is covered."""
    starts = list(range(0, 28 - size + 1, stride))
    if starts[-1] != 28 - size:
        starts.append(28 - size)
    masks = np.zeros((len(starts) ** 2, 28, 28, 1), np.float32)
    for k, (r, c) in enumerate((r, c) for r in starts for c in starts):
        masks[k, r : r + size, c : c + size] = 1.0
    return masks


class Occlusion(Method):
    """Per pixel, the mean of f(x) − f(x with a patch set to ``baseline``) over the patches
    that cover it.  A patch over the whole image gives f(x) − f(baseline image) everywhere."""

    name, title, signed = "occlusion", "occlusion", True
    low_precision = False  # no gradients: scores only, float32

    def __init__(self, patch: int = 4, stride: int = 2, baseline: float = 0.0):
        self.patch = checks.integer("occlusion patch", patch, 1, 28)
        self.stride = checks.integer("occlusion stride", stride, 1, 28)
        self.baseline = checks.number("occlusion baseline", baseline, -1e6, 1e6)

    def args(self, loaded, lo: int) -> tuple:
        import tensorflow as tf

        return (
            tf.constant(patch_masks(self.patch, self.stride)),
            tf.constant(self.baseline, tf.float32),
        )

    def arg_specs(self) -> tuple:
        import tensorflow as tf

        return (tf.TensorSpec((None, 28, 28, 1), tf.float32), tf.TensorSpec((), tf.float32))

    def graph(self, f: Scorer, x, w, masks, value):
        import tensorflow as tf

        s, acts = f.score(x, w)
        acc = tf.zeros_like(x)
        for k in tf.range(tf.shape(masks)[0]):
            m = masks[k]
            drop = s - f.score(x * (1.0 - m) + value * m, w)[0]
            acc += drop[:, None, None, None] * m
        cover = tf.maximum(tf.reduce_sum(masks, axis=0), 1.0)
        return {"map": (acc / cover)[..., 0], "score": s, "probs": f.probs(acts)}

    def params(self) -> dict:
        return {"patch": self.patch, "stride": self.stride, "baseline": self.baseline}
