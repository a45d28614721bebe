"""The explorer's HTTP API through a real HTTP client, against the real app (uvicorn on a
free port of 127.0.0.1, in a thread), the real bundled model and real digits."""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

import oipviz
from oipviz.data.inputs import real_images

pytestmark = pytest.mark.slow

ROUTES = {
    "/api/health": "get",
    "/api/model": "get",
    "/api/predict": "post",
    "/api/explain": "post",
    "/api/oip": "post",
    "/api/precursor": "post",
    "/api/dream": "post",
    "/api/jobs/{job_id}": "get",
    "/api/jobs/{job_id}/events": "get",
}


@pytest.fixture(scope="module")
def server():
    from oipviz.serve.server import start

    srv = start()
    assert srv.wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def digits():
    x, y, _ = real_images("mnist", 5000, 0, "all")
    return x[..., 0], y


def one(digits, label: int, k: int = 0) -> np.ndarray:
    x, y = digits
    return x[np.flatnonzero(y == label)[k]]


def as_drawing(x28: np.ndarray, size: int = 240) -> bytes:
    """A real digit as a user would draw it: black ink on white, large, off-centre."""
    big = Image.fromarray(np.round((1 - x28) * 255).astype(np.uint8)).resize((160, 160))
    canvas = Image.new("L", (size, size), 255)
    canvas.paste(big, (60, 20))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def events(client, job: dict) -> list[tuple[str, dict]]:
    """Every server-sent event of a job, until its stream ends."""
    out, name = [], None
    with client.stream("GET", job["events"]) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
    return out


