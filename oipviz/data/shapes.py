"""``shapes``: a seeded procedural colour data set that oipviz generates itself.

Each image is 32×32×3 uint8: one shape (circle, square, triangle, cross) in one colour
(red, yellow, green, cyan, blue, magenta) over a noisy background.  The class is shape
*and* colour, named in words: ``"red circle"`` … ``"magenta cross"`` (24 classes, label =
colour × 4 + shape).  Six hues rather than three: with only red, green and blue a model
can call a shape green because it is neither red nor blue, and then the OIP of a green
class need not be green; with the hues in between, every colour must be seen for itself.

What varies, per image, so that no single pixel gives the class away:

- the shape's area (50 to 190 px², the same range for every shape), its rotation (any
  angle) and its position (always wholly inside the image: the edge pixels stay clear);
- its colour: hue within ±20° of its colour's (60° apart), saturation 0.6–1, value
  0.55–1;
- the background: a grey level (0.05–0.75) with a faint tint (±0.08 per channel), smooth
  coloured blotches (a 4×4 grid of noise, σ 0.07, upsampled bilinearly) and pixel noise
  (uniform, standard deviation 0.01–0.06 per image) that also lies over the shape.

Edges are anti-aliased (OpenCV polygons with sub-pixel vertices).  The same ``seed`` and
size always give the same bytes; 60,000 images take a few seconds.
"""

from __future__ import annotations

import numpy as np

from oipviz.core.errors import DataError
from oipviz.data.dataset import Dataset

SIZE = 32
SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = {  # base hue, degrees
    "red": 0.0,
    "yellow": 60.0,
    "green": 120.0,
    "cyan": 180.0,
    "blue": 240.0,
    "magenta": 300.0,
}
CLASS_NAMES = tuple(f"{colour} {shape}" for colour in COLOURS for shape in SHAPES)
N_TRAIN, N_TEST = 50_000, 10_000
MAX_SAMPLES = 1_000_000
AREA = (50.0, 190.0)  # px², every shape
HUE_JITTER = 20.0
SATURATION = (0.6, 1.0)
VALUE = (0.55, 1.0)
BACKGROUND = (0.05, 0.75)
TINT = 0.08
BLOTCH_GRID = 4
BLOTCH_GREY, BLOTCH_COLOUR = 0.0, 0.07  # σ of the blotches' grey and colour parts
PIXEL_NOISE = (0.01, 0.06)
CHUNK = 4096
SUBPIXEL = 4  # OpenCV fixed-point bits for vertices: 1/16 px


def _unit_polygon(shape: str) -> np.ndarray:
    """Vertices (k, 2) of ``shape`` centred on 0 with circumradius 1."""
    if shape == "cross":
        w = 0.3
        quarter = [(w, 1.0), (w, w), (1.0, w)]
        pts = []
        for k in range(4):  # the same corner turned clockwise by k × 90°
            c, s = np.cos(-k * np.pi / 2), np.sin(-k * np.pi / 2)
            pts += [(c * x - s * y, s * x + c * y) for x, y in quarter]
        return np.asarray(pts) / np.hypot(1.0, w)
    corners = {"circle": 48, "square": 4, "triangle": 3}[shape]
    t = np.arange(corners) * 2 * np.pi / corners + {"circle": 0, "square": np.pi / 4}.get(
        shape, -np.pi / 2
    )
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def _area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


POLYGONS = {s: _unit_polygon(s) for s in SHAPES}
UNIT_AREA = {s: _area(p) for s, p in POLYGONS.items()}


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(n, 3) RGB in [0, 1] from hue in degrees, saturation and value (arrays of n)."""
    k = (np.array([5.0, 3.0, 1.0]) + (h[:, None] % 360) / 60.0) % 6
    return v[:, None] * (1 - s[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1))


def _upsampler(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) bilinear interpolation weights (pixel centres aligned)."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), lo), 1 - (pos - lo))
    np.add.at(m, (np.arange(n_out), hi), pos - lo)
    return m


def _draw_masks(shape: np.ndarray, params: dict) -> np.ndarray:
    """Anti-aliased coverage masks (n, 32, 32) uint8 of each image's polygon."""
    import cv2

    masks = np.zeros((len(shape), SIZE, SIZE), np.uint8)
    c, s = np.cos(params["angle"]), np.sin(params["angle"])
    for k, name in enumerate(SHAPES):
        idx = np.flatnonzero(shape == k)
        px, py = POLYGONS[name][:, 0], POLYGONS[name][:, 1]
        r = params["radius"][idx, None]
        x = params["cx"][idx, None] + r * (c[idx, None] * px - s[idx, None] * py)
        y = params["cy"][idx, None] + r * (s[idx, None] * px + c[idx, None] * py)
        fixed = np.rint(np.stack([x, y], axis=2) * (1 << SUBPIXEL)).astype(np.int32)
        for i, pts in zip(idx, fixed, strict=True):
            cv2.fillPoly(masks[i], [pts], 255, lineType=cv2.LINE_AA, shift=SUBPIXEL)
    return masks


