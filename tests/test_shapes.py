"""The generated colour data set ``shapes``, ``oipviz train`` on it, and the bundled
``shapes`` model (shapes_cnn)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import argv
from PIL import Image

from oipviz.data import shapes
from oipviz.data.sources import load_dataset

N_CLASSES = len(shapes.CLASS_NAMES)


def primaries(name: str) -> np.ndarray:
    """Which of R, G, B the class's pure colour lights: red (1,0,0), yellow (1,1,0)..."""
    hue = shapes.COLOURS[name.split()[0]]
    return shapes._hsv_to_rgb(np.array([hue]), np.ones(1), np.ones(1))[0] > 0.5


def test_same_seed_same_bytes_other_seed_other_images():
    x1, y1 = shapes.make_shapes(240, seed=7)
    x2, y2 = shapes.make_shapes(240, seed=7)
    assert x1.tobytes() == x2.tobytes() and y1.tobytes() == y2.tobytes()
    x3, _ = shapes.make_shapes(240, seed=8)
    assert (x1 != x3).mean() > 0.5


def test_dataset_is_balanced_named_and_in_range():
    ds = load_dataset("shapes", seed=3, n_train=600, n_test=120)
    assert ds.name == "shapes" and ds.source == "generated:shapes(seed=3)"
    assert ds.x_train.shape == (600, 32, 32, 3) and ds.x_test.shape == (120, 32, 32, 3)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert N_CLASSES == len(shapes.COLOURS) * len(shapes.SHAPES) == 24
    assert ds.image_shape == (32, 32, 3) and ds.n_classes == N_CLASSES
    assert np.bincount(ds.y_train).tolist() == [600 // N_CLASSES] * N_CLASSES
    assert np.bincount(ds.y_test).tolist() == [120 // N_CLASSES] * N_CLASSES
    assert ds.class_names == shapes.CLASS_NAMES and len(set(ds.class_names)) == N_CLASSES
    for name in ds.class_names:
        colour, shape = name.split()
        assert colour in shapes.COLOURS and shape in shapes.SHAPES
    assert {"red circle", "green square", "blue triangle", "blue cross"} <= set(ds.class_names)
    # pixels use the range: dark and light backgrounds, bright colours, no constant images
    assert ds.x_train.min() < 20 and ds.x_train.max() > 235
    assert (ds.x_train.reshape(600, -1).std(axis=1) > 5).all()
    # the test split is other images, not a copy of the first training ones
    assert not np.array_equal(ds.x_test[:10], ds.x_train[:10])


def test_shape_pixels_have_the_class_colour_and_the_background_does_not():
    x, y, masks = shapes.make_shapes(720, seed=11, with_masks=True)
    assert masks.shape == (720, 32, 32) and masks.dtype == np.uint8
    # every shape lies wholly inside the image (the edge pixels stay clear) and is not tiny
    assert not masks[:, [0, -1], :].any() and not masks[:, :, [0, -1]].any()
    assert ((masks == 255).sum(axis=(1, 2)) >= 25).all()
    excess_inside, excess_outside = [], []  # the colour's channels minus the others, per image
    for i in range(len(x)):
        name = shapes.CLASS_NAMES[y[i]]
        on = primaries(name)
        inside = x[i][masks[i] == 255].astype(float).mean(axis=0)
        outside = x[i][masks[i] == 0].astype(float).mean(axis=0)
        assert inside[on].min() > inside[~on].max() + 30, (name, i, inside)
        excess_inside.append(inside[on].mean() - inside[~on].mean())
        excess_outside.append(outside[on].mean() - outside[~on].mean())
    # the background does not lean towards the class's colour (its tint is drawn apart)
    assert np.mean(excess_inside) > 80
    assert abs(np.mean(excess_outside)) < 3, np.mean(excess_outside)


def test_generator_refuses_bad_sizes_and_files(cli, user_error, tmp_path):
    from oipviz.core.errors import DataError, OipvizError

    with pytest.raises(DataError, match="choose 1 to"):
        shapes.make_shapes(0)
    with pytest.raises(OipvizError, match="training samples must be >= 1"):
        load_dataset("shapes", n_train=0)
    npz = tmp_path / "x.npz"
    np.savez(npz, x_train=np.zeros((1, 28, 28)))
    r = cli("train", "--dataset", "shapes", "--data", npz, "--out", tmp_path / "m.keras")
    user_error(r, "shapes data set is generated", "--data does not apply")
    assert not (tmp_path / "m.keras").exists()


def test_grey_sets_have_class_names():
    ds = load_dataset("mnist", allow_download=False, n_train=50, n_test=20)
    assert ds.class_names == tuple("0123456789") and ds.n_classes == 10
    assert ds.image_shape == (28, 28, 1) and ds.counts == {"train": 50, "test": 20}


def test_shapes_cnn_architecture(loaded):
    from oipviz.models.zoo import shapes_cnn

    m = shapes_cnn()
    assert tuple(m.inputs[0].shape) == (None, 32, 32, 3)
    assert tuple(m.outputs[0].shape) == (None, N_CLASSES)
    names = [layer.name for layer in m.layers]
    assert names[:5] == ["conv1", "pool1", "conv2", "pool2", "conv3"]
    assert names[-2:] == ["dense1", "predictions"]
    assert not any("Rescaling" in type(layer).__name__ for layer in m.layers)
    assert m.count_params() < 100_000


def test_train_cli_on_shapes_writes_card_with_class_names(tmp_path, cli, loaded):
    out = tmp_path / "tiny_shapes.keras"
    line = (
        "train --arch shapes_cnn --dataset shapes --train-samples 360 --test-samples 120 --epochs 1"
    )
    r = cli(*argv(line, "--out", out))
    assert r.exit_code == 0, (r.stdout, r.stderr)
    card = json.loads((tmp_path / "tiny_shapes.card.json").read_text())
    assert card["architecture"] == "shapes_cnn" and card["dataset"] == "shapes"
    assert card["class_names"] == list(shapes.CLASS_NAMES)
    assert card["input_shape"] == [32, 32, 3]
    assert card["preprocessing"]["kind"] == "unit"
    assert card["samples"] == {"train": 360, "test": 120} and card["epochs"] == 1
    assert card["data_source"] == "generated:shapes(seed=0)"
    assert card["augmentation"] == "random flips and quarter turns"
    assert sorted(card["per_class_accuracy"], key=int) == [str(c) for c in range(N_CLASSES)]
    assert card["heldout_class_counts"] == [120 // N_CLASSES] * N_CLASSES
    assert 0.0 <= card["heldout_accuracy"] <= 1.0
    assert card["layers"][-1] == "predictions"
    with Image.open(tmp_path / "tiny_shapes.confusion.png") as png:
        assert png.format == "PNG" and min(png.size) >= 1000  # room for 24 named classes

    import keras

    model = keras.models.load_model(out, compile=False)
    assert tuple(model.inputs[0].shape) == (None, 32, 32, 3)


def test_bundled_shapes_model_is_accurate_on_fresh_images(loaded):
    import keras

    from oipviz.core.loader import bundled_model_path, card_path

    path = bundled_model_path("shapes")
    assert path == bundled_model_path("shapes_cnn") and path.stat().st_size < 1_000_000
    card = json.loads(card_path(path).read_text())
    assert card["class_names"] == list(shapes.CLASS_NAMES)
    assert card["preprocessing"]["kind"] == "unit" and card["heldout_accuracy"] >= 0.95
    assert (path.parent / card["confusion_png"]).is_file()
    model = keras.models.load_model(path, compile=False)
    x, y = shapes.make_shapes(2400, seed=20260101)  # not the seed it was trained on
    pred = model.predict(x.astype(np.float32) / 255.0, verbose=0, batch_size=400).argmax(1)
    accuracy = (pred == y).mean()
    assert accuracy >= 0.95, accuracy
    per_class = [(pred[y == c] == c).mean() for c in range(N_CLASSES)]
    assert min(per_class) >= 0.85, per_class


@pytest.mark.slow
def test_class_logit_oips_of_the_bundled_colour_model_show_their_colour():
    """For every red, green or blue class, that channel's mean in the class logit's OIP
    (free range, min-max scaled into [0, 1] as it is drawn) exceeds the other two's."""
    import oipviz

    m = oipviz.load_model("shapes")
    names = m.card["class_names"]
    rgb = ("red", "green", "blue")
    classes = [c for c, n in enumerate(names) if n.split()[0] in rgb]
    assert len(classes) == 12
    run = oipviz.oip("predictions", classes, m, inits=8, steps=600, kind="logit", progress=False)
    assert run.images.shape == (12, 8, 32, 32, 3)
    wrong = []
    for k, c in enumerate(classes):
        px = m.convention.from_engine(run.best_images[k])
        px = (px - px.min()) / (px.max() - px.min())
        means = px.reshape(-1, 3).mean(axis=0)
        ch = rgb.index(names[c].split()[0])
        if not means[ch] > np.delete(means, ch).max():
            wrong.append((names[c], means.round(3).tolist()))
    assert not wrong, wrong


def test_the_colour_palette_makes_squares_of_its_colours():
    from oipviz.compute.precursor_settings import COLOUR_PALETTE, PrecursorSettings
    from oipviz.core.inits import pattern_pixels

    s = PrecursorSettings.checked(values=COLOUR_PALETTE)
    assert s.colour and s.n_patterns == 3**9
    px = pattern_pixels([0, 3**9 - 1], 3, s.values, (32, 32, 3))
    assert px.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(px[0].reshape(-1, 3).mean(0), COLOUR_PALETTE[0], atol=1e-5)
    np.testing.assert_allclose(px[1].reshape(-1, 3).mean(0), COLOUR_PALETTE[2], atol=1e-5)


def test_precursor_with_the_colour_palette_on_the_colour_model(cli, user_error, tmp_path):
    out = tmp_path / "p"
    r = cli("precursor", "--model", "shapes", "--layer", "conv3", "--map", "5", "--palette",
            "colour", "--grid", "2", "--test-epochs", "2", "--top", "2", "--epochs", "5",
            "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output + r.stderr
    man = json.loads((out / "manifest.json").read_text())
    assert man["values"] == [list(c) for c in ((0.8, 0.2, 0.2), (0.2, 0.8, 0.2), (0.2, 0.2, 0.8))]
    start = np.asarray(Image.open(out / "start_1_colour.png").convert("RGB"), np.int32)
    assert np.abs(start[..., 0] - start[..., 2]).max() > 50  # drawn in its colours
    user_error(cli("precursor", "--layer", "conv3", "--map", "5", "--palette", "colour",
                   "--out", tmp_path / "g"), "colour palette needs a colour model")  # fmt: skip
    user_error(cli("precursor", "--model", "shapes", "--layer", "conv3", "--map", "5",
                   "--palette", "colour", "--values", "0.1,0.9", "--out", tmp_path / "v"),
               "--values")  # fmt: skip


def test_weights_and_embed_of_the_colour_model(cli, tmp_path):
    r = cli("weights", "--model", "shapes", "--layer", "conv1", "--out", tmp_path / "w")
    assert r.exit_code == 0, r.output + r.stderr
    means = np.load(tmp_path / "w" / "class_means.npy")
    assert means.shape == (24, 32, 32, 3)  # every class of the model, in colour
    red, blue = means[0].reshape(-1, 3).max(0), means[16].reshape(-1, 3).max(0)
    assert red[0] > red[2] and blue[2] > blue[0]
    r = cli("embed", "--model", "shapes", "--layer", "dense1", "--samples", "100",
            "--method", "pca", "--out", tmp_path / "e")  # fmt: skip
    assert r.exit_code == 0, r.output + r.stderr
    assert (tmp_path / "e" / "index.html").read_text().count("data:image/png;base64,") >= 100
