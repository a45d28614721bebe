"""Read, convert and write user images (photos for ``oipviz dream``, pictures for galleries).

:func:`read_image` opens anything Pillow reads (JPEG, PNG, TIFF incl. 16-bit, alpha,
palette), applies the EXIF orientation, refuses decompression bombs and turns every
failure into a one-line :class:`~oipviz.core.errors.ImageError`.  :func:`to_float` splits an
image into float planes in [0,1] (luminance, colour, alpha); :func:`from_float` and
:func:`save_image` put such planes back into a picture of the input's mode family.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from oipviz.core.errors import ImageError

DEFAULT_MAX_PIXELS = 50_000_000
MAX_PIXELS_ENV = "OIPVIZ_MAX_PIXELS"
MIN_SIDE = 28

#: modes written back as they are (float planes round-trip through them)
OUTPUT_MODES = ("L", "LA", "RGB", "RGBA", "I;16")


def max_pixels() -> int:
    """The largest image (width × height) accepted: 50 MP, or ``$OIPVIZ_MAX_PIXELS``."""
    raw = os.environ.get(MAX_PIXELS_ENV)
    if raw:
        try:
            value = int(float(raw))
            if value > 0:
                return value
        except ValueError:
            pass
        raise ImageError(f"bad ${MAX_PIXELS_ENV} {raw!r}; give a positive number of pixels")
    return DEFAULT_MAX_PIXELS


def _too_large(path: Path, w: int, h: int, limit: int) -> ImageError:
    return ImageError(
        f"{path}: {w}×{h} = {w * h / 1e6:.1f} MP is larger than the limit of "
        f"{limit / 1e6:g} MP (possible decompression bomb; raise ${MAX_PIXELS_ENV} "
        "if you trust the file)"
    )


def read_image(path: str | Path, limit: int | None = None) -> Image.Image:
    """Open and fully decode an image file; EXIF rotation applied; first frame only.

    Raises :class:`ImageError` (one line) for a missing, empty, truncated, non-image or
    larger-than-``limit`` pixels (default :func:`max_pixels`) file.
    """
    path = Path(path)
    limit = max_pixels() if limit is None else int(limit)
    if not path.exists():
        raise ImageError(f"image {path} not found")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise ImageError(f"{path} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # the size is checked from the header, before anything is decoded; Pillow's own
            # bomb check (its defaults, never changed here) is an error only where ours is
            # at least as strict
            bomb: Literal["error", "ignore"] = (
                "error" if limit <= (Image.MAX_IMAGE_PIXELS or limit) else "ignore"
            )
            warnings.simplefilter(bomb, Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > limit:
                    raise _too_large(path, w, h, limit)
                im.seek(0)
                im.load()
                img = ImageOps.exif_transpose(im)
                if img is im:  # older Pillow returns the same object when nothing to do
                    img = im.copy()
                img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size_txt = f" ({int(found.group(1)) / 1e6:.1f} MP)" if found else ""
        raise ImageError(
            f"{path}: image{size_txt} is larger than the limit of {limit / 1e6:g} MP "
            f"(possible decompression bomb; raise ${MAX_PIXELS_ENV} if you trust "
            "the file)"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image Pillow can read (JPEG, PNG, TIFF, ...)") from None
    except PermissionError:
        raise ImageError(f"cannot read {path}: permission denied") from None
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
        zlib.error,
        IndexError,
        MemoryError,
    ) as exc:
        msg = " ".join(str(exc).split())[:160] or type(exc).__name__
        broken = "truncated" in msg or isinstance(exc, (EOFError, SyntaxError, zlib.error))
        raise ImageError(
            f"{path} is {'truncated or corrupt' if broken else 'unreadable'}: {msg}"
        ) from None
    return img


@dataclass
class ImagePlanes:
    """An image as float32 planes in [0,1] plus the mode family to write it back in.

    ``luma`` (H,W) is the BT.601 luminance (OpenCV's YCrCb Y); ``rgb`` (H,W,3) is None for
    gray images; ``alpha`` (H,W) is None without transparency.  ``mode`` is one of
    ``L``, ``LA``, ``RGB``, ``RGBA`` (8 bit) or ``I;16`` (16-bit gray).
    """

    luma: np.ndarray
    rgb: np.ndarray | None
    alpha: np.ndarray | None
    mode: str
    source_mode: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL reports it."""
        return self.luma.shape[1], self.luma.shape[0]

    @property
    def is_color(self) -> bool:
        return self.rgb is not None


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Y of YCrCb (0.299 R + 0.587 G + 0.114 B) of float RGB (H,W,3)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2YCrCb)[..., 0]


