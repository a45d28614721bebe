"""Unique OIPs?  How alike are the OIPs a map reaches from different inits, once aligned
(the articles' "Unique OIPs?" question): the best normalized cross-correlation over
translations (circular shifts up to ``max_shift`` px), computed with FFTs."""

from __future__ import annotations

import numpy as np

#: a map whose inits agree at least this much (median aligned similarity) is "unique"
#: (on conv3 map 46 eight in-range inits draw visibly the same strokes at 0.56)
UNIQUE_AT = 0.5


def _prep(x: np.ndarray) -> np.ndarray:
    """(K,H,W) or (K,H,W,C) images as (K,H,W,C), each centred and of unit norm."""
    x = np.asarray(x, np.float64)
    x = x.reshape(*x.shape[:3], -1)
    x = x - x.mean(axis=(1, 2, 3), keepdims=True)
    n = np.sqrt((x**2).sum(axis=(1, 2, 3), keepdims=True))
    return np.where(n > 1e-12, x / np.maximum(n, 1e-12), 0.0)


def similarity_matrix(images: np.ndarray, max_shift: int = 7) -> np.ndarray:
    """(K,K): aligned similarity of every pair of K images ((K,H,W) or colour (K,H,W,C)),
    1 on the diagonal.

    The similarity of two images is the largest normalized cross-correlation over
    circular shifts of at most ``max_shift`` px in each direction; a shifted copy of an
    image scores exactly 1, a flat image 0."""
    x = _prep(images)
    h, w = x.shape[1:3]
    F = np.fft.rfft2(x, axes=(1, 2))  # (K,H,W',C)
    cross = (F[:, None] * np.conj(F[None, :])).sum(axis=-1)  # channels summed
    corr = np.fft.irfft2(cross, s=(h, w), axes=(2, 3))  # (K,K,H,W)
    rows = np.r_[0 : min(max_shift, h - 1) + 1, max(h - max_shift, max_shift + 1) : h]
    cols = np.r_[0 : min(max_shift, w - 1) + 1, max(w - max_shift, max_shift + 1) : w]
    sim = corr[:, :, rows][:, :, :, cols].max(axis=(2, 3))
    return np.clip(sim, -1.0, 1.0)


def median_similarity(sim: np.ndarray) -> float:
    """Median over the off-diagonal pairs (1.0 for a single image)."""
    k = len(sim)
    return 1.0 if k < 2 else float(np.median(sim[~np.eye(k, dtype=bool)]))


def label(median: float) -> str:
    """``unique`` or ``several forms``."""
    return "unique" if median >= UNIQUE_AT else "several forms"
