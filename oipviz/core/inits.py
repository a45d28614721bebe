"""Start images for the ascent, in engine space (standardized pixels).

* :func:`fluctuations`: random fluctuations on several length scales (cells of 1, 2, 4
  and 7 px), each upsampled bicubically, weighted, summed and standardized;
  reproducible from (seed, map, init index).
* :func:`constant`, :func:`from_images`.
* :func:`precursor_patterns`: the precursor's coarse g×g patterns, by index.
"""

from __future__ import annotations

import cv2
import numpy as np

from oipviz.core.errors import OipvizError

GRIDS = (28, 14, 7, 4)  # cells of 1, 2, 4 and 7 px on 28×28; fractions of any image
DEFAULT_SCALE_WEIGHTS = (0.5, 0.5, 1.0, 1.0)
MNIST_SHAPE = (28, 28, 1)


def standardize(x: np.ndarray) -> np.ndarray:
    """Per-image zero mean and unit std (a flat image becomes all zeros)."""
    x = np.asarray(x, np.float32)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return np.where(std > 1e-6, (x - mean) / np.maximum(std, 1e-6), 0.0).astype(np.float32)


def upsample(grid: np.ndarray, size: int | tuple[int, int] = 28) -> np.ndarray:
    """Bicubic upsampling (OpenCV) of a 2-D array (or H×W×C) to ``size`` (side, or
    (height, width))."""
    h, w = (size, size) if isinstance(size, int) else size
    a = np.asarray(grid, np.float32)
    out = cv2.resize(a, (int(w), int(h)), interpolation=cv2.INTER_CUBIC)
    return out.reshape(int(h), int(w), *a.shape[2:])


def fluctuation(
    rng: np.random.Generator, scale_weights=DEFAULT_SCALE_WEIGHTS, shape=MNIST_SHAPE
) -> np.ndarray:
    """One multi-scale fluctuation image of ``shape`` (H, W, C), standardized.  The grids
    are the articles' 28, 14, 7 and 4 cells per side (1, 2, 4 and 7 px on 28×28): on
    another image the same fractions of it (capped at one cell per pixel)."""
    if len(scale_weights) != len(GRIDS):
        raise OipvizError(f"need {len(GRIDS)} scale weights (cells of 1, 2, 4, 7 px on 28×28)")
    h, w, c = shape
    img = np.zeros((h, w, c), np.float32)
    for g, wt in zip(GRIDS, scale_weights, strict=True):
        gh, gw = min(g, h), min(g, w)
        cells = rng.uniform(0.0, 1.0, (gh, gw, c)).astype(np.float32)
        if wt:
            img += float(wt) * (
                cells
                if (gh, gw) == (h, w)
                else upsample(cells[..., 0] if c == 1 else cells, (h, w)).reshape(h, w, c)
            )
    return standardize(img[None])[0]


def fluctuations(
    maps, n_inits: int, seed: int = 0, scale_weights=DEFAULT_SCALE_WEIGHTS, shape=MNIST_SHAPE
) -> np.ndarray:
    """Inits for each map × init index: (len(maps)·n_inits, H, W, C), map-major.

    Image (m, i) depends only on (seed, m, i), so a map's inits don't change when
    other maps are added or removed.
    """
    out = np.empty((len(maps) * n_inits, *shape), np.float32)
    k = 0
    for m in maps:
        for i in range(n_inits):
            rng = np.random.default_rng([int(seed), int(m), i])
            out[k] = fluctuation(rng, scale_weights, shape)
            k += 1
    return out


def constant(n: int, value: float, convention, shape=MNIST_SHAPE) -> np.ndarray:
    """``n`` flat images of gray ``value`` (in [0,1]), in engine space."""
    return convention.to_engine(np.full((n, *shape), value, np.float32))


def from_images(x01: np.ndarray, convention, shape=MNIST_SHAPE) -> np.ndarray:
    """Images in [0,1] to engine space, shaped (N, H, W, C)."""
    return convention.to_engine(np.asarray(x01, np.float32).reshape(-1, *shape))


def pattern_count(grid: int, n_values: int) -> int:
    return int(n_values) ** (int(grid) ** 2)


def pattern_digits(indices, grid: int, n_values: int) -> np.ndarray:
    """Base-V digits of pattern indices: (N, grid, grid) value indices, row-major,
    most significant digit first."""
    idx = np.asarray(indices, dtype=np.int64)
    n = grid * grid
    powers = np.int64(n_values) ** np.arange(n - 1, -1, -1, dtype=np.int64)
    return ((idx[:, None] // powers[None, :]) % n_values).reshape(-1, grid, grid)


def pattern_index(digits: np.ndarray, n_values: int) -> np.ndarray:
    """Inverse of :func:`pattern_digits`."""
    d = np.asarray(digits, dtype=np.int64).reshape(len(digits), -1)
    powers = np.int64(n_values) ** np.arange(d.shape[1] - 1, -1, -1, dtype=np.int64)
    return d @ powers


def pattern_pixels(indices, grid: int = 3, values=(0.2, 0.5, 0.8), shape=MNIST_SHAPE) -> np.ndarray:
    """Patterns ``indices`` as pixels: g×g squares of the given grey values (in [0, 1]),
    upsampled bicubically to the image size (which may overshoot [0, 1] a little at the
    edges) and the same on every channel; or squares of a colour palette's RGB triples on
    a colour image; (N, H, W, C)."""
    h, w, c = shape
    vals = np.asarray(values, np.float32)
    coarse = vals[pattern_digits(indices, grid, len(vals))]  # (N, g, g) or (N, g, g, 3)
    planes = coarse[..., None] if coarse.ndim == 3 else coarse
    out = np.empty((len(coarse), h, w, planes.shape[-1]), np.float32)
    for k, g in enumerate(planes):
        for ch in range(planes.shape[-1]):
            out[k, :, :, ch] = upsample(g[..., ch], (h, w))
    return np.repeat(out, c, axis=3) if out.shape[-1] == 1 and c > 1 else out


def precursor_patterns(
    indices, grid: int = 3, values=(0.2, 0.5, 0.8), shape=MNIST_SHAPE
) -> np.ndarray:
    """The articles' patterns ``indices``: :func:`pattern_pixels`, standardized per image;
    (N, H, W, C) in engine space."""
    return standardize(pattern_pixels(indices, grid, values, shape))
