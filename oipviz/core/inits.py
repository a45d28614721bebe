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

GRIDS = (28, 14, 7, 4)  # cells of 1, 2, 4 and 7 px on 28×28
DEFAULT_SCALE_WEIGHTS = (0.5, 0.5, 1.0, 1.0)


def standardize(x: np.ndarray) -> np.ndarray:
    """Per-image zero mean and unit std (a flat image becomes all zeros)."""
    x = np.asarray(x, np.float32)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return np.where(std > 1e-6, (x - mean) / np.maximum(std, 1e-6), 0.0).astype(np.float32)


def upsample(grid: np.ndarray, size: int = 28) -> np.ndarray:
    """Bicubic upsampling (OpenCV) of one 2-D array to size×size."""
    return cv2.resize(np.asarray(grid, np.float32), (size, size), interpolation=cv2.INTER_CUBIC)


def fluctuation(rng: np.random.Generator, scale_weights=DEFAULT_SCALE_WEIGHTS) -> np.ndarray:
    """One multi-scale fluctuation image (28,28), standardized."""
    if len(scale_weights) != len(GRIDS):
        raise ValueError(f"need {len(GRIDS)} scale weights (cells of 1, 2, 4, 7 px)")
    img = np.zeros((28, 28), np.float32)
    for g, w in zip(GRIDS, scale_weights):
        cells = rng.uniform(0.0, 1.0, (g, g)).astype(np.float32)
        if w:
            img += float(w) * (cells if g == 28 else upsample(cells))
    return standardize(img[None])[0]


def fluctuations(
    maps, n_inits: int, seed: int = 0, scale_weights=DEFAULT_SCALE_WEIGHTS
) -> np.ndarray:
    """Inits for each map × init index: (len(maps)·n_inits, 28, 28, 1), map-major.

    Image (m, i) depends only on (seed, m, i), so a map's inits don't change when
    other maps are added or removed.
    """
    out = np.empty((len(maps) * n_inits, 28, 28, 1), np.float32)
    k = 0
    for m in maps:
        for i in range(n_inits):
            rng = np.random.default_rng([int(seed), int(m), i])
            out[k, :, :, 0] = fluctuation(rng, scale_weights)
            k += 1
    return out


def constant(n: int, value: float, convention) -> np.ndarray:
    """``n`` flat images of gray ``value`` (in [0,1]), in engine space."""
    return convention.to_engine(np.full((n, 28, 28, 1), value, np.float32))


def from_images(x01: np.ndarray, convention) -> np.ndarray:
    """Images in [0,1] (N,28,28[,1]) to engine space."""
    return convention.to_engine(np.asarray(x01, np.float32).reshape(-1, 28, 28, 1))


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


def precursor_patterns(indices, grid: int = 3, values=(0.2, 0.5, 0.8)) -> np.ndarray:
    """Patterns ``indices``: g×g squares of the given values, upsampled bicubically
    to 28×28 and standardized; (N,28,28,1) in engine space."""
    vals = np.asarray(values, np.float32)
    coarse = vals[pattern_digits(indices, grid, len(vals))]
    out = np.empty((len(coarse), 28, 28, 1), np.float32)
    for k, c in enumerate(coarse):
        out[k, :, :, 0] = upsample(c)
    return standardize(out)
