"""Arrays to what the page draws: PNG data URLs, quantized map stacks, rounded lists."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
from PIL import Image

from oipviz.core.outputs import dumps


def png_bytes(img01: np.ndarray, scale: int = 1) -> bytes:
    """A gray PNG of an image in [0,1] ((H,W) or (H,W,1)), or RGB for (H,W,3)."""
    a = np.clip(np.asarray(img01, np.float32), 0.0, 1.0)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    im = Image.fromarray(np.round(a * 255.0).astype(np.uint8))
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def png_url(img01: np.ndarray, scale: int = 1) -> str:
    """A ``data:image/png;base64,...`` URL of :func:`png_bytes`."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(img01, scale)).decode("ascii")


def fit(img01: np.ndarray, longest: int) -> np.ndarray:
    """``img01`` downscaled (area) so its longest side is at most ``longest`` px."""
    import cv2

    h, w = img01.shape[:2]
    s = longest / max(h, w)
    if s >= 1:
        return img01
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(np.asarray(img01, np.float32), size, interpolation=cv2.INTER_AREA)


def rounded(a, digits: int = 4) -> list:
    """A nested list of floats with ``digits`` significant digits (compact JSON)."""
    arr = np.asarray(a, np.float64)
    if arr.size == 0:
        return arr.tolist()
    scale = np.power(10.0, digits - 1 - np.floor(np.log10(np.maximum(np.abs(arr), 1e-30))))
    out = np.where(arr == 0, 0.0, np.round(arr * scale) / scale)
    return out.tolist()


def map_stack(a: np.ndarray) -> dict:
    """A layer's maps (h, w, M) as uint8 codes on the layer's own scale, map-major.

    ``value = lo + code / 255 · (hi - lo)``; ``lo`` is min(0, the smallest value).
    """
    a = np.asarray(a, np.float32)
    lo, hi = min(0.0, float(a.min())), float(a.max())
    span = hi - lo if hi - lo > 1e-12 else 1.0
    codes = np.round((a - lo) / span * 255.0).astype(np.uint8)
    codes = np.ascontiguousarray(np.moveaxis(codes, -1, 0))  # (M, h, w)
    return {
        "encoding": "uint8-base64, map-major (maps, height, width)",
        "shape": list(codes.shape),
        "lo": lo,
        "hi": hi,
        "data": base64.b64encode(codes.tobytes()).decode("ascii"),
    }


def json_bytes(obj) -> bytes:
    """Strict JSON (no NaN) as bytes; numpy values converted."""
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return dumps(obj, indent=None).encode()


def finite(v) -> float | None:
    """A float, or None for NaN/inf (JSON has neither)."""
    f = float(v)
    return f if math.isfinite(f) else None
