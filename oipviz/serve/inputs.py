"""What a request brings in: an uploaded image or a JSON pixel array, checked and turned into
the model's input (MNIST-style preprocessing, or a plain resize when it is switched off).

Everything here is plain numpy/Pillow/OpenCV work (no TensorFlow); the app runs it in a
thread so the event loop stays free.  Every failure is an
:class:`~oipviz.core.errors.OipvizError` with one line (the app answers 4xx).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, fields

import numpy as np

from oipviz.core.errors import ImageError, OipvizError

#: the largest request body (an upload, a JSON body): 10 MB (binary: 10 × 2^20 bytes)
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: a JSON pixel array may be at most this many values per side
MAX_PIXELS_SIDE = 1024
#: dream photos are shrunk to this longest side (the dream's detail is re-added at it)
MAX_DREAM_SIDE = 1024


class BadInput(OipvizError):
    """A request body that is not what the route takes (HTTP 422)."""


class TooLarge(OipvizError):
    """A request body over :data:`MAX_UPLOAD_BYTES` (HTTP 413)."""


def input_geometry(loaded) -> tuple[int, int, int]:
    """(height, width, channels) of the model's images (``loaded.geometry``): the one
    place the server asks."""
    h, w, c = (int(d) for d in loaded.geometry.shape)
    return h, w, c


def mnist_like(geometry: tuple[int, int, int]) -> bool:
    """True when drawings become MNIST-style digits for this geometry: a square grey model
    (the rule of :func:`oipviz.data.inputs.model_input`)."""
    h, w, c = geometry
    return c == 1 and h == w


@dataclass
class Prepared:
    """A request's image as the model's input, with what was done to it."""

    x01: np.ndarray  # (H, W, C) float32 in [0, 1], the model's geometry
    preprocessed: bool
    source: str
    inverted: bool | None = None
    bbox: list | None = None  # (top, left, bottom, right) of the ink in the source
    notes: list = field(default_factory=list)

    def describe(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "x01"}


def decode_image(data: bytes, filename: str = "upload"):
    """Decode uploaded bytes with :func:`oipviz.core.images.read_image` (its bomb guard,
    EXIF rotation, one-line errors); the temporary file never shows in a message."""
    from oipviz.core.images import read_image

    if not data:
        raise ImageError(f"{filename}: the upload is empty (0 bytes)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLarge(f"{filename}: {len(data) / 2**20:.1f} MB is over the 10 MB upload limit")
    fd, tmp = tempfile.mkstemp(prefix="oipviz-upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            return read_image(tmp)
        except ImageError as exc:
            raise ImageError(str(exc).replace(tmp, filename), exc.hint) from None
    finally:
        os.unlink(tmp)


def pixels_from_json(body: bytes) -> tuple[np.ndarray, dict]:
    """``{"pixels": [[...], ...], ...}``: a 2-D array of finite numbers in [0, 1] (or
    (H, W, 3) for colour); returns it and the other fields of the body."""
    try:
        obj = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"the body is not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or "pixels" not in obj:
        raise BadInput('the JSON body needs "pixels": a 2-D array of numbers in [0, 1]')
    try:
        a = np.asarray(obj.pop("pixels"), dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInput(
            '"pixels" must be a rectangular 2-D array of numbers (rows of equal length)'
        ) from None
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)):
        raise BadInput(f'"pixels" must be 2-D (H, W) or (H, W, 3); got shape {list(a.shape)}')
    if min(a.shape[:2]) < 8 or max(a.shape[:2]) > MAX_PIXELS_SIDE:
        raise BadInput(
            f'"pixels" must be between 8 and {MAX_PIXELS_SIDE} values per side; '
            f"got {a.shape[0]}×{a.shape[1]}"
        )
    if not np.isfinite(a).all():
        raise BadInput('"pixels" holds NaN or infinite values')
    if a.min() < 0.0 or a.max() > 1.0:
        raise BadInput(f'"pixels" must lie in [0, 1]; got {a.min():.4g} … {a.max():.4g}')
    return a.astype(np.float32), obj


def _no_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def image_of_pixels(a: np.ndarray):
    """A PIL image of a float array in [0, 1] (gray 'F', or RGB)."""
    from PIL import Image

    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(a, np.float32), "F")
    return Image.fromarray(np.round(a * 255).astype(np.uint8), "RGB")


def prepare(img, geometry, preprocess: bool, source: str) -> Prepared:
    """The input of a model of ``geometry`` (``loaded.geometry``) from a PIL image.

    ``preprocess`` and a square grey model: an MNIST-style digit
    (:func:`oipviz.data.inputs.mnist_style`: the ink's bounding box scaled into 20/28 of
    the side, centred by its centre of mass, inverted when the background is light).
    Otherwise the picture resized to the input size, nothing else (RGB for a colour model,
    :func:`oipviz.data.inputs.model_input`).
    """
    from oipviz.core.images import to_float
    from oipviz.data.inputs import mnist_style, model_input

    h, w, c = (int(d) for d in geometry.shape)
    if not mnist_like((h, w, c)):  # (GET /api/model says so: input.mnist_style false)
        conv = model_input(img, geometry, source)
        return Prepared(conv.x01.reshape(h, w, c), False, source, notes=list(conv.notes))
    if preprocess:
        conv = mnist_style(img, source, h)
        return Prepared(
            conv.x01[..., None], True, source, conv.inverted, list(conv.bbox), list(conv.notes)
        )
    plane = np.asarray(to_float(img).luma, np.float32)
    notes = [] if plane.shape[:2] == (h, w) else [f"resized to {w}×{h}"]
    return Prepared(_resize(plane, w, h)[..., None], False, source, notes=notes)


def _resize(a: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    if a.shape[:2] == (h, w):
        return np.clip(a, 0.0, 1.0)
    interp = cv2.INTER_AREA if a.shape[0] > h else cv2.INTER_CUBIC
    return np.clip(cv2.resize(a, (w, h), interpolation=interp), 0.0, 1.0)


def dream_planes(img, side: int):
    """A photo's float planes for the dream, shrunk to :data:`MAX_DREAM_SIDE`; notes.
    ``side``: the model's input side (a dream needs a photo at least that big)."""
    from oipviz.core.images import to_float

    notes = []
    if max(img.size) > MAX_DREAM_SIDE:
        before = img.size
        img = img.copy()
        img.thumbnail((MAX_DREAM_SIDE, MAX_DREAM_SIDE))
        notes.append(f"shrunk from {before[0]}×{before[1]} to {img.size[0]}×{img.size[1]}")
    if min(img.size) < side:
        raise ImageError(
            f"the photo is {img.size[0]}×{img.size[1]}; dreams with this model need ≥ {side} px"
        )
    return to_float(img), notes
