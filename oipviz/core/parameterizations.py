"""Image parameterizations (stage ``param``): the ascent runs on a variable ``u`` and the
image is ``f(u)``, as in lucid's ``optvis.param`` and Xplique's feature visualization.

:class:`Spectral` is lucid's Fourier parameterization with its decorrelated colour space:
the variable is the image's spectrum, scaled by ``1/f^decay`` (so a normalized step moves
low frequencies more than high ones), per channel; for 3-channel images the spectrum
holds decorrelated colours, which the square root of ImageNet's colour correlation maps
back to RGB; with bounds, a sigmoid keeps every pixel in range (lucid's order: decorrelate,
then sigmoid).

The spectrum is stored in its real Hartley form ``Re F - Im F`` (``F`` the 2-D DFT): the
same H·W degrees of freedom as the real FFT's half spectrum, without its redundant
entries (the imaginary parts of the DC and Nyquist terms, the mirrored halves of those
columns).  So the variable has the image's own shape and ``inverse(forward(u)) == u``
for every ``u`` (up to float error, and to the sigmoid's saturation when bounded), which
the lucid layout cannot offer.  The Hartley coefficients are an orthogonal rotation of the
Fourier ones, so gradient steps on them are steps on the Fourier spectrum.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from oipviz.core.errors import OipvizError

if TYPE_CHECKING:
    import tensorflow as tf

#: lucid's ``color_correlation_svd_sqrt``: the square root of ImageNet's RGB correlation
COLOR_CORRELATION_SVD_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float64
)
#: normalised by its largest column norm (lucid's ``max_norm_svd_sqrt``): decorrelated
#: colour -> RGB is ``rgb = COLOR_MIX @ c``
COLOR_MIX = COLOR_CORRELATION_SVD_SQRT / np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0).max()
COLOR_UNMIX = np.linalg.inv(COLOR_MIX)
#: the inverse sigmoid clips its argument to [EPS, 1 - EPS] (as :class:`Sigmoid` does)
EPS = 1e-4

Bound = float | tuple[float, ...] | None


@functools.lru_cache(maxsize=32)
def spectrum_scale(height: int, width: int, decay: float) -> NDArray[np.float64]:
    """The (H, W) weight of each frequency: ``(f_max / max(f, 1/max(H, W)))^decay``, ``f``
    in cycles per pixel, ``f_max`` the highest on the grid.  lucid's ``1/f^decay`` shape,
    scaled so the finest detail keeps weight 1: along a gradient of fine detail (what a
    CNN's input gradient mostly is) a step of RMS ``lr`` moves the image as a pixel step
    of RMS ``lr`` does, and coarser structure moves further.

    Parameters
    ----------
    height, width : int
        The image size.
    decay : float
        The spectrum's power-law exponent (0: no weighting).

    Returns
    -------
    ndarray
        (H, W) float64, >= 1.
    """
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :]
    f = np.maximum(np.sqrt(fy**2 + fx**2), 1.0 / max(height, width))
    return (f.max() / f) ** decay


def hartley(x: NDArray[np.floating]) -> NDArray[np.float64]:
    """The orthonormal 2-D discrete Hartley transform over the spatial axes of
    (..., H, W, C) arrays; it is its own inverse."""
    h, w = x.shape[-3], x.shape[-2]
    F = np.fft.fft2(np.asarray(x, np.float64), axes=(-3, -2))
    return (F.real - F.imag) / math.sqrt(h * w)


def _tf_hartley(u: tf.Tensor) -> tf.Tensor:
    """:func:`hartley` of a (B, H, W, C) float32 tensor."""
    import tensorflow as tf

    h, w = int(u.shape[1]), int(u.shape[2])
    t = tf.transpose(u, [0, 3, 1, 2])  # fft2d acts on the last two axes
    F = tf.signal.fft2d(tf.complex(t, tf.zeros_like(t)))
    y = (tf.math.real(F) - tf.math.imag(F)) / math.sqrt(h * w)
    return tf.transpose(y, [0, 2, 3, 1])


def _bounds(lo: Bound, hi: Bound) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    if lo is None and hi is None:
        return None
    if lo is None or hi is None:
        raise OipvizError("Spectral: give both bounds lo and hi, or neither")
    a, b = np.atleast_1d(np.asarray(lo, np.float64)), np.atleast_1d(np.asarray(hi, np.float64))
    if a.shape != b.shape or not np.all(b > a):
        raise OipvizError(f"Spectral: need lo < hi (one bound, or one per channel); got {lo}, {hi}")
    return a, b


@dataclass(frozen=True)
class Spectral:
    """lucid's Fourier image parameterization, with decorrelated colour.

    The image (engine space, (B, H, W, C)) is ``hartley(spectrum_scale · u)`` per channel;
    for C = 3 and ``decorrelate``, its channels are decorrelated colours mixed to RGB by
    :data:`COLOR_MIX`; with bounds ``lo``/``hi`` (one, or one per channel), it is
    ``lo + (hi - lo)·sigmoid(·)`` of that, so it never leaves [lo, hi].

    Parameters
    ----------
    decay : float
        The spectrum's 1/f exponent (lucid's ``decay_power``; 0: a plain orthogonal change
        of basis).
    decorrelate : bool
        Use the decorrelated colour space for 3-channel images (ignored for grey ones).
    lo, hi : float or tuple of float, optional
        The range the image must keep (engine space); None: unbounded.
    """

    decay: float = 1.0
    decorrelate: bool = True
    lo: Bound = None
    hi: Bound = None
    stage = "param"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.decay) and 0.0 <= self.decay <= 4.0):
            raise OipvizError(f"Spectral: decay must be in [0, 4]; got {self.decay}")
        _bounds(self.lo, self.hi)

    def var_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The variable's shape: the image's own (H, W, C) (the Hartley spectrum)."""
        return tuple(image_shape)

    def _mixes(self, channels: int) -> bool:
        return self.decorrelate and channels == 3

    def tf_forward(self, u: tf.Tensor) -> tf.Tensor:
        """The images of a batch of spectra (B, H, W, C), float32."""
        import tensorflow as tf

        h, w, c = (int(d) for d in u.shape[1:])
        s = tf.constant(spectrum_scale(h, w, float(self.decay))[:, :, None], tf.float32)
        y = _tf_hartley(u * s)
        if self._mixes(c):
            y = tf.tensordot(y, tf.constant(COLOR_MIX.T, tf.float32), axes=1)
        bounds = _bounds(self.lo, self.hi)
        if bounds is None:
            return y
        lo, hi = (tf.constant(v, tf.float32) for v in bounds)
        return lo + (hi - lo) * tf.sigmoid(y)

    __call__ = tf_forward

    def forward(self, u: NDArray[np.floating]) -> NDArray[np.float32]:
        """:meth:`tf_forward` in numpy (float64 inside)."""
        u = np.asarray(u, np.float64)
        h, w, c = u.shape[-3:]
        y = hartley(u * spectrum_scale(h, w, float(self.decay))[:, :, None])
        if self._mixes(c):
            y = y @ COLOR_MIX.T
        bounds = _bounds(self.lo, self.hi)
        if bounds is not None:
            y = bounds[0] + (bounds[1] - bounds[0]) / (1.0 + np.exp(-y))
        return y.astype(np.float32)

    def inverse(self, x: NDArray[np.floating]) -> NDArray[np.float32]:
        """The spectra of images (..., H, W, C); bounded: pixels at or beyond a bound are
        taken as EPS inside it."""
        y = np.asarray(x, np.float64)
        h, w, c = y.shape[-3:]
        bounds = _bounds(self.lo, self.hi)
        if bounds is not None:
            p = np.clip((y - bounds[0]) / (bounds[1] - bounds[0]), EPS, 1.0 - EPS)
            y = np.log(p / (1.0 - p))
        if self._mixes(c):
            y = y @ COLOR_UNMIX.T
        u = hartley(y) / spectrum_scale(h, w, float(self.decay))[:, :, None]
        return u.astype(np.float32)
