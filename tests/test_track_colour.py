"""Timelines of colour models: the geometry is the model's (32×32×3 here), the OIP frames,
GIFs, probes and kernels are drawn in colour, and the numbers follow the training."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import oipviz
from oipviz.core.tfenv import import_keras
from oipviz.data.shapes import CLASS_NAMES, shapes_dataset
from oipviz.render import timeline as pictures

keras = import_keras()

FAST = dict(steps=4, first_steps=6)


@pytest.fixture(scope="module")
def shapes():
    """480 training and 96 held-out generated colour shapes (uint8, 32×32×3)."""
    return shapes_dataset(480, 96, seed=0)


def colour_model(classes: int = 24):
    """A small colour CNN on pixels in [0, 1] ('same' padding: the Keras path)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(8, 3, activation="relu", name="c2"),
            keras.layers.Flatten(),
            keras.layers.Dense(classes, activation="softmax", name="out"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _coloured(rgb: np.ndarray) -> bool:
    """True if the pixels are not all grey (some channels differ)."""
    rgb = np.asarray(rgb, np.int64)
    return bool((rgb.max(axis=-1) - rgb.min(axis=-1)).max() > 10)


def test_colour_timeline_in_fit(tmp_path, shapes):
    from oipviz.core import objectives as O
    from oipviz.core.ascent import evaluate
    from oipviz.core.loader import wrap_model

    model, out = colour_model(), tmp_path / "t"
    x_test = shapes.x_test.astype(np.float32) / 255.0
    tracker = oipviz.callbacks.Tracker(
        "c2:0-3", probes=4, dataset=shapes, validation=(x_test, shapes.y_test), out=out, **FAST
    )
    x = shapes.x_train.astype(np.float32) / 255.0
    model.fit(x, shapes.y_train, epochs=2, batch_size=64, verbose=0, callbacks=[tracker])
    tl, session = tracker.timeline, tracker.session
    assert len(tl) == 3 and {"heldout_accuracy", "loss"} <= set(tl.points[-1].metrics)

    # probes: held-out colour images of the first classes, one each, named
    assert session.probes.shape == (4, 32, 32, 3) and session.probe_labels.tolist() == [0, 1, 2, 3]
    man = json.loads((out / "manifest.json").read_text())
    assert man["page"]["class_names"] == list(CLASS_NAMES)
    assert man["model"]["input_convention"]["kind"] == "unit"
    assert ["images", "32×32×3"] in man["page"]["model_rows"]

    last = tl.points[-1]
    run = last.runs["c2"]
    assert run.best_images.shape == (4, 32, 32, 3)
    assert last.probe_acts["c2"].shape[0] == 4 and last.attribution.shape == (4, 32, 32)
    # each frame is the OIP's own RGB pixels, enlarged 4×
    for k, m in enumerate(run.maps):
        with Image.open(out / "frames" / "c2" / f"m{m:03d}_p0002.png") as png:
            assert png.mode == "RGB" and png.size == (128, 128)
            shown = np.round(run.shown(run.best_images[k]) * 255)
            np.testing.assert_array_equal(np.asarray(png)[::4, ::4], shown)
    assert any(_coloured(np.round(run.shown(b) * 255)) for b in run.best_images)
    # the attribution picture shows the probes in colour (3× nearest), the kernels too
    with Image.open(out / "frames" / "attribution_p0002.png") as pic:
        tile = np.asarray(pic.convert("RGB"))[20 : 20 + 96 : 3, 6 : 6 + 96 : 3]
    np.testing.assert_array_equal(tile, np.round(session.probes[0] * 255))
    assert _coloured(tile)
    vmax = max(float(np.abs(p.kernels).max()) for p in tl.points)
    with Image.open(out / "frames" / "kernels_p0002.png") as pic:
        k0 = np.asarray(pic.convert("RGB"))[20 : 20 + 24 : 8, 3 : 3 + 24 : 8]
    np.testing.assert_array_equal(k0, pictures.kernel_colours(last.kernels, vmax)[0])
    assert last.kernels.shape == (8, 3, 3, 3)
    # the GIF's frames are in colour too
    with Image.open(out / "c2" / "m000.gif") as gif:
        assert gif.n_frames == 3
        gif.seek(2)
        assert _coloured(np.asarray(gif.convert("RGB"))[:128, :128])

    # the numbers are the trained model's: a fresh wrapper gives the same activations
    again = evaluate(wrap_model(model), run.best_images, [O.map_mean("c2", m) for m in run.maps])
    np.testing.assert_allclose(again, run.best_values, rtol=1e-4, atol=1e-5)
    px = run.convention.from_engine(run.images)
    assert px.min() >= -1e-5 and px.max() <= 1 + 1e-5  # valid range: real RGB pixels


def test_colour_probes_and_validation_must_fit_the_model(tmp_path, shapes):
    from oipviz.core.errors import DataError

    x = shapes.x_train[:64].astype(np.float32) / 255.0
    grey = np.zeros((2, 28, 28), np.float32)
    for kw, fragment in (
        ({"probes": grey}, "probes are 28×28×1 images; model takes 32×32×3"),
        ({"validation": (grey, [0, 1])}, "validation images are 28×28×1"),
        ({"probes": 2, "dataset": "mnist"}, "probes are 28×28×1"),
    ):
        tracker = oipviz.callbacks.Tracker("c2:0", out=tmp_path / "t", **kw)
        with pytest.raises(DataError, match=fragment):
            colour_model().fit(x, shapes.y_train[:64], epochs=1, verbose=0, callbacks=[tracker])
        assert not list(tmp_path.iterdir())  # checked before any point: nothing written


@pytest.mark.slow
def test_train_and_checkpoints_track_shapes_cnn(tmp_path, cli):
    """``oipviz train --arch shapes_cnn --dataset shapes --track``, then ``oipviz track
    --checkpoints`` of the trained model: colour timelines from the CLI."""
    out = tmp_path / "shapes.keras"
    r = cli(
        "train", "--arch", "shapes_cnn", "--dataset", "shapes", "--train-samples", "240",
        "--test-samples", "48", "--epochs", "1", "--out", out, "--track", "conv3:0-3",
    )  # fmt: skip
    assert r.exit_code == 0, (r.stdout, r.stderr)
    track = tmp_path / "shapes.track"
    man = json.loads((track / "manifest.json").read_text())
    assert man["complete"] and [p["label"] for p in man["points"]] == ["epoch 0", "epoch 1"]
    assert man["parameters"]["probes"]["labels"] == list(range(8))
    assert man["parameters"]["validation_images"] == 48
    card = json.loads((tmp_path / "shapes.card.json").read_text())
    held = man["points"][-1]["metrics"]["heldout_accuracy"]
    assert held == pytest.approx(card["heldout_accuracy"], abs=1e-6)
    with Image.open(track / "frames" / "conv3" / "m000_p0001.png") as png:
        assert png.mode == "RGB" and png.size == (128, 128)
    assert "red" in " ".join(man["page"]["class_names"])

    # the same model's weights as a checkpoint: its held-out split comes from its card
    folder = tmp_path / "ckpt"
    folder.mkdir()
    keras.models.load_model(out).save_weights(folder / "epoch_1.weights.h5")
    r = cli(
        "track", "--model", out, "--checkpoints", folder, "--track", "conv3:0-1",
        "--steps", "3", "--first-steps", "5", "--out", tmp_path / "ck",
    )  # fmt: skip
    assert r.exit_code == 0, (r.stdout, r.stderr)
    ck = json.loads((tmp_path / "ck" / "manifest.json").read_text())
    assert ck["source"] == "checkpoints: ckpt"
    assert ck["parameters"]["validation_images"] == 48
    assert ck["points"][0]["metrics"]["heldout_accuracy"] == pytest.approx(held, abs=1e-6)
