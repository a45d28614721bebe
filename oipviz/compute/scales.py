"""DeepDream's geometry: bicubic resampling, contrast matching, and the plan of scales
(octaves) and tiles a dream of a given size runs at."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from oipviz.core.errors import ImageError, OipvizError
from oipviz.core.images import MIN_SIDE

PANEL_MAX = 1024  # round panels kept for display are at most this many px wide/high
DEFAULT_OCTAVE_SCALE = 1.4
MAX_TILES = 20_000  # per round: beyond this the user asked for something absurd


def resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a float plane (H, W), or of each channel of (H, W, C), to
    ``size`` = (width, height).

    Pillow's bicubic filter widens with the downscale factor (antialiased), like the
    articles' bicubic interpolation without the aliasing of a 4×4 sampled kernel.
    """
    a = np.asarray(a, np.float32)
    if a.ndim == 3:
        return np.stack([resize(a[..., c], size) for c in range(a.shape[2])], axis=-1)
    if (a.shape[1], a.shape[0]) == tuple(size):
        return a.copy()
    im = Image.fromarray(np.ascontiguousarray(a))  # mode F
    width, height = size
    return np.asarray(im.resize((int(width), int(height)), Image.Resampling.BICUBIC), np.float32)


def display_copy(a: np.ndarray) -> np.ndarray:
    """A copy for display: shrunk to fit PANEL_MAX px (keeps memory bounded on big photos)."""
    h, w = a.shape[:2]
    f = PANEL_MAX / max(h, w)
    return a.copy() if f >= 1 else resize(a, (max(1, round(w * f)), max(1, round(h * f))))


def match_contrast(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Rescale ``x`` to ``ref``'s mean and standard deviation (per channel of (H, W, C)
    images), then clip to [0,1]."""
    if x.ndim == 3 and x.shape[2] > 1:
        return np.stack(
            [match_contrast(x[..., c], ref[..., c]) for c in range(x.shape[2])], axis=-1
        )
    sd = float(x.std())
    target_sd = float(ref.std())
    y = (x - x.mean()) * (target_sd / sd if sd > 1e-8 else 1.0) + float(ref.mean())
    return np.clip(y, 0.0, 1.0).astype(np.float32)


@dataclass
class Octave:
    """One octave: the luminance size (w, h), the tile size in px (None: whole image)."""

    size: tuple[int, int]
    tile: int | None

    def grid(self) -> tuple[int, int]:
        """Tiles across and down (1×1 without tiling)."""
        if self.tile is None:
            return 1, 1
        w, h = self.size
        return -(-w // self.tile), -(-h // self.tile)

    @property
    def n_tiles(self) -> int:
        nx, ny = self.grid()
        return nx * ny


def plan(
    width: int,
    height: int,
    tile: int | None = None,
    octaves: int = 1,
    octave_scale: float = DEFAULT_OCTAVE_SCALE,
    side: int = MIN_SIDE,
) -> list[Octave]:
    """The scales (coarse to fine) a dream of a ``width``×``height`` image runs at, for a
    model of ``side`` px (28 for MNIST CNNs): tiles and scales are at least that big.

    With ``octaves`` > 1 and no ``tile``, the coarsest scale is dreamt whole and the finer
    ones are tiled with tiles of that size.
    """
    if width < side or height < side:
        raise ImageError(f"image is {width}×{height}; DeepDream needs at least {side}×{side} px")
    if octaves < 1:
        raise OipvizError("--octaves must be at least 1")
    if octave_scale <= 1.0 and octaves > 1:
        raise OipvizError("--octave-scale must be larger than 1")
    if tile is not None and tile < side:
        raise OipvizError(
            f"--tile must be at least {side} px (tiles are downscaled to the model's {side}×{side})"
        )
    sizes = []
    for i in range(octaves - 1, -1, -1):
        f = octave_scale**i
        sizes.append((max(side, round(width / f)), max(side, round(height / f))))
    sizes = list(dict.fromkeys(sizes))  # tiny images: scales that collapse to 28 px once
    if tile is None and len(sizes) > 1:
        tile = max(side, min(sizes[0]))
    scales = []
    for w, h in sizes:
        t = None if tile is None else min(tile, max(w, h))
        scales.append(Octave((w, h), t))
    n = max(s.n_tiles for s in scales)
    if n > MAX_TILES:
        raise OipvizError(
            f"{n} tiles per round is too many (limit {MAX_TILES}); use a larger --tile"
        )
    return scales


def total_image_steps(scales: list[Octave], iters: int, steps: int) -> int:
    """Image-steps the engine will run (for progress bars)."""
    return sum(s.n_tiles for s in scales) * iters * steps


def equal_chunk(n: int, most: int = 2048) -> int:
    """Equal chunks of at most ``most`` images (the engine pads the last one: no waste)."""
    return -(-n // -(-n // most)) if n else 1
