"""The Python API's one input contract for images, applied by every function that takes
them (explain, predict, activations, embed and clusters data, the tracker's probes).

* uint8 arrays are pixels 0–255 and are scaled to [0, 1] (what :func:`oipviz.load_dataset`
  returns); uint16 arrays are pixels 0–65535.
* Float arrays must be pixels in [0, 1]; anything else is an :class:`OipvizError` naming
  the range found and how to convert.
* Shapes are checked against the model's geometry: (H, W), (N, H, W), (H, W, C),
  (N, H, W, C), or flat vectors for a flat model.  A grey image given to a colour model is
  repeated over R, G and B (a colour image given to a grey model becomes its luminance),
  with a note.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from oipviz.core.convention import Geometry
from oipviz.core.errors import OipvizError

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601, as Pillow's "L"


def _as_unit_floats(a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    if a.dtype == bool or not np.issubdtype(a.dtype, np.number):
        raise OipvizError(
            f"{what} must be numbers (uint8 0–255 or floats in [0, 1]), got {a.dtype}"
        )
    x = a.astype(np.float32)
    if not np.isfinite(x).all():
        raise OipvizError(f"{what} contain NaN or infinite values")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if lo < 0.0 or hi > 1.0:
        hint = (
            "divide by 255 (or pass uint8 arrays)"
            if hi <= 255.0 and lo >= 0.0
            else (
                "scale them into [0, 1]; engine-space arrays convert with "
                "loaded.convention.from_engine"
            )
        )
        raise OipvizError(
            f"{what} hold values in [{lo:.4g}, {hi:.4g}]; oipviz takes pixels in [0, 1]: {hint}"
        )
    return x


def as_pixels(
    images: ArrayLike, geometry: Geometry, what: str = "images"
) -> tuple[NDArray[np.float32], list[str]]:
    """``images`` as float32 pixels in [0, 1], shaped (N, H, W, C) for ``geometry``.

    Parameters
    ----------
    images : array-like
        See the module docstring for what is accepted.
    geometry : Geometry
        The model's (``loaded.geometry``).
    what : str
        Names the argument in error messages.

    Returns
    -------
    (ndarray, list of str)
        The images and the notes of conversions made (e.g. grey to colour).
    """
    a = np.asarray(images)
    x = _as_unit_floats(a, what)
    h, w, c = geometry.shape
    x = _batched(x, (h, w, c), what)
    notes = []
    if x.shape[-1] != c:
        if x.shape[-1] == 1 and c == 3:
            x = np.repeat(x, 3, axis=-1)
            notes.append(f"grey {what} given to a colour model: repeated over R, G and B")
        elif x.shape[-1] == 3 and c == 1:
            x = (x @ LUMA)[..., None]
            notes.append(f"colour {what} given to a grey model: converted to luminance")
        else:
            raise OipvizError(f"{what} have {x.shape[-1]} channels; the model takes {c}")
    if len(x) == 0:
        raise OipvizError(f"{what} is empty")
    return np.ascontiguousarray(x, np.float32), notes


def _batched(x: np.ndarray, shape: tuple[int, int, int], what: str) -> np.ndarray:
    """(N, H, W, C') from the accepted shapes (C' may still differ from the model's)."""
    h, w, c = shape
    if x.ndim >= 1 and x.shape[-2:] == (h, w) and x.ndim in (2, 3):
        return x.reshape(-1, h, w, 1)  # (H, W) or (N, H, W)
    if x.ndim in (3, 4) and x.shape[-3:-1] == (h, w) and x.shape[-1] in (1, 3):
        return x.reshape(-1, h, w, x.shape[-1])  # (H, W, C) or (N, H, W, C)
    if x.ndim in (1, 2) and x.shape[-1] == h * w * c:
        return x.reshape(-1, h, w, c)  # flat vectors
    got = "×".join(str(d) for d in x.shape)
    raise OipvizError(
        f"{what} have shape {got}; the model takes {h}×{w} images with {c} channel(s): give "
        f"(N, {h}, {w}{', ' + str(c) if c > 1 else ''}) arrays (resize other sizes first)"
    )