def decode_png(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_health_model_and_openapi(client):
    h = client.get("/api/health").json()
    assert h["ok"] and h["ready"] and h["models"] == {"main": "seed_cnn.keras"}
    m = client.get("/api/model").json()
    assert (m["input"]["height"], m["input"]["width"], m["input"]["channels"]) == (28, 28, 1)
    assert m["input"]["convention"]["kind"] == "standardize"
    conv3 = next(L for L in m["layers"] if L["name"] == "conv3")
    assert conv3["kind"] == "conv" and conv3["maps"] == 128 and conv3["shape"] == [3, 3, 128]
    assert next(L for L in m["layers"] if L["name"] == "dense1")["units"] == 70
    assert m["card"]["dataset"] == "mnist" and m["compare"] is None and m["gallery"] is None
    assert m["defaults"]["oip"] == {
        "inits": 8,
        "steps": 300,
        "range": "valid",
        "style": "readable",
        "lr": 0.02,
        "seed": 0,
    }
    paths = client.get("/openapi.json").json()["paths"]
    for route, method in ROUTES.items():
        assert method in paths[route], route
    assert "delete" in paths["/api/jobs/{job_id}"]
    assert "multipart/form-data" in paths["/api/predict"]["post"]["requestBody"]["content"]


def test_predict_json_real_digits(client, digits, loaded):
    for label in (0, 7, 3):
        x = one(digits, label)
        r = client.post("/api/predict", params={"preprocess": False}, json={"pixels": x.tolist()})
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["predicted"] == label
        assert abs(sum(d["probabilities"]) - 1) < 1e-3
        assert not d["input"]["preprocessed"]
        np.testing.assert_allclose(np.array(d["input"]["pixels"]), x, atol=1e-3)
    assert [L["name"] for L in d["layers"]] == ["conv1", "conv2", "conv3", "dense1", "predictions"]
    ref = oipviz.predict(x, loaded)
    conv3 = d["layers"][2]
    np.testing.assert_allclose(conv3["mean"], ref.map_means("conv3")[0], rtol=1e-3, atol=1e-4)
    assert conv3["top"][0] == int(np.argmax(ref.map_means("conv3")[0]))
    assert "maps" not in conv3


def test_predict_maps_are_the_activations(client, digits, loaded):
    x = one(digits, 2)
    r = client.post(
        "/api/predict", params={"preprocess": False, "maps": True}, json={"pixels": x.tolist()}
    )
    stack = r.json()["layers"][1]["maps"]  # conv2
    codes = np.frombuffer(base64.b64decode(stack["data"]), np.uint8).reshape(stack["shape"])
    assert codes.shape == (64, 11, 11)
    values = stack["lo"] + codes / 255.0 * (stack["hi"] - stack["lo"])
    ref = np.moveaxis(oipviz.predict(x, loaded).activations["conv2"][0], -1, 0)
    assert np.abs(values - ref).max() <= (stack["hi"] - stack["lo"]) / 255.0


def test_predict_upload_is_preprocessed_like_mnist(client, digits):
    x = one(digits, 7, 3)
    png = as_drawing(x)
    r = client.post("/api/predict", files={"image": ("seven.png", png, "image/png")})
    d = r.json()
    assert r.status_code == 200 and d["predicted"] == 7
    inp = d["input"]
    assert inp["preprocessed"] and inp["inverted"] and "seven.png (240×240)" in inp["source"]
    px = np.array(inp["pixels"])
    assert px.shape == (28, 28) and px[0].max() == 0 and px[:, 0].max() == 0  # black frame
    ys, xs = np.nonzero(px > 0.1)
    assert max(np.ptp(ys), np.ptp(xs)) < 20  # the ink's box fits 20×20
    cy, cx = (np.indices(px.shape) * px).reshape(2, -1).sum(1) / px.sum()
    assert abs(cy - 14) < 1.5 and abs(cx - 14) < 1.5  # centred by its centre of mass
    off = client.post(
        "/api/predict",
        params={"preprocess": False},
        files={"image": ("seven.png", png, "image/png")},
    ).json()["input"]
    assert not off["preprocessed"] and np.array(off["pixels"]).mean() > 0.5  # white paper


def test_explain(client, digits):
    x = one(digits, 4)
    r = client.post("/api/explain", params={"preprocess": False}, json={"pixels": x.tolist()})
    d = r.json()
    assert r.status_code == 200 and d["predicted"] == 4 and d["target"] == 4
    for m in ("saliency", "gradcam"):
        v = np.array(d["methods"][m]["values"])
        assert v.shape == (28, 28) and np.abs(v).max() == pytest.approx(1.0, abs=1e-3)
    sal = np.array(d["methods"]["saliency"]["values"])
    assert sal[x > 0.5].mean() > sal[x == 0].mean()  # it looks at the ink
    r = client.post(
        "/api/explain",
        params={"preprocess": False, "target": 9},
        json={"pixels": x.tolist(), "method": "gradinput"},
    )
    assert r.json()["target"] == 9 and r.json()["methods"]["gradinput"]["signed"]


def test_oip_job_streams_and_reports_its_activation(client, loaded):
    job = client.post("/api/oip", json={"layer": "conv3", "map": 46, "steps": 60, "inits": 4})
    assert job.status_code == 202, job.text
    evs = events(client, job.json())
    names = [n for n, _ in evs]
    assert names[-1] == "done" and "running" in [d.get("state") for _, d in evs]
    frames = [d for n, d in evs if n == "frame"]
    assert len(frames) >= 2 and [f["step"] for f in frames] == sorted(f["step"] for f in frames)
    assert decode_png(frames[0]["image"]).shape == (28, 28) and len(frames[0]["inits"]) == 4
    state = client.get(job.json()["url"]).json()
    assert state["state"] == "done" and state["progress"]["fraction"] == 1.0
    res = state["result"]
    px = np.array(res["pixels"])
    assert px.shape == (28, 28) and px.min() >= 0 and px.max() <= 1
    again = oipviz.predict(px, loaded, layers=["conv3"]).map_means("conv3")[0, 46]
    assert res["best_activation"] == pytest.approx(float(again), rel=2e-3, abs=1e-4)
    assert res["best_activation"] > max(res["start"])  # it climbed
    assert res["status"] == "live" and not res["cached"]


def test_oip_cache_and_dedup(client):
    body = {"layer": "conv2", "map": 5, "steps": 30, "inits": 2, "seed": 7}
    first = client.post("/api/oip", json=body).json()
    events(client, first)
    again = client.post("/api/oip", json=body).json()
    assert again["id"] != first["id"] and again["state"] == "done"
    res = client.get(again["url"]).json()["result"]
    assert res["cached"] and res["settings"]["seed"] == 7
    other = client.post("/api/oip", json=dict(body, seed=8)).json()
    assert other["state"] == "queued"
    events(client, other)


def test_precursor_job(client):
    job = client.post("/api/precursor", json={"layer": "conv3", "map": 4, "steps": 30}).json()
    evs = events(client, job)
    assert evs[-1][0] == "done"
    res = evs[-1][1]["result"]
    assert res["patterns"] == 3**9 and res["settings"]["screen"] == "forward"
    assert res["status"] in ("above zero", "dead")
    assert decode_png(res["image"]).shape == (28, 28)
    assert any(n == "frame" for n, _ in evs)


def test_dream_job_and_download(client):
    import matplotlib.cbook as cbook

    photo = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    photo = photo.resize((96, 120))
    buf = io.BytesIO()
    photo.save(buf, format="JPEG")
    r = client.post(
        "/api/dream",
        files={"image": ("hopper.jpg", buf.getvalue(), "image/jpeg")},
        data={"layer": "conv3", "map": "56", "iters": "2", "steps": "5"},
    )
    assert r.status_code == 202, r.text
    evs = events(client, r.json())
    rounds = [d for n, d in evs if n == "round"]
    assert [d["round"] for d in rounds] == [1, 2]
    res = evs[-1][1]["result"]
    got = client.get(res["image_url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert "attachment" in got.headers["content-disposition"]
    out = Image.open(io.BytesIO(got.content))
    assert out.size == (96, 120) and out.mode == "RGB"  # colour kept, full size
    diff = np.abs(np.asarray(out, float) - np.asarray(photo, float)).mean()
    assert diff > 0.5  # the dream changed the picture


def test_map_info_top9_and_selectivity(client, digits):
    d = client.get("/api/maps/conv3/46").json()
    data = d["data"]
    assert d["layer"] == "conv3" and data["digits"] == 5000 and len(data["top"]) == 9
    acts = [t["activation"] for t in data["top"]]
    assert acts == sorted(acts, reverse=True)
    assert len(data["selectivity"]) == 10
    assert data["summary"]["preferred_class"] == int(np.argmax(data["selectivity"]))
    x, y = digits
    t0 = data["top"][0]
    assert y[t0["index"]] == t0["label"]
    assert decode_png(t0["image"]).shape == (28, 28)
    assert d["gallery"] is None