def _draw_params(labels: np.ndarray, rng: np.random.Generator) -> dict:
    """Per-image geometry, colour and background parameters (all drawn up front)."""
    n = len(labels)
    shape = labels % len(SHAPES)
    unit_area = np.array([UNIT_AREA[s] for s in SHAPES])[shape]
    radius = np.sqrt(rng.uniform(*AREA, n) / unit_area)
    lo, hi = radius + 2.5, SIZE - 3.5 - radius  # OpenCV's AA fill reaches ~1.5 px out
    hue = np.array(list(COLOURS.values()))[labels // len(SHAPES)]
    return {
        "radius": radius,
        "angle": rng.uniform(0, 2 * np.pi, n),
        "cx": rng.uniform(lo, hi),
        "cy": rng.uniform(lo, hi),
        "colour": _hsv_to_rgb(
            hue + rng.uniform(-HUE_JITTER, HUE_JITTER, n),
            rng.uniform(*SATURATION, n),
            rng.uniform(*VALUE, n),
        ),
        "level": rng.uniform(*BACKGROUND, n)[:, None] + rng.uniform(-TINT, TINT, (n, 3)),
        "noise": rng.uniform(*PIXEL_NOISE, n),
    }


def _compose(masks: np.ndarray, p: dict, sl: slice, rng: np.random.Generator) -> np.ndarray:
    """Images (m, 32, 32, 3) uint8 for the images ``sl``: background, shape, noise.

    The arithmetic runs channels-first (m, 3, 32, 32), so numpy's inner loops run over
    whole rows, not over 3 channels."""
    m = len(masks)
    up = _upsampler(BLOTCH_GRID, SIZE).astype(np.float32)
    grid = rng.standard_normal((m, 4, BLOTCH_GRID, BLOTCH_GRID), dtype=np.float32)
    grid = grid[:, :1] * BLOTCH_GREY + grid[:, 1:] * BLOTCH_COLOUR
    background = up @ grid @ up.T
    background += p["level"][sl, :, None, None].astype(np.float32)
    alpha = masks[:, None].astype(np.float32) / 255.0
    colour = p["colour"][sl, :, None, None].astype(np.float32)
    img = background + alpha * (colour - background)
    noise = rng.random(img.shape, dtype=np.float32) - 0.5  # uniform: 3× faster than normal
    img += noise * (np.sqrt(12.0) * p["noise"][sl, None, None, None]).astype(np.float32)
    img = np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    return img.transpose(0, 2, 3, 1)


def make_shapes(
    n: int, seed: int | list[int] = 0, with_masks: bool = False
) -> tuple[np.ndarray, ...]:
    """Generate ``n`` images with balanced classes.

    Parameters
    ----------
    n : int
        How many images (1 to 1,000,000); each class gets ``n // 24`` or one more.
    seed : int or list of int
        Seed of the ``numpy.random.Generator``: the same seed and ``n`` give the same bytes.
    with_masks : bool
        Also return each image's shape coverage.

    Returns
    -------
    x : numpy.ndarray
        uint8 images (n, 32, 32, 3).
    y : numpy.ndarray
        int64 labels (n,) in [0, 24); ``CLASS_NAMES[y]`` names them.
    masks : numpy.ndarray
        With ``with_masks``: uint8 (n, 32, 32), 255 where the shape covers a pixel wholly,
        0 on the background, in between on its anti-aliased edge.
    """
    if not 1 <= int(n) <= MAX_SAMPLES:
        raise DataError(f"shapes: {n} images asked for; choose 1 to {MAX_SAMPLES:,}")
    n = int(n)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(CLASS_NAMES)).astype(np.int64)
    params = _draw_params(y, rng)
    masks = _draw_masks(y % len(SHAPES), params)
    x = np.empty((n, SIZE, SIZE, 3), np.uint8)
    for lo in range(0, n, CHUNK):
        sl = slice(lo, min(lo + CHUNK, n))
        x[sl] = _compose(masks[sl], params, sl, rng)
    return (x, y, masks) if with_masks else (x, y)


def shapes_dataset(n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = 0) -> Dataset:
    """The ``shapes`` data set: ``n_train`` and ``n_test`` images from seed ``seed``.

    Parameters
    ----------
    n_train, n_test : int
        Sizes of the splits (default 50,000 and 10,000).
    seed : int
        The train split comes from the generator seeded ``[seed, 0]``, the test split from
        ``[seed, 1]``: they are independent, and each depends only on its own size.

    Returns
    -------
    Dataset
        uint8 images (N, 32, 32, 3), int64 labels, ``class_names`` = :data:`CLASS_NAMES`.
    """
    x_train, y_train = make_shapes(n_train, [seed, 0])
    x_test, y_test = make_shapes(n_test, [seed, 1])
    return Dataset(
        "shapes",
        f"generated:shapes(seed={seed})",
        x_train,
        y_train,
        x_test,
        y_test,
        class_names=CLASS_NAMES,
    )
