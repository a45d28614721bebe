"""Your own model: nested models (a backbone inside a Functional model), colour and other
sizes, a Keras application model.  The models are built here (no download)."""

from __future__ import annotations

import numpy as np
import pytest
from models import colour_cnn


def _backbone(keras, shape, name="backbone"):
    return keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Conv2D(6, 3, activation="relu", name="c1"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(8, 3, activation="relu", name="c2"),
        ],
        name=name,
    )


def _nested(keras, shape=(28, 28, 1), seed=0):
    """Input -> backbone(c1, pool, c2) -> global average pool -> Dense head (softmax)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape)
    h = _backbone(keras, shape)(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(10, activation="softmax", name="head")(h)
    return keras.Model(inp, out)


def _flat_copy(keras, nested):
    """The same network without the nesting (the same weights)."""
    shape = nested.inputs[0].shape[1:]
    inp = keras.Input(shape)
    h = inp
    for ly in nested.get_layer("backbone").layers:
        h = ly.__class__.from_config(ly.get_config())(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(10, activation="softmax", name="head")(h)
    flat = keras.Model(inp, out)
    flat.set_weights(nested.get_weights())
    return flat


@pytest.fixture(scope="module")
def keras():
    from oipviz.core.tfenv import import_keras

    return import_keras()


@pytest.fixture(scope="module")
def nested_file(keras, tmp_path_factory):
    path = tmp_path_factory.mktemp("nested") / "nested.keras"
    _nested(keras).save(path)
    return path


def test_nested_layers_are_listed_with_paths_and_found_by_short_name(nested_file):
    from oipviz import load_model

    m = load_model(nested_file)
    names = [i.name for i in m.layers]
    assert "backbone/c1" in names and "backbone/c2" in names and "backbone" not in names
    assert m.layer("c2").name == m.layer("backbone/c2").name == "backbone/c2"
    assert m.layer("conv2").name == "backbone/c2"  # the second conv layer
    with pytest.raises(Exception, match="nested model, not a layer.*backbone/c2"):
        m.layer("backbone")


def test_inner_activations_and_gradients_equal_a_flat_copy(keras, nested_file):
    import tensorflow as tf

    from oipviz import load_model
    from oipviz.core.loader import wrap_model

    nested = load_model(nested_file)
    flat = wrap_model(_flat_copy(keras, nested.model))
    z = tf.constant(np.random.default_rng(0).normal(size=(3, 28, 28, 1)).astype(np.float32))
    grads, outs = [], []
    for m, layer in ((nested, "backbone/c2"), (flat, "c2")):
        with tf.GradientTape() as tape:
            tape.watch(z)
            a, logits = m.heads([(layer, False), ("head", True)])(z)
            s = tf.reduce_sum(a[..., 3]) + tf.reduce_sum(logits[:, 7])
        outs.append((a.numpy(), logits.numpy()))
        grads.append(tape.gradient(s, z).numpy())
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-5, atol=1e-6)
    assert np.abs(grads[0]).max() > 0
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_gradcam_through_the_nesting_equals_the_flat_copy(keras, nested_file):
    import oipviz
    from oipviz.core.loader import wrap_model

    nested = oipviz.load_model(nested_file)
    flat = wrap_model(_flat_copy(keras, nested.model))
    x = np.random.default_rng(1).uniform(0, 1, (4, 28, 28)).astype(np.float32)
    a = oipviz.explain(x, "gradcam", model=nested, layer="c2").maps["gradcam"]
    b = oipviz.explain(x, "gradcam", model=flat, layer="c2").maps["gradcam"]
    assert a.shape == (4, 28, 28) and np.abs(a).max() > 0
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_oip_of_an_inner_layer(nested_file):
    import oipviz

    m = oipviz.load_model(nested_file)
    run = oipviz.oip("c2", [0, 3], m, inits=2, steps=20, progress=False)
    assert run.layer == "backbone/c2" and run.images.shape == (2, 2, 28, 28, 1)
    assert (run.final >= run.start - 1e-6).all() and (run.final > run.start).any()


def test_colour_model_of_another_size(tmp_path):
    import oipviz

    model = colour_cnn(0, (8, 12), 5, flat=True)
    path = tmp_path / "colour.keras"
    model.save(path)
    m = oipviz.load_model(path)
    assert m.geometry.shape == (32, 32, 3) and m.convention.kind == "255"
    run = oipviz.oip("conv2", [1], m, inits=2, steps=10, range_mode="valid", progress=False)
    assert run.images.shape == (1, 2, 32, 32, 3)
    px = m.convention.from_engine(run.images)
    assert px.min() >= -1e-5 and px.max() <= 1 + 1e-5  # valid range: real RGB pixels
    x = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    res = oipviz.explain(x, "saliency,gradcam", model=m)
    assert res.maps["saliency"].shape == (3, 32, 32) and res.probs.shape == (3, 5)
    # the probabilities are the model's own on the same pixels
    np.testing.assert_allclose(res.probs, model.predict(x.astype("float32"), verbose=0), atol=1e-5)


def test_mobilenet_v3_small_loads_and_its_inner_conv_layers_are_usable(keras, tmp_path):
    import oipviz

    model = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(96, 96, 3), classes=10, include_preprocessing=True
    )
    path = tmp_path / "mobilenet.keras"
    model.save(path)
    m = oipviz.load_model(path)
    assert m.geometry.shape == (96, 96, 3) and m.convention.kind == "255"
    conv = [i for i in m.layers if i.is_conv]
    assert len(conv) > 20
    run = oipviz.oip(conv[5].name, [0], m, inits=1, steps=3, progress=False)
    assert run.images.shape == (1, 1, 96, 96, 3) and np.isfinite(run.final).all()


@pytest.mark.parametrize(
    "build, fragment",
    [("two_inputs", "has 2 inputs"), ("vector", "not an image"), ("big", "sides of 8 to 512 px")],
)
def test_unusable_models_are_refused_in_one_line(keras, tmp_path, build, fragment):
    from oipviz import load_model
    from oipviz.core.errors import ModelError

    if build == "two_inputs":
        a, b = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
        out = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Add()([a, b])))
        model = keras.Model([a, b], out)
    elif build == "vector":
        model = keras.Sequential([keras.Input((100,)), keras.layers.Dense(3)])
    else:
        model = keras.Sequential([keras.Input((600, 600, 3)), keras.layers.Conv2D(2, 3)])
    path = tmp_path / f"{build}.keras"
    model.save(path)
    with pytest.raises(ModelError, match=fragment):
        load_model(path)


def test_grey_images_given_to_a_colour_model_are_converted_with_a_note(keras, tmp_path):
    import oipviz

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
         keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")]
    )  # fmt: skip
    path = tmp_path / "c16.keras"
    model.save(path)
    grey = np.random.default_rng(0).uniform(0, 1, (2, 16, 16)).astype(np.float32)
    res = oipviz.explain(grey, "saliency", model=path)
    assert any("repeated over R, G and B" in n for n in res.notes)
    assert res.images.shape == (2, 16, 16, 3)


@pytest.mark.slow
def test_activations_and_gallery_of_a_nested_layer_write_linked_pages(cli, nested_file, tmp_path):
    """A nested layer's path (backbone/c2) names its files as backbone--c2; every link of
    the pages resolves."""
    import re

    act = tmp_path / "act"
    r = cli("activations", "--model", nested_file, "--samples", 2, "--out", act)
    assert r.exit_code == 0, r.output
    assert (act / "input_00" / "backbone--c2.png").is_file()
    gal = tmp_path / "gal"
    r = cli("gallery", "--model", nested_file, "--layer", "c2", "--maps", "0-3", "--inits", 2,
            "--epochs", 20, "--precursor-epochs", 10, "--feature-method", "pca",
            "--feature-samples", 100, "--out", gal)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (gal / "backbone--c2" / "map_000.html").is_file()
    for root in (act, gal):
        for page in root.rglob("*.html"):
            for ref in re.findall(r'(?:src|href)="([^"#:]+)"', page.read_text()):
                assert (page.parent / ref).exists(), (page, ref)
