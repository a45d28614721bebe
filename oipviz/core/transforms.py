"""Transforms and regularizers for the ascent, as a list of small objects (as in lucid's
``optvis.transform`` and Xplique's ``transformations``/``regularizers``).

Each object acts at one stage of an ascent step (engine space, batch (B,28,28,1)):

* ``input``: applied to the image before the forward pass; the gradient flows back
  through it (:class:`Jitter`, :class:`Scale`, :class:`Rotate`);
* ``penalty``: a per-image value subtracted from the objective (:class:`TotalVariation`);
* ``gradient``: applied to the gradient before it is normalized (:class:`Blur`);
* ``project``: applied to the image after the step (:class:`Clip`);
* ``param``: the ascent runs on a variable ``u`` and the image is ``f(u)``
  (:class:`Sigmoid`: an image that can never leave a range;
  :class:`~oipviz.core.parameterizations.Spectral`: lucid's Fourier spectrum with
  decorrelated colour).  ``project`` and ``gradient`` transforms act on ``u``.

They are frozen dataclasses: equal lists share one compiled engine.  ``seed`` is the
step's stateless seed (shape (2,), int32), so every random choice is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeGuard

import numpy as np
from numpy.typing import NDArray

from oipviz.core.errors import OipvizError
from oipviz.core.parameterizations import Spectral as Spectral  # registered here too

if TYPE_CHECKING:
    import tensorflow as tf


class Transform(Protocol):
    """A transform: its ``stage`` (one of :data:`STAGES`) says how the engine calls it
    (``t(x, seed)`` for most stages, ``t.tf_forward(u)`` for ``param``); :func:`check`
    verifies the stage and that it is callable."""

    @property
    def stage(self) -> str: ...


@dataclass(frozen=True)
class Jitter:
    """Roll the image by a random offset of up to ±``px`` pixels (the same for the batch)."""

    px: int
    stage = "input"

    def __call__(self, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        shift = tf.random.stateless_uniform([2], seed, -self.px, self.px + 1, tf.int32)
        return tf.roll(x, shift, axis=[1, 2])


class Geometric(Protocol):
    """An ``input`` transform that moves pixels by a per-image linear map about the image
    centre: consecutive ones are fused into one bilinear resampling (:func:`warp`)."""

    def linear(self, seed: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        """(B, 2, 2): output offsets from the centre → input offsets (x, y order)."""
        ...


def warp(x: tf.Tensor, geometric: Iterable[Geometric], seed: tf.Tensor) -> tf.Tensor:
    """``x`` moved by the geometric transforms in turn, as ONE bilinear resampling with
    reflected edges (their linear maps composed about the centre of the image's own
    height and width; each keeps its own random draws).

    Parameters
    ----------
    x : tf.Tensor
        Images (B, H, W, C).
    geometric : iterable of Geometric
        Applied in order (the first one acts on ``x``).
    seed : tf.Tensor
        The step's stateless seed.

    Returns
    -------
    tf.Tensor
        The resampled images, same shape.
    """
    import tensorflow as tf

    B = tf.shape(x)[0]
    lin = None
    for t in geometric:  # x1 = T1(x), x2 = T2(x1): x2(p) = x(L1 L2 p)
        m = t.linear(seed, B)
        lin = m if lin is None else tf.linalg.matmul(lin, m)
    if lin is None:
        return x
    hw = tf.cast(tf.shape(x)[1:3], tf.float32)
    cy, cx = (hw[0] - 1.0) / 2.0, (hw[1] - 1.0) / 2.0
    a0, a1, b0, b1 = lin[:, 0, 0], lin[:, 0, 1], lin[:, 1, 0], lin[:, 1, 1]
    # output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2)
    a2 = cx - a0 * cx - a1 * cy
    b2 = cy - b0 * cx - b1 * cy
    z = tf.zeros_like(a0)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=tf.stack([a0, a1, a2, b0, b1, b2, z, z], axis=1),
        output_shape=tf.shape(x)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    # the static shape, so the oneDNN rewrite still applies downstream (with an unknown
    # height and width the pools' gradients fell back to Eigen's MaxPoolGrad: 10x slower)
    out.set_shape(x.shape)
    return out


@dataclass(frozen=True)
class Scale:
    """Random zoom by a factor in [lo, hi] per image (about the centre)."""

    lo: float = 0.95
    hi: float = 1.05
    stage = "input"

    def linear(self, seed: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        s = tf.random.stateless_uniform([batch], seed + [0, 7], self.lo, self.hi)
        return tf.eye(2, batch_shape=[batch]) / s[:, None, None]

    def __call__(self, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return warp(x, [self], seed)


@dataclass(frozen=True)
class Rotate:
    """Random rotation by up to ±``degrees`` per image (about the centre)."""

    degrees: float = 5.0
    stage = "input"

    def linear(self, seed: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        a = tf.random.stateless_uniform([batch], seed + [0, 13], -self.degrees, self.degrees)
        c, s = tf.cos(a * (math.pi / 180.0)), tf.sin(a * (math.pi / 180.0))
        return tf.reshape(tf.stack([c, -s, s, c], axis=1), [-1, 2, 2])

    def __call__(self, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return warp(x, [self], seed)


def _is_geometric(t: object) -> TypeGuard[Geometric]:
    return callable(getattr(t, "linear", None))


def apply_inputs(transforms: Iterable[Transform], x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """The ``input`` transforms applied to ``x`` in order, each run of consecutive
    :class:`Geometric` ones fused into one :func:`warp` (one resampling, not one each).

    Parameters
    ----------
    transforms : iterable of Transform
        The ``input`` stage's transforms, in order.
    x : tf.Tensor
        Images (B, H, W, C).
    seed : tf.Tensor
        The step's stateless seed.

    Returns
    -------
    tf.Tensor
    """
    run: list[Geometric] = []
    for t in transforms:
        if _is_geometric(t):
            run.append(t)
            continue
        x = warp(x, run, seed)
        run = []
        x = t(x, seed)  # type: ignore[operator]
    return warp(x, run, seed)


@dataclass(frozen=True)
class TotalVariation:
    """Penalty ``weight`` × Σ|neighbour differences| per image (smoother pictures);
    ``relative``: times the image's current value (no gradient through it), so a weak map
    is smoothed as much as a strong one instead of being pushed to zero."""

    weight: float
    relative: bool = False
    stage = "penalty"

    def __call__(self, x: tf.Tensor, seed: tf.Tensor | None = None) -> tf.Tensor:
        import tensorflow as tf

        # tf.slice, not x[:, 1:]: its gradient is a Pad, 10x cheaper than StridedSliceGrad
        # (bench: 3.9 vs 38 ms per step on 1,024 images of 28x28; the same values)
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        dy = tf.slice(x, [0, 1, 0, 0], [-1, -1, -1, -1]) - tf.slice(x, [0] * 4, [-1, h - 1, -1, -1])
        dx = tf.slice(x, [0, 0, 1, 0], [-1, -1, -1, -1]) - tf.slice(x, [0] * 4, [-1, -1, w - 1, -1])
        tv = tf.reduce_sum(tf.abs(dy), axis=[1, 2, 3]) + tf.reduce_sum(tf.abs(dx), axis=[1, 2, 3])
        return self.weight * tv


@dataclass(frozen=True)
class Blur:
    """Gaussian blur (sigma in px, 5×5 kernel) of each gradient, each channel alone."""

    sigma: float
    stage = "gradient"

    def __call__(self, g: tf.Tensor, seed: tf.Tensor | None = None) -> tf.Tensor:
        import tensorflow as tf

        r = tf.range(-2.0, 3.0)
        k = tf.exp(-tf.square(r) / (2.0 * max(self.sigma, 1e-3) ** 2))
        k2 = tf.tensordot(k, k, axes=0)
        kernel = tf.reshape(k2 / tf.reduce_sum(k2), [5, 5, 1, 1])
        kernel = tf.tile(kernel, [1, 1, int(g.shape[-1]), 1])  # one per channel (colour)
        return tf.nn.depthwise_conv2d(g, kernel, [1, 1, 1, 1], "SAME")


@dataclass(frozen=True)
class Clip:
    """Project the image into [lo, hi] (engine space; one bound, or one per channel) after
    every step."""

    lo: float | tuple[float, ...]
    hi: float | tuple[float, ...]
    stage = "project"

    def __call__(self, x: tf.Tensor, seed: tf.Tensor | None = None) -> tf.Tensor:
        import tensorflow as tf

        return tf.clip_by_value(x, self.lo, self.hi)


@dataclass(frozen=True)
class Sigmoid:
    """Parameterize the image as ``lo + (hi - lo)·sigmoid(u)``: it never leaves [lo, hi]."""

    lo: float
    hi: float
    stage = "param"

    def tf_forward(self, u: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        return self.lo + (self.hi - self.lo) * tf.sigmoid(u)

    __call__ = tf_forward

    def forward(self, u: NDArray[np.floating]) -> NDArray[np.float32]:
        e: NDArray[np.floating] = np.exp(-u)
        return (self.lo + (self.hi - self.lo) / (1.0 + e)).astype(np.float32)

    def inverse(self, x: NDArray[np.floating]) -> NDArray[np.float32]:
        p: NDArray[np.float64] = np.clip(
            (np.asarray(x, np.float64) - self.lo) / (self.hi - self.lo), 1e-4, 1 - 1e-4
        )
        return np.log(p / (1.0 - p)).astype(np.float32)


STAGES = ("input", "penalty", "gradient", "project", "param")
#: the largest --jitter (pixels): the API and the CLI check the same limit
MAX_JITTER = 16


def from_flags(jitter: int = 0, tv: float = 0.0, blur: float = 0.0) -> tuple[Transform, ...]:
    """The transform list the CLI's scalar flags stand for (empty: the articles' step)."""
    out: list[Transform] = []
    if jitter:
        out.append(Jitter(int(jitter)))
    if tv:
        out.append(TotalVariation(float(tv)))
    if blur:
        out.append(Blur(float(blur)))
    return tuple(out)


def _is_transform(t: object) -> TypeGuard[Transform]:
    return getattr(t, "stage", None) in STAGES and callable(t)


def check(transforms: Iterable[object] | None) -> tuple[Transform, ...]:
    """Validate a transform list; returns it as a tuple."""
    given = tuple(transforms or ())
    if sum(getattr(t, "stage", None) == "param" for t in given) > 1:
        raise OipvizError("at most one parameterization (stage 'param') per transform list")
    checked: list[Transform] = []
    for t in given:
        if not _is_transform(t):
            raise OipvizError(f"{t!r} is not a transform (needs a .stage in {STAGES} and __call__)")
        for v in vars(t).values():
            vals = v if isinstance(v, tuple) else (v,)
            if any(isinstance(u, float) and not math.isfinite(u) for u in vals):
                raise OipvizError(f"{t!r}: parameters must be finite")
        checked.append(t)
    return tuple(checked)


def describe(transforms: Iterable[object]) -> list[str]:
    """Readable names for manifests, e.g. ``['Jitter(px=2)', 'Blur(sigma=0.5)']``."""
    return [repr(t) for t in transforms]
