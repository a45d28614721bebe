"""``oipviz.predict`` (the explorer's forward pass): probabilities and every layer's outputs
agree with Keras itself on real digits."""

from __future__ import annotations

import numpy as np
import pytest

import oipviz
from oipviz.core.errors import OipvizError
from oipviz.data.inputs import real_images


@pytest.fixture(scope="module")
def digits():
    x, y, _ = real_images("mnist", 5000, 0, "all")
    pick = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(10)])
    return x[pick], y[pick]


def test_predict_matches_keras(loaded, digits):
    x, y = digits
    pred = oipviz.predict(x[..., 0], loaded)
    keras_probs = loaded.predict(x)
    np.testing.assert_allclose(pred.probabilities, keras_probs, atol=1e-5)
    assert pred.probabilities.shape == (30, 10)
    assert (pred.predicted == y).mean() >= 0.9  # the bundled model reads real digits
    assert pred.layers == ["conv1", "conv2", "conv3", "dense1", "predictions"]
    import keras

    m = loaded.model
    sub = keras.Model(m.inputs, [m.get_layer("conv3").output, m.get_layer("dense1").output])
    ref = sub(loaded.model_input(x))  # Keras itself, on the model's own input
    np.testing.assert_allclose(pred.activations["conv3"], np.asarray(ref[0]), atol=1e-4)
    np.testing.assert_allclose(pred.activations["dense1"], np.asarray(ref[1]), atol=1e-4)
    assert pred.map_means("conv3").shape == (30, 128)
    np.testing.assert_allclose(
        pred.map_means("conv3"), pred.activations["conv3"].mean(axis=(1, 2)), rtol=1e-6
    )
    assert pred.map_means("dense1").shape == (30, 70)


def test_predict_one_image_and_layers(loaded, digits):
    x, _ = digits
    one = oipviz.predict(x[0, :, :, 0], loaded, layers=["pool1"])
    assert one.layers == ["pool1"] and one.activations["pool1"].shape == (1, 13, 13, 32)
    assert one.probabilities.shape == (1, 10)
    np.testing.assert_allclose(one.probabilities.sum(), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "bad, msg",
    [
        (np.zeros((2, 27, 28)), "shape 2×27×28; the model takes 28×28 images"),
        (np.full((28, 28), np.nan), "NaN"),
        (np.zeros((0, 28, 28)), "images is empty"),
        (np.full((28, 28), 2.0), "oipviz takes pixels in [0, 1]"),
    ],
)
def test_predict_rejects_bad_images(loaded, bad, msg):
    with pytest.raises(OipvizError, match=None) as err:
        oipviz.predict(bad, loaded)
    assert msg in str(err.value)
