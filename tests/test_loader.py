"""Loading user models: legacy .h5 with default names, a raw-0–255 functional model with a
Rescaling layer, and the models/files that must be refused with one line."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from oipviz.core.errors import LayerError, ModelError


@pytest.fixture(scope="module")
def models(tmp_path_factory, loaded):
    """Small real models saved to disk (built once per module)."""
    import keras
    from keras import layers

    d = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    # legacy HDF5, default layer names (conv2d, conv2d_1, ...), unit-scaled input
    legacy = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(24, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    legacy.save(d / "legacy.h5")
    # functional, raw 0-255 (28, 28) input, rescaled inside the model
    inp = keras.Input((28, 28), name="raw")
    h = layers.Reshape((28, 28, 1), name="reshape")(inp)
    h = layers.Rescaling(1 / 255, name="rescale")(h)
    h = layers.Conv2D(8, 3, activation="relu", name="c1")(h)
    h = layers.MaxPooling2D(2, name="p1")(h)
    h = layers.Conv2D(12, 3, activation="relu", name="c2")(h)
    h = layers.Flatten(name="flat")(h)
    out = layers.Dense(10, activation="softmax", name="out")(h)
    raw = keras.Model(inp, out, name="raw255")
    raw.save(d / "raw255.keras")
    # a Lambda layer (arbitrary code in the file)
    lam = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Lambda(lambda t: t * 2.0, name="double"),
            layers.Conv2D(4, 3, activation="relu", name="conv1"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax", name="predictions"),
        ]
    )
    lam.save(d / "lambda.keras")
    # a colour 32x32 model
    rgb = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(4, 3, name="conv1"),
            layers.Flatten(),
            layers.Dense(10, name="predictions"),
        ]
    )
    rgb.save(d / "rgb32.keras")
    vec = keras.Sequential([keras.Input((100,)), layers.Dense(3, name="predictions")])
    vec.save(d / "vec100.keras")
    (d / "garbage.keras").write_bytes(b"this is not a zip archive at all" * 10)
    h5 = (d / "legacy.h5").read_bytes()
    (d / "truncated.h5").write_bytes(h5[: len(h5) // 3])
    return d


def test_legacy_h5_default_names(models, cli):
    from oipviz.core.loader import load_model

    m = load_model(models / "legacy.h5")
    convs = m.conv_layers()
    assert [c.units for c in convs] == [8, 16, 24]
    assert all(re.fullmatch(r"conv2d(_\d+)?", c.name) for c in convs), [c.name for c in convs]
    assert len({c.name for c in convs}) == 3
    assert [c.shape for c in convs] == [(None, 26, 26, 8), (None, 11, 11, 16), (None, 3, 3, 24)]
    assert m.convention.kind == "unit" and m.geometry.model_shape == (28, 28, 1) and m.card is None
    # convN aliases the N-th conv layer
    assert m.layer("conv1").name == convs[0].name and m.layer("conv3").name == convs[2].name
    assert m.check_maps("conv3", [0, 23]) == [0, 23]
    with pytest.raises(LayerError, match="valid 0–23"):
        m.check_maps("conv3", [24])
    with pytest.raises(LayerError) as e:
        m.layer("conv4")
    assert convs[0].name in str(e.value) and "dense" in str(e.value)

    r = cli("info", "--model", models / "legacy.h5")
    assert r.exit_code == 0, r.stderr
    for c in convs:
        assert re.search(
            rf"^{c.name}\s+Conv2D\s+\(N, \d+, \d+, {c.units}\)\s+{c.units} maps$", r.stdout, re.M
        ), r.stdout
    assert re.search(r"^dense\S*\s+Dense\s+\(N, 10\)\s+10 units$", r.stdout, re.M), r.stdout
    assert "pixels in [0, 1]" in r.stdout and "card: none" in r.stdout


def test_alias_in_oip_command_on_default_names(models, cli, tmp_path):
    out = tmp_path / "oip"
    r = cli(
        "oip",
        "--model",
        models / "legacy.h5",
        "--layer",
        "conv3",
        "--map",
        "0-1",
        "--inits",
        "1",
        "--epochs",
        "3",
        "--out",
        out,
        "--quiet",
    )
    assert r.exit_code == 0, (r.stdout, r.stderr)
    manifest = json.loads((out / "manifest.json").read_text())
    assert re.fullmatch(r"conv2d(_\d+)?", manifest["layer"]) and manifest["layer"] != "conv3"
    assert [e["map"] for e in manifest["maps"]] == [0, 1]
    assert manifest["model"]["path"].endswith("legacy.h5")


def test_functional_raw255_with_rescaling(models, cli):
    import keras

    from oipviz.core import objectives as O
    from oipviz.core.ascent import evaluate
    from oipviz.core.loader import load_model

    path = models / "raw255.keras"
    m = load_model(path)
    assert m.convention.kind == "255" and "rescale" in m.convention.source
    assert m.geometry.model_shape == (28, 28)
    assert [(c.name, c.units) for c in m.conv_layers()] == [("c1", 8), ("c2", 12)]
    assert m.layer("conv2").name == "c2"
    # predictions on [0,1] images equal the raw model's on 0-255 (28,28) arrays
    rng = np.random.default_rng(0)
    x01 = rng.uniform(0, 1, (5, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(
        m.predict(x01), m.model.predict(x01[..., 0] * 255.0, verbose=0), rtol=1e-4, atol=1e-6
    )
    # the engine sees the same activations as the raw model
    feat = keras.Model(m.model.inputs, m.model.get_layer("c2").output)
    want = np.asarray(feat(x01[..., 0] * 255.0))[..., 5].mean(axis=(1, 2))
    got = evaluate(m, m.convention.to_engine(x01), O.map_mean("c2", 5))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

    r = cli("info", "--model", path)
    assert r.exit_code == 0, r.stderr
    assert "pixels in [0, 255]" in r.stdout and "Rescaling layer 'rescale'" in r.stdout
    assert re.search(r"^c1\s+Conv2D\s+\(N, 26, 26, 8\)\s+8 maps$", r.stdout, re.M), r.stdout
    assert re.search(r"^c2\s+Conv2D\s+\(N, 11, 11, 12\)\s+12 maps$", r.stdout, re.M), r.stdout
    # --input-scale overrides the detected convention
    r = cli("info", "--model", path, "--input-scale", "unit")
    assert r.exit_code == 0 and "pixels in [0, 1]  (from --input-scale)" in r.stdout


@pytest.mark.parametrize(
    "name, fragments",
    [
        ("lambda.keras", ("Lambda", "--unsafe")),
        ("garbage.keras", ("garbage.keras", "corrupt")),
        ("truncated.h5", ("truncated.h5",)),
        ("missing.keras", ("missing.keras", "not found")),
        ("vec100.keras", ("expects input 100", "not an image")),
    ],
)
def test_bad_models_are_one_line_errors(models, cli, user_error, name, fragments):
    user_error(cli("info", "--model", models / name), *fragments)
    from oipviz.core.loader import load_model

    with pytest.raises(ModelError):
        load_model(models / name)


def test_unsafe_allows_lambda(models, cli):
    from oipviz.core.loader import load_model

    m = load_model(models / "lambda.keras", unsafe=True)
    x = np.full((1, 28, 28, 1), 0.5, np.float32)
    assert m.predict(x).shape == (1, 10)
    r = cli("info", "--model", models / "lambda.keras", "--unsafe")
    assert r.exit_code == 0, r.stderr
    assert re.search(r"^conv1\s+Conv2D\s+\(N, 26, 26, 4\)\s+4 maps$", r.stdout, re.M), r.stdout


@pytest.mark.parametrize("given", ["mean", "std"])
def test_card_with_half_a_standardization_is_a_one_line_error(
    models, cli, user_error, tmp_path, given
):
    """A card that says ``standardize`` with a mean but no std (or a std but no mean) is
    refused in one line (it was a TypeError traceback, or a std silently replaced)."""
    from oipviz.core.loader import load_model

    path = tmp_path / "half.h5"
    path.write_bytes((models / "legacy.h5").read_bytes())
    card = {"preprocessing": {"kind": "standardize", given: 0.5}}
    (tmp_path / "half.card.json").write_text(json.dumps(card))
    user_error(cli("info", "--model", path), "model card", "mean", "std")
    with pytest.raises(ModelError, match="both a mean and a std"):
        load_model(path)
    card["preprocessing"] = {"kind": "standardize", "mean": 0.5, "std": 0.25}
    (tmp_path / "half.card.json").write_text(json.dumps(card))
    m = load_model(path)
    assert (m.convention.means, m.convention.stds) == ((0.5,), (0.25,))


def test_info_on_bundled_model(cli, loaded):
    r = cli("info")
    assert r.exit_code == 0, r.stderr
    for name, shape, n in (
        ("conv1", "(N, 26, 26, 32)", 32),
        ("conv2", "(N, 11, 11, 64)", 64),
        ("conv3", "(N, 3, 3, 128)", 128),
    ):
        assert re.search(rf"^{name}\s+Conv2D\s+{re.escape(shape)}\s+{n} maps$", r.stdout, re.M), (
            r.stdout
        )
    assert re.search(r"^dense1\s+Dense\s+\(N, 70\)\s+70 units$", r.stdout, re.M)
    acc = loaded.card["heldout_accuracy"]
    assert f"held-out accuracy {acc:.2%}" in r.stdout
    assert "standardized" in r.stdout and "model card" in r.stdout


def test_bundled_model_api(loaded):
    assert [(c.name, c.units) for c in loaded.conv_layers()] == [
        ("conv1", 32),
        ("conv2", 64),
        ("conv3", 128),
    ]
    assert loaded.layer("conv3").shape == (None, 3, 3, 128)
    with pytest.raises(LayerError) as e:
        loaded.layer("nope")
    assert "conv1, conv2, conv3, dense1, predictions" in str(e.value)
    with pytest.raises(LayerError, match="valid 0–127"):
        loaded.check_maps("conv3", [128])
    x = np.random.default_rng(0).uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(
        loaded.convention.from_engine(loaded.convention.to_engine(x)), x, atol=1e-6
    )
