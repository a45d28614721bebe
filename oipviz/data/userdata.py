"""A user's own labelled images (``--data PATH``) as images of the model's geometry: a folder
with one subfolder per class, read as ``keras.utils.image_dataset_from_directory`` reads it
(classes in alphabetical order, the subfolders' names as class names), or an ``.npz``
archive of images and labels."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from oipviz.core.errors import DataError, ImageError

if TYPE_CHECKING:
    from oipviz.core.convention import Geometry

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_IMAGES = 100_000
#: the arrays an .npz may hold, in the order they are tried: (images, labels)
NPZ_LAYOUTS = (("x", "y"), ("images", "labels"), ("x_test", "y_test"))
LAYOUT_NOTE = (
    "a folder with one subfolder of images per class, or an .npz with x and y "
    "(or images and labels, or x_test and y_test; optional class_names)"
)


def is_image_data(path: str | Path) -> bool:
    """True for a user's images: a folder holding image files (itself or in subfolders), or
    an .npz that is not in keras' MNIST layout (``x_train``...; those, and IDX folders, are
    read by :func:`oipviz.data.sources.load_dataset`); not a path is a DataError."""
    from oipviz.data.sources import as_data_path

    p = as_data_path(path)
    if p.is_dir():
        return any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.glob("*") if f.is_file()) or any(
            f.suffix.lower() in IMAGE_SUFFIXES for f in p.glob("*/*") if f.is_file()
        )
    if p.suffix.lower() != ".npz" or not p.is_file():
        return False
    try:
        with np.load(p, allow_pickle=False) as f:
            return "x_train" not in f.files
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def is_data_path(spec: str | Path) -> bool:
    """True when ``spec`` names a file or folder rather than a data set (``mnist``...)."""
    from oipviz.data.sources import DATASETS

    return str(spec).replace("-", "_").lower() not in DATASETS


def labelled_images(
    path: str | Path, geometry: Geometry, classes: int | None = None, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """The images at ``path`` as the model sees them.

    Parameters
    ----------
    path : str or Path
        A folder of class subfolders (a folder of images without subfolders is one class),
        or an ``.npz`` archive (see ``LAYOUT_NOTE``).
    geometry : Geometry
        The model's: images are resized to its height and width (area interpolation when
        shrinking, bicubic when enlarging), luminance for grey models, RGB for colour ones
        (a grey image repeated over R, G and B).
    classes : int, optional
        The model's number of classes: more classes in the data is an error.
    limit : int, optional
        Keep this many images, drawn in a fixed shuffled order (seed 0) so every class is
        represented.

    Returns
    -------
    x01, labels, class_names, source
        (N, H, W, C) float32 in [0, 1]; int64 labels; the class names; ``path:PATH``.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"data path {p} does not exist; --data takes {LAYOUT_NOTE}")
    if p.is_dir():
        x, y, names = _folder(p, geometry, limit)
    elif p.suffix.lower() == ".npz":
        x, y, names = _npz(p, geometry, limit)
    else:
        raise DataError(f"{p}: --data takes {LAYOUT_NOTE}")
    if classes is not None and len(names) > classes:
        raise DataError(f"{p} has {len(names)} classes; the model has {classes} outputs")
    return x, y, names, f"path:{p}"


def _order(n: int, limit: int | None) -> np.ndarray:
    return np.random.default_rng(0).permutation(n)[: min(n, limit or MAX_IMAGES)]


def _folder(
    root: Path, geometry: Geometry, limit: int | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The images of a class-per-subfolder folder (or of a flat folder: one class)."""
    from oipviz.core.images import read_image

    def images_in(d: Path) -> list[Path]:
        return sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)

    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    groups = [(d.name, images_in(d)) for d in subdirs] or [(root.name, images_in(root))]
    groups = [(name, files) for name, files in groups if files]
    if not groups:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}; {LAYOUT_NOTE}")
    files = [(f, k) for k, (_, fs) in enumerate(groups) for f in fs]
    keep = _order(len(files), limit)
    x = np.empty((len(keep), *geometry.shape), np.float32)
    for i, j in enumerate(keep):
        try:
            x[i] = fit_image(read_image(files[j][0]), geometry)
        except ImageError as e:
            raise DataError(f"--data: {e}") from None
    labels = np.array([files[j][1] for j in keep], np.int64)
    return x, labels, [name for name, _ in groups]


def fit_image(img, geometry: Geometry) -> np.ndarray:
    """A PIL image resized to the model's size in its channels, (H, W, C) in [0, 1]."""
    from oipviz.core.images import to_float

    planes = to_float(img)
    colour = geometry.channels == 3 and planes.rgb is not None
    return fit_array(np.asarray(planes.rgb if colour else planes.luma, np.float32), geometry)


def fit_array(a: np.ndarray, geometry: Geometry) -> np.ndarray:
    """An (H, W) or (H, W, C) array in [0, 1] at the model's size and channel count."""
    import cv2

    h, w, c = geometry.shape
    if a.shape[:2] != (h, w):
        shrink = a.shape[0] > h or a.shape[1] > w
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    a = a.reshape(h, w, -1)
    if a.shape[-1] != c:
        a = a @ np.array([0.299, 0.587, 0.114], np.float32) if c == 1 else np.repeat(a, c, -1)
    return np.clip(a.reshape(h, w, c), 0.0, 1.0)


def _npz(
    path: Path, geometry: Geometry, limit: int | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images and labels of an .npz archive (uint8 0–255 or floats in [0, 1])."""
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = next(((xk, yk) for xk, yk in NPZ_LAYOUTS if xk in f.files), None)
            if keys is None:
                raise DataError(f"{path}: no image array; expected {LAYOUT_NOTE}")
            x, y = f[keys[0]], (f[keys[1]] if keys[1] in f.files else None)
            names = [str(n) for n in f["class_names"]] if "class_names" in f.files else None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DataError(f"{path} is not a readable .npz of plain arrays ({e})") from None
    if x.ndim not in (3, 4) or len(x) == 0:
        raise DataError(f"{path}: images of shape {x.shape}; expected N×H×W or N×H×W×C")
    y = np.zeros(len(x), np.int64) if y is None else np.asarray(y)
    if y.shape != (len(x),) or y.dtype.kind not in "iu" or (len(y) and y.min() < 0):
        raise DataError(f"{path}: labels must be {len(x)} integers ≥ 0 (got {y.shape} {y.dtype})")
    x01 = _unit(x, path)
    keep = _order(len(x), limit)
    fitted = np.stack([fit_array(x01[j], geometry) for j in keep])
    n_classes = int(y.max()) + 1
    return fitted, y[keep].astype(np.int64), names or [str(k) for k in range(n_classes)]


def _unit(x: np.ndarray, path: Path) -> np.ndarray:
    """Pixels in [0, 1]: uint8 scaled by 1/255, floats checked to lie in [0, 1]."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if x.dtype.kind != "f" or not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise DataError(f"{path}: images must be uint8 (0–255) or finite floats in [0, 1]")
    return x.astype(np.float32)
