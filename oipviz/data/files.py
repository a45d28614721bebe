"""Reading and validating dataset files: IDX (``*-ubyte[.gz]``) and keras-style ``.npz``
archives, and :func:`validate_arrays`, which every data source goes through."""

from __future__ import annotations

import gzip
import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from oipviz.core.errors import DataError

CLASSES = 10
KEYS = ("x_train", "y_train", "x_test", "y_test")
LAYOUT = "keras' mnist.npz layout: x_train, y_train, x_test, y_test"


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX ubyte file (optionally gzipped); checks the magic number and the size."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read IDX file {path}: {one_line(exc)}") from None
    if len(raw) < 4:
        raise DataError(
            f"{path} is {'too short' if raw else 'empty (0 bytes)'}; expected an IDX ubyte file"
        )
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 2, 3, 4):
        raise DataError(f"{path} is not an IDX ubyte file (bad magic number {raw[:4].hex()})")
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: the IDX header is cut short (truncated?)")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise DataError(
            f"{path}: expected {math.prod(dims)} values, found {data.size} "
            f"({'truncated?' if data.size < math.prod(dims) else 'trailing bytes'})"
        )
    return data.reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for suffix in ("", ".gz"):
        for name in (stem, stem.replace("-idx", ".idx")):
            p = folder / (name + suffix)
            if p.is_file():
                return p
    return None


def read_idx_arrays(folder: Path) -> tuple[tuple[np.ndarray, ...], dict[str, str]]:
    parts, files = [], {}
    for key, stem in zip(
        KEYS,
        (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ),
    ):
        p = _find_idx(folder, stem)
        if p is None:
            raise DataError(f"{folder} has no {stem}[.gz] file")
        parts.append(read_idx(p))
        files[key] = str(p)
    return tuple(parts), files


def _not_npz(path: Path, head: bytes) -> str:
    """Why a file without the zip signature is not an .npz (one honest phrase)."""
    if head.startswith(b"\x93NUMPY"):
        return f"{path} is a single .npy array, not an .npz archive ({LAYOUT})"
    if head.startswith(b"\x1f\x8b"):
        return f"{path} is gzip data, not an .npz archive (for IDX files give their folder)"
    text = b"\x00" not in head and "\ufffd" not in head[:509].decode("utf-8", "replace")
    return f"{path} is not an .npz archive ({'it is a text file' if text else 'no zip signature'})"


def read_npz_arrays(path: Path) -> tuple[np.ndarray, ...]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or one_line(exc)}") from None
    if not head:
        raise DataError(f"{path} is empty (0 bytes); expected an .npz archive ({LAYOUT})")
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise DataError(_not_npz(path, head))
    key = None
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in KEYS if k not in f.files]
            if missing:
                raise DataError(
                    f"{path} lacks the array(s) {', '.join(missing)} "
                    f"(expected {LAYOUT}; found: {', '.join(f.files) or 'none'})"
                )
            arrays = []
            for key in KEYS:
                arrays.append(f[key])
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
        if isinstance(exc, ValueError) and "pickle" in str(exc):
            raise DataError(
                f"{path}: {key or 'an array'} is an object array, which needs pickle; "
                "only plain numeric arrays are loaded (allow_pickle=False)"
            ) from None
        raise DataError(
            f"{path} is a truncated or damaged .npz archive ({one_line(exc)})"
        ) from None
    return tuple(arrays)


def _count_nonfinite(a: np.ndarray, bad, what: str, rule: str) -> None:
    if a.dtype.kind == "f":
        for n, kind in ((int(np.isnan(a).sum()), "NaN"), (int(np.isinf(a).sum()), "infinite")):
            if n:
                raise bad(f"has {n} {kind} {what}(s); {rule}")


def _images(x: np.ndarray, bad) -> np.ndarray:
    if x.ndim == 4 and x.shape[1:] == (28, 28, 1) or x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 28, 28)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise bad(f"has shape {x.shape}; images must be N×28×28 (or N×784, N×28×28×1)")
    if x.dtype.kind not in "uif":
        raise bad(f"has dtype {x.dtype}; pixels must be numbers")
    _count_nonfinite(x, bad, "pixel", "pixels must be finite")
    outside = int(((x < 0) | (x > 255)).sum())
    if outside:
        raise bad(f"has {outside} pixel(s) outside 0..255 (min {x.min():g}, max {x.max():g})")
    return x


