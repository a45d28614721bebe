"""The explorer with a colour model of another size (32×32×3, built here): it loads, reads an
uploaded photo in colour (resized, not MNIST-style), explains it, streams a map's OIP as
colour PNG frames and dreams in colour; the MNIST statistics are refused in one line."""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    """A small colour CNN of 32×32×3 images in 0–255 (a Rescaling layer), five classes."""
    from oipviz.core.tfenv import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.Conv2D(8, 3, activation="relu", name="c1"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(12, 3, activation="relu", name="c2"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5, activation="softmax", name="out"),
        ]
    )
    path = tmp_path_factory.mktemp("colour") / "colour.keras"
    model.save(path)
    return path, model


@pytest.fixture(scope="module")
def client(colour_model):
    from oipviz.serve.server import start

    with start(model=colour_model[0]) as srv:
        assert srv.wait_ready()
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            yield c


def photo(width: int = 200, height: int = 150) -> Image.Image:
    """A colour photo: a red square and a yellow bar on a blue ground."""
    a = np.zeros((height, width, 3), np.uint8)
    a[...] = (30, 60, 200)
    a[20:90, 30:100] = (220, 30, 30)
    a[100:130, 60:190] = (240, 220, 40)
    return Image.fromarray(a, "RGB")


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def decode(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def follow(client, job: dict) -> list[tuple[str, dict]]:
    out, name = [], None
    with client.stream("GET", job["events"]) as resp:
        for line in resp.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
    return out


def test_the_colour_model_is_served_with_its_own_geometry(client):
    m = client.get("/api/model").json()
    assert m["input"]["height"] == m["input"]["width"] == 32 and m["input"]["channels"] == 3
    assert not m["input"]["mnist_style"] and m["input"]["convention"]["kind"] == "255"
    assert m["classes"] == 5 and m["methods"] == ["saliency", "gradcam"]
    assert m["defaults"]["dream"]["layer"] == "c2" and m["defaults"]["dream"]["map"] == 0


def test_an_uploaded_photo_is_predicted_in_colour(client, colour_model):
    from oipviz.core.loader import load_model
    from oipviz.data.inputs import model_input

    img = photo()
    files = {"image": ("photo.png", png(img), "image/png")}
    r = client.post("/api/predict", params={"preprocess": True}, files=files)
    assert r.status_code == 200, r.text
    pred = r.json()
    shown = np.asarray(decode(pred["input"]["image"]), np.float32) / 255
    assert shown.shape == (32, 32, 3)
    assert abs(shown[..., 0].mean() - shown[..., 2].mean()) > 0.1  # colour, not grey
    assert not pred["input"]["preprocessed"]
    assert "resized from 200×150 to 32×32" in pred["input"]["notes"]
    # the probabilities are the Keras model's own on the photo resized to 32×32
    x = model_input(img, load_model(colour_model[0]).geometry).x01
    np.testing.assert_allclose(shown, x, atol=1 / 255 + 1e-6)
    want = colour_model[1].predict(255 * x[None], verbose=0)[0]
    np.testing.assert_allclose(pred["probabilities"], want, atol=1e-4)
    assert pred["predicted"] == int(np.argmax(want))
    assert [L["name"] for L in pred["layers"]] == ["c1", "c2", "out"]
    assert pred["layers"][1]["shape"] == [13, 13, 12]
    exp = client.post("/api/explain", files=files).json()
    for method in ("saliency", "gradcam"):
        assert np.asarray(exp["methods"][method]["values"]).shape == (32, 32)


def test_an_oip_streams_colour_frames(client):
    body = {"layer": "c2", "map": 3, "steps": 40, "inits": 2}  # the page's range and style
    job = client.post("/api/oip", json=body)
    assert job.status_code == 202, job.text
    evs = follow(client, job.json())
    frames = [d for n, d in evs if n == "frame"]
    assert frames and evs[-1][0] == "done", evs[-1]
    for f in frames[:1] + frames[-1:]:
        im = decode(f["image"])
        assert im.mode == "RGB" and im.size == (32, 32)
        a = np.asarray(im, np.float32)
        assert np.abs(a[..., 0] - a[..., 2]).mean() > 1  # the channels differ: a colour OIP
    res = evs[-1][1]["result"]
    assert np.asarray(res["pixels"]).shape == (32, 32, 3)
    best = res["best_init"]
    assert res["final"][best] > res["start"][best]  # the map's activation climbed
    assert decode(res["image"]).mode == "RGB"


def test_a_dream_is_colour_and_mnist_statistics_are_refused(client):
    files = {"image": ("photo.png", png(photo(96, 80)), "image/png")}
    job = client.post("/api/dream", files=files, data={"iters": "1", "steps": "3"})
    assert job.status_code == 202, job.text
    evs = follow(client, job.json())
    rounds = [d for n, d in evs if n == "round"]
    assert evs[-1][0] == "done" and rounds and rounds[0]["colour"]
    res = evs[-1][1]["result"]
    assert (res["width"], res["height"]) == (96, 80)
    dreamt = Image.open(io.BytesIO(client.get(res["image_url"]).content))
    assert dreamt.mode == "RGB" and dreamt.size == (96, 80)
    small = client.post("/api/dream", files={"image": ("s.png", png(photo(30, 40)), "image/png")})
    assert small.status_code == 400 and "need ≥ 32 px" in small.json()["error"]
    info = client.get("/api/maps/c2/0").json()
    assert info["data"] is None
    assert "no real images" in info["data_error"] and "32×32×3" in info["data_error"]


def test_the_bundled_colour_model_shows_its_top_images_in_colour():
    """``--model shapes``: the top-9 of a map are real (generated) colour shapes, and the
    selectivity covers all 24 classes."""
    from oipviz.serve.server import start

    with start(model="shapes") as srv:
        assert srv.wait_ready()
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            m = c.get("/api/model").json()
            assert m["classes"] == 24 and m["card"]["class_names"][0] == "red circle"
            info = c.get("/api/maps/conv3/5").json()
    assert info["data_error"] is None, info["data_error"]
    data = info["data"]
    assert data["source"].startswith("generated:shapes") and len(data["selectivity"]) == 24
    assert len(data["top"]) == 9
    top = decode(data["top"][0]["image"])
    assert top.mode == "RGB" and top.size == (32, 32)
    acts = [t["activation"] for t in data["top"]]
    assert acts == sorted(acts, reverse=True) and acts[0] > 0
