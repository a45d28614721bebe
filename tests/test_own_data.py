"""Your own data (``--data PATH``): a folder with a subfolder per class, or an .npz, read at
the model's geometry, for a colour model built here; bad data is refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from models import colour_cnn
from PIL import Image

RED, BLUE = (220, 30, 30), (30, 30, 220)


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    """A 32×32×3 CNN taking 0–255 pixels (a Rescaling layer), 3 classes, random weights."""
    model = colour_cnn(0, (8, 6), 3)
    path = tmp_path_factory.mktemp("model") / "colour.keras"
    model.save(path)
    return path


def _square(colour, size: int, seed: int) -> Image.Image:
    """A coloured square at a random place on a dark grey ``size``×``size`` image."""
    rng = np.random.default_rng(seed)
    a = np.full((size, size, 3), 40, np.uint8)
    y, x = rng.integers(0, size // 2, 2)
    a[y : y + size // 2, x : x + size // 2] = colour
    return Image.fromarray(a)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """``blue/`` and ``red/`` (alphabetical: blue is class 0), 6 images of 40×40 each."""
    root = tmp_path_factory.mktemp("data") / "squares"
    for name, colour in (("red", RED), ("blue", BLUE)):
        (root / name).mkdir(parents=True)
        for i in range(6):
            _square(colour, 40, i).save(root / name / f"{i}.png")
    (root / "red" / "notes.txt").write_text("not an image")  # ignored
    return root


def test_a_class_folder_is_read_at_the_model_geometry_in_alphabetical_class_order(
    colour_model, folder
):
    from oipviz.core.loader import load_model
    from oipviz.data.userdata import labelled_images

    m = load_model(colour_model)
    x, y, names, source = labelled_images(folder, m.geometry, m.classes)
    assert names == ["blue", "red"] and source == f"path:{folder}"
    assert x.shape == (12, 32, 32, 3) and x.dtype == np.float32 and sorted(y) == [0] * 6 + [1] * 6
    # a red square's image is red where the square is, a blue one's blue
    for img, label in zip(x, y):
        r, b = img[..., 0].max(), img[..., 2].max()
        assert (r > b) == (label == 1)


def test_activations_and_explain_of_a_colour_model_on_the_users_images(
    cli, colour_model, folder, tmp_path
):
    out = tmp_path / "act"
    r = cli("activations", "--model", colour_model, "--data", folder, "--samples", 4, "--out", out)
    assert r.exit_code == 0, r.output
    man = json.loads((out / "manifest.json").read_text())
    assert {e["label"] for e in man["inputs"]} <= {0, 1} and len(man["inputs"]) == 4
    assert f"path:{folder}" in r.stdout
    # the input is drawn in its colours beside the maps
    sheet = next((out / "input_00").glob("*.png"))
    rgb = np.asarray(Image.open(sheet).convert("RGB"), np.int32)
    assert ((rgb[..., 0] - rgb[..., 2]) > 100).any() or ((rgb[..., 2] - rgb[..., 0]) > 100).any()

    npz = tmp_path / "mine.npz"
    imgs = np.stack([np.asarray(_square(BLUE, 24, i)) for i in range(5)])
    np.savez(npz, x=imgs, y=np.zeros(5, np.int64))
    ex = tmp_path / "ex"
    r = cli("explain", "--model", colour_model, "--data", npz, "--samples", 3,
            "--method", "saliency,gradcam", "--out", ex)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert np.load(ex / "inputs.npy").shape[1:] == (32, 32, 3)
    assert json.loads((ex / "manifest.json").read_text())["parameters"]["samples"] == 3


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda p: p / "absent", "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no images"),
        (lambda p: np.savez(p / "f.npz", x=np.full((2, 8, 8), 3.0)) or p / "f.npz", "[0, 1]"),
        (lambda p: (p / "d.csv").write_text("1,2") and p / "d.csv", "--data takes"),
    ],
    ids=["absent", "no-images", "floats-out-of-range", "not-images"],
)
def test_bad_data_is_refused_in_one_line(cli, user_error, colour_model, tmp_path, make, fragment):
    out = tmp_path / "act"
    r = cli("activations", "--model", colour_model, "--data", make(tmp_path), "--out", out)
    user_error(r, fragment)
    assert not out.exists()


def test_more_classes_than_the_model_has_are_refused(cli, user_error, colour_model, tmp_path):
    for name in ("a", "b", "c", "d"):
        (tmp_path / "four" / name).mkdir(parents=True)
        _square(RED, 32, 0).save(tmp_path / "four" / name / "0.png")
    r = cli("activations", "--model", colour_model, "--data", tmp_path / "four",
            "--out", tmp_path / "o")  # fmt: skip
    user_error(r, "has 4 classes", "3 outputs")


@pytest.mark.slow
def test_gallery_of_a_colour_model_on_the_users_images(cli, colour_model, folder, tmp_path):
    out = tmp_path / "gallery"
    r = cli("gallery", "--model", colour_model, "--layer", "conv2", "--data", folder,
            "--epochs", 20, "--inits", 2, "--precursor-epochs", 10, "--feature-method", "pca",
            "--feature-samples", 100, "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    page = (out / "conv2" / "map_000.html").read_text()
    assert "of 12" in page  # the statistics ran over the user's 12 images
    oip = Image.open(out / "conv2" / "map_000" / "oip_best_colour.png")
    assert oip.mode == "RGB"
    a = np.asarray(oip, np.int32)
    assert np.abs(a[..., 0] - a[..., 1]).max() > 0  # drawn in colour, not grey
    man = json.loads((out / "manifest.json").read_text())
    assert man["parameters"]["data"] == str(folder)


def test_a_model_without_a_known_data_set_asks_for_data_first(
    cli, user_error, colour_model, tmp_path
):
    """No card, 32×32×3: the MNIST digits do not fit, so the gallery (before any work) and
    explain --samples ask for --data."""
    user_error(cli("gallery", "--model", colour_model, "--layer", "conv2", "--out",
                   tmp_path / "g"), "takes 32×32×3 images", "--data")  # fmt: skip
    user_error(cli("explain", "--model", colour_model, "--samples", 2, "--out",
                   tmp_path / "e"), "--data")  # fmt: skip
    assert not (tmp_path / "g").exists() and not (tmp_path / "e").exists()