def replace_luminance(rgb: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """``rgb`` with its luminance replaced by ``luma``, chroma kept (YCrCb), clipped to [0,1]."""
    import cv2

    ycc = cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = luma
    return np.clip(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB), 0.0, 1.0)


def _gray_int(arr: np.ndarray) -> tuple[np.ndarray, str]:
    """A 16/32-bit integer gray plane to [0,1]; 16-bit range unless it only holds 8-bit values."""
    arr = arr.astype(np.float64)
    hi = float(arr.max()) if arr.size else 0.0
    if hi <= 255 and arr.min() >= 0:
        return (arr / 255.0).astype(np.float32), "L"
    if hi <= 65535 and arr.min() >= 0:
        return (arr / 65535.0).astype(np.float32), "I;16"
    lo = float(arr.min())
    return ((arr - lo) / max(hi - lo, 1e-12)).astype(np.float32), "I;16"


#: modes converted before reading: premultiplied alpha, 1-bit, other colour spaces
_PLAIN_MODES = {"RGBa": "RGBA", "La": "LA", "1": "L", "CMYK": "RGB", "YCbCr": "RGB",
                "LAB": "RGB", "HSV": "RGB"}  # fmt: skip


def _plain_mode(img: Image.Image) -> Image.Image:
    """``img`` in a mode :func:`to_float` reads (palettes keep their transparency)."""
    if img.mode in ("P", "PA"):
        has_alpha = img.mode == "PA" or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB")
    if img.mode in _PLAIN_MODES:
        return img.convert(_PLAIN_MODES[img.mode])
    return img


