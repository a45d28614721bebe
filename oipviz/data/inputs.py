"""Model inputs from image files and data sets: a picture of a digit becomes an MNIST-style
digit for a grey model (:func:`mnist_style`), a photo is resized for a colour model
(:func:`model_input`); or real held-out images from the data sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from oipviz.core.errors import ImageError

if TYPE_CHECKING:
    from PIL import Image

MNIST_BOX = 20  # MNIST digits fit a 20×20 box ...
MNIST_SIZE = 28  # ... centred by centre of mass in a 28×28 frame
MNIST_CENTER = 14.0  # where MNIST's centre of mass lies (mean over the digits: 13.99, 14.00)
INK_THRESHOLD = 0.1

PREP_NOTE = (
    "Image files become MNIST-style digits: grayscale (luminance; transparent "
    "parts filled with the background), inverted if the border is light (MNIST is "
    "white on black), cropped to the bounding box of the ink, scaled so the longest "
    "side is 20 px (aspect kept), and placed in a 28×28 frame with the ink's centre of "
    "mass at the centre."
)


@dataclass
class Converted:
    """An image converted by :func:`mnist_style`, with what was done to it."""

    x01: np.ndarray  # (H, W) grey (white ink on black for digits) or (H, W, 3), in [0, 1]
    inverted: bool
    bbox: tuple  # (top, left, bottom, right) of the ink, in the source
    source_size: tuple  # (width, height)
    notes: list = field(default_factory=list)


def mnist_style(img, name: str = "image", size: int = MNIST_SIZE) -> Converted:
    """Convert a PIL image of a digit (any size/colour) to an MNIST-style one, ``size`` px
    square (28: MNIST's own; other sizes keep MNIST's proportions: a 20/28 box).

    Grayscale → invert if the border is light → subtract the background level → crop
    to the bounding box of the ink → longest side to 20 px (aspect kept) → centre of
    mass at the centre of a 28×28 frame.  Raises :class:`ImageError` if there is no ink.
    """
    import cv2

    from oipviz.core.images import to_float

    planes = to_float(img)
    g = np.asarray(planes.luma, np.float32)
    notes = []
    if planes.alpha is not None and float(planes.alpha.min()) < 0.99:
        a = np.asarray(planes.alpha, np.float32)
        opaque = a > 0.5
        light_ink = bool(opaque.any()) and float(g[opaque].mean()) > 0.5
        bg = 0.0 if light_ink else 1.0
        g = g * a + bg * (1.0 - a)
        notes.append(f"transparency filled with {'black' if bg == 0 else 'white'}")
    border = np.concatenate([g[0], g[-1], g[1:-1, 0], g[1:-1, -1]])
    inverted = float(np.median(border)) > 0.5
    if inverted:
        g = 1.0 - g
        border = 1.0 - border
    g = np.clip(g - float(np.median(border)), 0.0, None)
    peak = float(g.max())
    if peak < 0.05:
        raise ImageError(f"{name}: no digit found (the image is blank or has no contrast)")
    g /= peak
    ys, xs = np.nonzero(g > INK_THRESHOLD)
    top, bottom, left, right = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    crop = g[top:bottom, left:right]
    h, w = crop.shape
    s = (MNIST_BOX * size / MNIST_SIZE) / max(h, w)
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    small = np.clip(cv2.resize(crop, (nw, nh), interpolation=interp), 0.0, 1.0)
    total = float(small.sum())
    yy, xx = np.mgrid[0:nh, 0:nw]
    cy, cx = float((yy * small).sum() / total), float((xx * small).sum() / total)
    # MNIST's centre of mass sits at pixel (14, 14) on average; shift by whole pixels
    # (no resampling blur), as the original preprocessing did
    center = MNIST_CENTER * size / MNIST_SIZE
    dy, dx = int(round(center - cy)), int(round(center - cx))
    out = np.zeros((size, size), np.float32)
    y0, x0 = max(dy, 0), max(dx, 0)
    y1, x1 = min(dy + nh, size), min(dx + nw, size)
    out[y0:y1, x0:x1] = small[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
    return Converted(out, inverted, (top, left, bottom, right), tuple(planes.size), notes)


@dataclass
class Input:
    """One input of the gallery: the 28×28 image and where it came from."""

    x01: np.ndarray
    source: str
    label: int | None = None
    converted: Converted | None = None
    original: Image.Image | None = None  # small preview of an image file


def model_input(img, geometry=None, name: str = "image") -> Converted:
    """A PIL image as an input of a model of ``geometry`` (None: MNIST's 28×28×1): a square
    grey model gets an MNIST-style digit (:func:`mnist_style`); other models get the image
    resized to their size (RGB for colour models, luminance for grey ones)."""
    from oipviz.core.images import to_float

    h, w, c = (MNIST_SIZE, MNIST_SIZE, 1) if geometry is None else geometry.shape
    if c == 1 and h == w:
        return mnist_style(img, name, h)
    from oipviz.data.userdata import fit_image

    x = fit_image(img, geometry)
    notes = [f"resized from {img.width}×{img.height} to {w}×{h}"]
    if c == 3 and to_float(img).rgb is None:
        notes.append("a grey image given to a colour model: repeated over R, G and B")
    return Converted(x, False, (0, 0, h, w), (img.width, img.height), notes)


def read_inputs(paths: list[str | Path]) -> list:
    """Read image files (PIL images; every file is checked before anything is computed)."""
    from oipviz.core.images import read_image

    return [read_image(p) for p in paths]


def load_inputs(paths: list[str | Path], geometry=None, images: list | None = None) -> list[Input]:
    """Image files as model inputs (:func:`model_input`); ``images``: the files already
    read by :func:`read_inputs`."""
    out = []
    for p, img in zip(paths, images or read_inputs(paths), strict=True):
        conv = model_input(img, geometry, str(p))
        prev = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        prev.thumbnail((112, 112))
        out.append(Input(conv.x01, str(p), None, conv, prev))
    return out


def dataset_of(loaded, data: str | Path | None = None) -> str:
    """Where real images come from: ``data`` (a user's folder or .npz, see
    :mod:`oipviz.data.userdata`) if given, else the dataset the model was trained on (its
    card's ``dataset``), MNIST by default."""
    from oipviz.data.sources import DATASETS

    if data is not None:
        return str(data)
    name = str((loaded.card or {}).get("dataset") or "mnist").replace("-", "_").lower()
    return name if name in DATASETS else "mnist"


#: the image shape of each named data set (H, W, C)
DATASET_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "shapes": (32, 32, 3)}


def check_fits(loaded, dataset: str) -> None:
    """A named data set must have the model's image shape (a user's --data is resized)."""
    from oipviz.core.errors import DataError
    from oipviz.data.userdata import is_data_path

    shape = DATASET_SHAPES.get(str(dataset).replace("-", "_").lower())
    if loaded is None or is_data_path(dataset) or shape is None:
        return
    if tuple(shape) != tuple(loaded.geometry.shape):
        g = loaded.geometry
        raise DataError(
            f"{loaded.name} takes {g.describe()} images and its data set is not known "
            f"({dataset} images are {'×'.join(map(str, shape))}); give --data PATH (your "
            "images: a folder with a subfolder per class, or an .npz)"
        )


def real_images(
    dataset: str = "mnist",
    limit: int | None = None,
    seed: int = 0,
    split: str = "test",
    loaded=None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Real images (N, H, W, C) in [0, 1], labels and source: the test part, or with
    ``split='all'`` train then test; the first ``limit``.  ``dataset`` may be a user's
    folder or .npz (:func:`oipviz.data.userdata.labelled_images`: all of it, resized to
    the geometry of ``loaded``, which must then be given)."""
    from oipviz.data.sources import load_dataset
    from oipviz.data.userdata import is_data_path, labelled_images

    check_fits(loaded, dataset)
    if is_data_path(dataset):
        if loaded is None:
            raise ValueError("a user's data needs the model (its geometry)")
        x01, y, _, source = labelled_images(dataset, loaded.geometry, loaded.classes, limit)
        return x01, y, source
    ds = load_dataset(dataset, seed=seed, allow_download=False)
    parts = (
        ((ds.x_test, ds.y_test),)
        if split == "test"
        else ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test))
    )
    x, y = (np.concatenate([p[i] for p in parts])[:limit] for i in (0, 1))
    x = x.astype(np.float32) / 255.0
    return (x[..., None] if x.ndim == 3 else x), y, ds.source


def dataset_inputs(
    samples: int,
    digits: list[int] | None = None,
    seed: int = 0,
    dataset: str = "mnist",
    loaded=None,
) -> tuple[list[Input], str]:
    """``samples`` real held-out images (only the classes ``digits`` if given); a user's
    ``dataset`` folder or .npz needs ``loaded`` (see :func:`real_images`)."""
    from oipviz.core.errors import DataError
    from oipviz.data.userdata import is_data_path

    x, y, source = real_images(dataset, None, seed, "test", loaded)
    keep = np.arange(len(y)) if not digits else np.flatnonzero(np.isin(y, digits))
    if len(keep) == 0:
        wanted = f" of class {','.join(map(str, digits))}" if digits else ""
        raise DataError(f"no images{wanted} in {source}")
    what = (
        "image"
        if is_data_path(dataset)
        else "held-out digit"
        if dataset == "mnist"
        else "held-out image"
    )
    return (
        [
            Input(
                x[i, :, :, 0] if x.shape[-1] == 1 else x[i], f"{source} {what} #{int(i)}", int(y[i])
            )  # fmt: skip
            for i in keep[:samples]
        ],
        source,
    )
