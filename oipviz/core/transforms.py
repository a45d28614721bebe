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


def _affine(
    x: tf.Tensor, seed: tf.Tensor, scale_range: tuple[float, float], degrees: float
) -> tf.Tensor:
    """Per-image random scale and rotation about the centre (bilinear, reflected edges)."""
    import tensorflow as tf

    B = tf.shape(x)[0]
    s = tf.random.stateless_uniform([B], seed + [0, 7], scale_range[0], scale_range[1])
    a = tf.random.stateless_uniform([B], seed + [0, 13], -degrees, degrees) * (math.pi / 180.0)
    c, si = tf.cos(a) / s, tf.sin(a) / s
    ctr = 13.5
    # output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2)
    a2 = ctr - c * ctr + si * ctr
    b2 = ctr - si * ctr - c * ctr
    z = tf.zeros_like(c)
    m = tf.stack([c, -si, a2, si, c, b2, z, z], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=m,
        output_shape=tf.shape(x)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


@dataclass(frozen=True)
class Scale:
    """Random zoom by a factor in [lo, hi] per image."""

    lo: float = 0.95
    hi: float = 1.05
    stage = "input"

    def __call__(self, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return _affine(x, seed, (self.lo, self.hi), 0.0)


@dataclass(frozen=True)
class Rotate:
    """Random rotation by up to ±``degrees`` per image."""

    degrees: float = 5.0
    stage = "input"

    def __call__(self, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return _affine(x, seed, (1.0, 1.0), self.degrees)


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

        dy = x[:, 1:, :, :] - x[:, :-1, :, :]
        dx = x[:, :, 1:, :] - x[:, :, :-1, :]
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