def to_float(img: Image.Image) -> ImagePlanes:
    """Split a PIL image into float planes in [0,1] (see :class:`ImagePlanes`).

    Palette and CMYK/YCbCr/LAB/HSV images become RGB(A); 1-bit becomes L; 16-bit gray
    keeps 16 bits (mode ``I;16``).
    """
    mode = img.mode
    alpha = None
    img = _plain_mode(img)
    m = img.mode
    if m in ("RGB", "RGBA"):
        arr = np.asarray(img, np.float32) / 255.0
        rgb = np.ascontiguousarray(arr[..., :3])
        if m == "RGBA":
            alpha = np.ascontiguousarray(arr[..., 3])
        return ImagePlanes(luminance(rgb), rgb, alpha, m, mode)
    if m in ("L", "LA"):
        arr = np.asarray(img, np.float32) / 255.0
        if m == "LA":
            return ImagePlanes(
                np.ascontiguousarray(arr[..., 0]),
                None,
                np.ascontiguousarray(arr[..., 1]),
                "LA",
                mode,
            )
        return ImagePlanes(arr, None, None, "L", mode)
    if m.startswith("I;16") or m == "I":
        luma, out_mode = _gray_int(np.asarray(img))
        return ImagePlanes(luma, None, None, out_mode, mode)
    if m == "F":
        arr = np.asarray(img, np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 1:
            arr = (arr - lo) / max(hi - lo, 1e-12)
        return ImagePlanes(arr.astype(np.float32), None, None, "I;16", mode)
    raise ImageError(f"image mode {mode!r} is not supported")


def planes_from_array(arr: np.ndarray) -> tuple[ImagePlanes, str]:
    """Planes for a numpy image (H,W), (H,W,1), (H,W,3) or (H,W,4); uint8, uint16 or float in [0,1].

    Returns the planes and the dtype family (``uint8``, ``uint16`` or ``float``).
    """
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(f"image array of shape {a.shape}: expected (H,W), (H,W,3) or (H,W,4)")
    if a.dtype == np.uint8:
        family, f = "uint8", a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        family, f = "uint16", a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise ImageError("image array holds NaN or infinite values")
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo < -1e-6 or hi > 1 + 1e-6:
            how = "divide by 255 (or pass uint8)" if lo >= 0 and hi <= 255 else "scale it"
            raise ImageError(
                f"the image holds values in [{lo:.4g}, {hi:.4g}]; oipviz takes pixels in "
                f"[0, 1]: {how}"
            )
        family, f = "float", np.clip(a.astype(np.float32), 0.0, 1.0)
    else:
        raise ImageError(f"image array dtype {a.dtype}: use uint8, uint16 or float in [0,1]")
    if f.ndim == 2:
        return ImagePlanes(f, None, None, "I;16" if family == "uint16" else "L", family), family
    rgb = np.ascontiguousarray(f[..., :3])
    alpha = np.ascontiguousarray(f[..., 3]) if f.shape[2] == 4 else None
    return ImagePlanes(
        luminance(rgb), rgb, alpha, "RGBA" if alpha is not None else "RGB", family
    ), family


def compose(planes: ImagePlanes, luma: np.ndarray, gray: bool = False) -> np.ndarray:
    """Float (H,W[,C]) picture with ``luma`` as luminance, the planes' chroma and alpha.

    ``gray``: drop the colour (a gray picture, alpha kept).
    """
    luma = np.clip(np.asarray(luma, np.float32), 0.0, 1.0)
    if planes.rgb is not None and not gray:
        out = replace_luminance(planes.rgb, luma)
    else:
        out = luma
    if planes.alpha is not None:
        if out.ndim == 2:
            out = np.stack([out, planes.alpha], axis=-1)
        else:
            out = np.concatenate([out, planes.alpha[..., None]], axis=-1)
    return out.astype(np.float32)


def output_mode(planes: ImagePlanes, gray: bool = False) -> str:
    """The mode a picture built from ``planes`` is written in (``gray``: drop colour)."""
    if planes.rgb is not None and not gray:
        return "RGBA" if planes.alpha is not None else "RGB"
    if planes.alpha is not None:
        return "LA"
    return "I;16" if planes.mode == "I;16" else "L"


def from_float(array: np.ndarray, mode: str) -> Image.Image:
    """A PIL image of ``mode`` (L, LA, RGB, RGBA or I;16) from floats in [0,1] or integers.

    Float input is rounded (not truncated), so an 8-bit image read with :func:`to_float`
    round-trips byte-identically.
    """
    if mode not in OUTPUT_MODES:
        raise ValueError(f"mode {mode!r}: use one of {', '.join(OUTPUT_MODES)}")
    a = np.asarray(array)
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 1}[mode]
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if (channels == 1 and a.ndim != 2) or (
        channels > 1 and (a.ndim != 3 or a.shape[2] != channels)
    ):
        raise ValueError(f"array of shape {a.shape} does not fit mode {mode}")
    if mode == "I;16":
        if np.issubdtype(a.dtype, np.floating):
            a = np.round(np.clip(a, 0.0, 1.0) * 65535.0)
        return Image.fromarray(np.ascontiguousarray(a.astype(np.uint16)))  # mode I;16
    if np.issubdtype(a.dtype, np.floating):
        a = np.round(np.clip(a, 0.0, 1.0) * 255.0)
    elif a.dtype == np.uint16:
        a = np.round(a.astype(np.float64) / 257.0)
    img = Image.fromarray(np.ascontiguousarray(a.astype(np.uint8)))  # L, LA, RGB or RGBA by shape
    return img


def to_array(planes_float: np.ndarray, family: str) -> np.ndarray:
    """Float pixels in [0,1] back to the dtype family ``uint8``, ``uint16`` or ``float``."""
    a = np.clip(np.asarray(planes_float, np.float32), 0.0, 1.0)
    if family == "uint8":
        return np.round(a * 255.0).astype(np.uint8)
    if family == "uint16":
        return np.round(a * 65535.0).astype(np.uint16)
    return a