def _labels(y: np.ndarray, bad, classes: int) -> tuple[np.ndarray, bool]:
    """Class indices as int64, and whether they were one-hot rows."""
    rule = f"labels must be class indices 0..{classes - 1}"
    onehot = y.ndim == 2 and y.shape[1] == classes
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 and not onehot:
        raise bad(f"has shape {y.shape}; {rule} (shape N) or one-hot rows (N×{classes})")
    if y.dtype.kind not in "uif" + ("b" if onehot else ""):
        raise bad(f"has dtype {y.dtype}; {rule}")
    if onehot:
        rows = int((~(((y == 0) | (y == 1)).all(1) & ((y == 1).sum(1) == 1))).sum())
        if rows:
            raise bad(f"has shape {y.shape} but {rows} row(s) are not one-hot (one 1, the rest 0)")
        return y.argmax(1).astype(np.int64), True
    _count_nonfinite(y, bad, "label", rule)
    frac = y[y != np.round(y)]
    if frac.size:
        raise bad(f"has {frac.size} non-integer label(s) (e.g. {frac[0]:g}); {rule}")
    out = y[(y < 0) | (y >= classes)]
    if out.size:
        raise bad(f"has {out.size} label(s) outside 0..{classes - 1} (e.g. {out[0]:g}); {rule}")
    return y.astype(np.int64), False


def validate_arrays(
    arrays, where: str, files: dict[str, str] | None = None, classes: int = CLASSES
) -> tuple[tuple[np.ndarray, ...], list[str]]:
    """Check (x_train, y_train, x_test, y_test) from any source; return them normalised
    (uint8 N×28×28 images, int64 labels) with notes on the conversions made.

    Images: N×28×28, N×784 or N×28×28×1.  Pixels: integers in 0..255, or finite floats
    either all in [0, 1] (scaled by 255) or in [0, 255]; floats are rounded to uint8.
    Labels: integers (or integral floats) in [0, classes), or one-hot rows N×classes,
    converted with argmax (noted).  Each split needs at least one sample, and as many
    labels as images.  ``files`` names the file of each array (IDX folders).
    """

    def bad_for(key):
        return lambda msg: DataError(f"{(files or {}).get(key, where)}: {key} {msg}")

    arrays = [np.asarray(a) for a in arrays]
    for key, a in zip(KEYS, arrays):
        if a.ndim and not len(a):
            raise bad_for(key)("is empty (0 samples); each split needs at least one sample")
    xs = [_images(arrays[i], bad_for(KEYS[i])) for i in (0, 2)]
    ys = [_labels(arrays[i], bad_for(KEYS[i]), classes) for i in (1, 3)]
    for (xk, yk), x, (y, _) in zip((KEYS[:2], KEYS[2:]), xs, ys):
        if len(x) != len(y):
            raise DataError(f"{where}: {xk} has {len(x)} images but {yk} has {len(y)} labels")
    notes = [
        f"{k} is one-hot; converted to class indices with argmax"
        for k, (_, hot) in zip(KEYS[1::2], ys)
        if hot
    ]
    unit = {k: float(x.max()) <= 1.0 for k, x in zip(KEYS[::2], xs) if x.dtype.kind == "f"}
    if any(unit.values()) and not (len(unit) == 2 and all(unit.values())):
        raise DataError(
            f"{where}: {next(k for k, u in unit.items() if u)} is in [0, 1] but the "
            "other split is in [0, 255]; use one pixel scale for both"
        )
    scale = 255.0 if any(unit.values()) else 1.0
    if unit:
        notes.append(
            f"float pixels in [0, {'1] scaled by 255 and' if scale > 1 else '255]'} "
            "rounded to uint8"
        )
    xs = [
        np.rint(x * scale).astype(np.uint8)
        if x.dtype.kind == "f"
        else x.astype(np.uint8, copy=False)
        for x in xs
    ]
    return (xs[0], ys[0][0], xs[1], ys[1][0]), notes
