"""Occlusion (Zeiler & Fergus 2014): how much the target drops when a patch is covered."""

from __future__ import annotations

import numpy as np

from oipviz.compute.attribution.base import Method, Scorer
from oipviz.compute.attribution.registry import register
from oipviz.core import checks


def patch_masks(shape: tuple[int, int, int], size: int, stride: int) -> np.ndarray:
    """(K, H, W, 1) masks of every patch position; the last row/column of patches is
    aligned with the border so every pixel is covered."""
    h, w = shape[0], shape[1]
    size = min(size, h, w)

    def starts(n):
        out = list(range(0, n - size + 1, stride))
        return out if out[-1] == n - size else [*out, n - size]

    rows, cols = starts(h), starts(w)
    masks = np.zeros((len(rows) * len(cols), h, w, 1), np.float32)
    for k, (r, c) in enumerate((r, c) for r in rows for c in cols):
        masks[k, r : r + size, c : c + size] = 1.0
    return masks


def default_patch(shape: tuple[int, int, int]) -> int:
    """A patch of 1/7 of the image side (4 px on 28×28), at least 1."""
    return max(1, round(min(shape[0], shape[1]) / 7))


@register()
class Occlusion(Method):
    """Per pixel, the mean of f(x) − f(x with a patch set to ``occlusion_value``) over the
    patches that cover it (all channels covered).  A patch over the whole image gives
    f(x) − f(uniform image) everywhere.  ``patch``/``stride`` default to 1/7 and 1/14 of the
    image side (4 and 2 px on 28×28)."""

    name, title, signed = "occlusion", "occlusion", True
    autograph = True  # its graph loops over tf.range
    order = 70
    low_precision = False  # no gradients: scores only, float32

    def __init__(
        self, patch: int | None = None, stride: int | None = None, occlusion_value: float = 0.0
    ):
        self.patch = None if patch is None else checks.integer("occlusion patch", patch, 1, 512)
        self.stride = None if stride is None else checks.integer("occlusion stride", stride, 1, 512)
        self.baseline = checks.number("occlusion value", occlusion_value, -1e6, 1e6)

    def sizes(self, loaded) -> tuple[int, int]:
        """(patch, stride) for the model's geometry."""
        patch = self.patch or default_patch(loaded.geometry.shape)
        return patch, self.stride or max(1, patch // 2)

    def key(self) -> tuple:
        return (*super().key(), self.patch, self.stride)

    def args(self, loaded, lo: int) -> tuple:
        import tensorflow as tf

        return (
            tf.constant(patch_masks(loaded.geometry.shape, *self.sizes(loaded))),
            tf.constant(self.baseline, tf.float32),
        )

    def arg_specs(self, loaded) -> tuple:
        import tensorflow as tf

        h, w, _ = loaded.geometry.shape
        return (tf.TensorSpec((None, h, w, 1), tf.float32), tf.TensorSpec((), tf.float32))

    def graph(self, f: Scorer, x, w, masks, value):
        import tensorflow as tf

        s, acts = f.score(x, w)
        acc = tf.zeros_like(x[..., :1])
        for k in tf.range(tf.shape(masks)[0]):
            m = masks[k]
            drop = s - f.score(x * (1.0 - m) + value * m, w)[0]
            acc += drop[:, None, None, None] * m
        cover = tf.maximum(tf.reduce_sum(masks, axis=0), 1.0)
        return {"map": (acc / cover)[..., 0], "score": s, "probs": f.probs(acts)}

    def bind(self, loaded) -> None:
        self.patch, self.stride = self.sizes(loaded)

    def params(self) -> dict:
        return {"patch": self.patch, "stride": self.stride, "baseline": self.baseline}
