"""The Python API's input contract (oipviz.core.pixels) and its errors, as a user meets them.

* uint8 digits straight from ``oipviz.load_dataset()`` are predicted as the model predicts
  them (checked against plain Keras with the card's standardization);
* floats must be pixels in [0, 1]: floats up to 255, negative values, NaN, infinities and
  wrong shapes are one-line ``OipvizError``s that say what was found and what to do;
* every function of the API answers bad arguments with an ``OipvizError`` (never a
  TypeError or AttributeError from deep inside).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def digits():
    """The first 64 held-out digits of ``oipviz.load_dataset()``: uint8, (64, 28, 28)."""
    import os

    import oipviz

    old = os.environ.get("OIPVIZ_OFFLINE")
    os.environ["OIPVIZ_OFFLINE"] = "1"  # no network probe: the offline sources answer
    try:
        ds = oipviz.load_dataset()
    finally:
        if old is None:
            del os.environ["OIPVIZ_OFFLINE"]
        else:
            os.environ["OIPVIZ_OFFLINE"] = old
    assert ds.x_test.dtype == np.uint8
    return ds.x_test[:64], ds.y_test[:64]


@pytest.fixture(scope="module")
def keras_probs(digits):
    """Class probabilities of the bundled model from plain Keras: the card's
    standardization applied by hand, no oipviz code in the path."""
    import keras

    from oipviz.core.loader import bundled_model_path, card_path

    path = bundled_model_path("seed_cnn")
    card = json.loads(card_path(path).read_text())
    pre = card["preprocessing"]
    assert pre["kind"] == "standardize"
    x = digits[0].astype(np.float32) / 255.0
    z = ((x - pre["mean"]) / pre["std"])[..., None]
    model = keras.models.load_model(path, compile=False)
    out = np.asarray(model.predict(z, verbose=0))
    if not np.allclose(out.sum(axis=1), 1.0, atol=1e-4):  # logits
        out = np.exp(out - out.max(axis=1, keepdims=True))
        out /= out.sum(axis=1, keepdims=True)
    return out


def test_uint8_digits_from_load_dataset_are_predicted_right(digits, keras_probs):
    import oipviz

    x, y = digits
    res = oipviz.explain(x, "saliency")  # the user's call: uint8 straight from the dataset
    want = keras_probs.argmax(axis=1)
    np.testing.assert_array_equal(res.predicted, want)
    np.testing.assert_allclose(res.probs, keras_probs, atol=2e-4)
    assert (res.predicted == y).mean() >= 0.95
    assert res.images.dtype == np.float32 and 0.0 <= res.images.min() <= res.images.max() <= 1.0
    np.testing.assert_allclose(res.images[..., 0], x / 255.0, atol=1e-7)
    # the same digits as floats in [0, 1] give the same predictions and maps
    floats = oipviz.explain(x.astype(np.float32) / 255.0, "saliency")
    np.testing.assert_array_equal(floats.predicted, res.predicted)
    np.testing.assert_allclose(floats.maps["saliency"], res.maps["saliency"], rtol=1e-5, atol=1e-7)


def test_the_issue_call_explains_four_digits_with_every_method(digits, keras_probs):
    """``oipviz.explain(ds.x_test[:4])`` (issue #27) predicted nonsense on uint8 digits."""
    import oipviz

    res = oipviz.explain(digits[0][:4])
    np.testing.assert_array_equal(res.predicted, keras_probs[:4].argmax(axis=1))
    assert set(res.methods) >= {"saliency", "ig", "gradcam", "occlusion"}
    for name, maps in res.maps.items():
        assert maps.shape == (4, 28, 28) and np.isfinite(maps).all(), name


def _bad_images():
    x = np.linspace(0.0, 1.0, 2 * 28 * 28, dtype=np.float32).reshape(2, 28, 28)
    nan, inf = x.copy(), x.copy()
    nan[1, 3, 3], inf[0, 0, 0] = NAN, -INF
    return {
        # what was found, and how to convert
        "floats up to 255": (x * 255.0, ["[0, 255]", "[0, 1]", "divide by 255"]),
        "int64 0-255": ((x * 255).astype(np.int64), ["[0, 255]", "divide by 255"]),
        "negative": (x - 0.5, ["[-0.5, 0.5]", "[0, 1]", "from_engine"]),
        "engine space": ((x - 0.13) / 0.31, ["[0, 1]", "from_engine"]),
        "NaN": (nan, ["NaN"]),
        "-inf": (inf, ["infinite"]),
        "32x32": (np.zeros((2, 32, 32), np.float32), ["2×32×32", "28×28", "resize"]),
        "2 channels": (np.zeros((2, 28, 28, 2), np.float32), ["28×28", "1 channel"]),
        "27 rows": (np.zeros((2, 27, 28), np.float32), ["2×27×28", "28×28"]),
        "783 values": (np.zeros((2, 783), np.float32), ["2×783", "28×28"]),
        "booleans": (np.zeros((2, 28, 28), bool), ["bool", "uint8", "[0, 1]"]),
        "objects": (np.array([[0.5, None]], dtype=object), ["object"]),
        "empty": (np.zeros((0, 28, 28), np.float32), ["empty"]),
    }


@pytest.mark.parametrize("case", sorted(_bad_images()))
def test_bad_images_are_one_line_errors(loaded, case):
    import oipviz

    x, fragments = _bad_images()[case]
    with pytest.raises(oipviz.OipvizError) as info:
        oipviz.explain(x, "saliency", model=loaded)
    msg = str(info.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, (f, msg)


def test_grey_digits_given_to_a_colour_model_are_repeated_with_a_note(digits, tmp_path):
    """The contract's one conversion: grey → RGB for a colour model, said in a note."""
    import keras

    import oipviz

    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [keras.Input((28, 28, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="c"),
         keras.layers.Flatten(), keras.layers.Dense(10, name="out")]
    )  # fmt: skip
    path = tmp_path / "rgb.keras"
    m.save(path)
    x = digits[0][:3]
    res = oipviz.explain(x, "saliency", model=str(path))
    assert any("repeated over R, G and B" in n for n in res.notes), res.notes
    rgb = np.repeat(x[..., None], 3, axis=-1)
    np.testing.assert_allclose(res.images, rgb / 255.0, atol=1e-7)
    same = oipviz.explain(rgb, "saliency", model=str(path))
    np.testing.assert_array_equal(same.predicted, res.predicted)
    assert same.notes == []


DREAM_IMAGE = np.tile(np.linspace(0.0, 1.0, 40, dtype=np.float32), (40, 1))  # a ramp


def _api_errors():
    """(call(model), fragments of the message) of every API function with bad input."""
    import oipviz
    from oipviz.core import objectives as O

    img = DREAM_IMAGE
    arr = np.zeros((10, 28, 28), np.float32)

    def d(**kw):
        return lambda m: oipviz.dream(**dict(dict(image=img, map=56, model=m, iters=1,
                                                  steps=1, progress=False), **kw))  # fmt: skip

    def o(**kw):
        return lambda m: oipviz.oip(**dict(dict(layer="conv3", maps=46, model=m, inits=1,
                                                steps=1, progress=False), **kw))  # fmt: skip

    return {
        # images for dream follow the same rules: pixels in [0, 1], said how to convert
        "dream floats up to 255": (d(image=img * 255), ["[0, 255]", "divide by 255"]),
        "dream negative": (d(image=img - 1.0), ["[-1, 0]", "[0, 1]"]),
        "dream NaN": (d(image=np.full((40, 40), NAN)), ["NaN"]),
        "dream too small": (d(image=np.full((10, 10), 0.5)), ["10×10", "28×28"]),
        "dream a batch": (d(image=np.full((2, 40, 40, 1), 0.5)), ["(2, 40, 40, 1)"]),
        "dream steps=-1": (d(steps=-1), ["steps"]),
        "dream map 999": (d(map=999), ["999", "0–127"]),
        # data= is a dataset's path (the images and their labels), not an array
        "embed data=array": (
            lambda m: oipviz.embed("dense1", m, data=arr, samples=20, method="pca"),
            ["data", "path", "ndarray"],
        ),
        "clusters data=array": (
            lambda m: oipviz.clusters("dense1", m, data=arr, samples=50, k=[2, 3]),
            ["data", "path", "ndarray"],
        ),
        "weights data=array": (
            lambda m: oipviz.weights(model=m, data=arr, samples=50),
            ["data", "path", "ndarray"],
        ),
        "embed data=missing": (
            lambda m: oipviz.embed("dense1", m, data="/nonexistent.npz", samples=20, method="pca"),
            ["/nonexistent.npz", "does not exist"],
        ),
        # the CLI refuses --epochs 0: so does the API
        "oip steps=0": (o(steps=0), ["steps", ">= 1"]),
        "oip steps='5'": (o(steps="5"), ["steps", "integer"]),
        "oip inits=0": (o(inits=0), ["inits", ">= 1"]),
        "oip map 'a'": (o(maps="a"), ["map", "'a'"]),
        "oip map 128": (o(maps=128), ["128", "0–127"]),
        "oip layer None": (o(layer=None), ["layer", "None"]),
        "oip layer pool": (o(layer="nope"), ["nope", "conv3"]),
        "oip init_images NaN": (
            o(init_images=np.full((1, 1, 28, 28, 1), NAN, np.float32)),
            ["init_images", "NaN"],
        ),
        "oip init_images shape": (
            o(init_images=np.zeros((1, 1, 28, 28), np.float32)),
            ["init_images", "(1, 1, 28, 28, 1)"],
        ),
        "precursor steps=0": (
            lambda m: oipviz.precursor("conv3", 46, m, grid=1, top=1, steps=0, progress=False),
            ["steps", ">= 1"],
        ),
        "precursor two maps": (
            lambda m: oipviz.precursor("conv3", [1, 2], m, grid=1, top=1, steps=1, progress=False),
            ["map", "[1, 2]"],
        ),
        "precursor values": (
            lambda m: oipviz.precursor("conv3", 46, m, grid=1, values=[2.0], progress=False),
            ["2", "[0, 1]"],
        ),
        "rescue map 999": (lambda m: oipviz.rescue("conv3", [999], m, progress=False), ["999"]),
        "explain method": (lambda m: oipviz.explain(arr, "bogus", model=m), ["bogus"]),
        "explain target": (lambda m: oipviz.explain(arr, "saliency", 10, m), ["10", "0–9"]),
        "explain ig_steps=0": (
            lambda m: oipviz.explain(arr, "ig", model=m, ig_steps=0),
            ["ig steps", ">= 2"],
        ),
        "explain true without labels": (
            lambda m: oipviz.explain(arr, "saliency", "true", m),
            ["labels"],
        ),
        "embed method": (
            lambda m: oipviz.embed("dense1", m, method="umapx", samples=20),
            ["umapx"],
        ),
        "clusters k": (lambda m: oipviz.clusters("dense1", m, k="x", samples=50), ["'x'"]),
        "load_model missing": (lambda m: oipviz.load_model("/nonexistent.keras"), ["not found"]),
        "load_dataset name": (lambda m: oipviz.load_dataset("cifar10"), ["cifar10"]),
        "ascend x0 shape": (
            lambda m: oipviz.ascend(m, np.zeros((2, 5)), O.map_mean("conv3", 1), steps=1),
            ["x0", "(2, 5)"],
        ),
    }


@pytest.mark.parametrize("case", sorted(_api_errors()))
def test_every_api_error_is_an_oipviz_error(loaded, case):
    import oipviz

    call, fragments = _api_errors()[case]
    with pytest.raises(Exception) as info:
        call(loaded)
    assert isinstance(info.value, oipviz.OipvizError), (type(info.value), info.value)
    msg = str(info.value)
    assert msg and "\n" not in msg and "Traceback" not in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
