"""The explorer under bad requests: each gets the right 4xx with a one-line JSON error, and
the server still answers ``/api/health`` afterwards.  A real server (uvicorn in a thread on
127.0.0.1) with a job queue of 2, the bundled model and a gallery folder."""

from __future__ import annotations

import http.client
import io
import json
import os
import struct
import time
import zlib
from urllib.parse import urlparse

import httpx
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

LONG = {"layer": "conv3", "map": 46, "steps": 5000, "inits": 64}  # minutes if not stopped


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """A folder with a gallery manifest for the bundled model, a page, and next to it a
    secret file; inside it a symlink that points out of it."""
    from oipviz.core.loader import bundled_model_path
    from oipviz.core.versions import file_sha256

    root = tmp_path_factory.mktemp("faults")
    (root / "secret.txt").write_text("TOP SECRET")
    g = root / "gallery"
    (g / "conv3").mkdir(parents=True)
    made_for = {"sha256": file_sha256(bundled_model_path()), "input_scale": None, "unsafe": False}
    man = {"kind": "gallery", "identity": {"command": "gallery", "model": made_for}}
    (g / "manifest.json").write_text(json.dumps(man))
    (g / "index.html").write_text("<!doctype html><title>gallery</title>")
    (g / "conv3" / "map_001.html").write_text("<p>map 1</p>")
    os.symlink(root / "secret.txt", g / "escape.txt")
    return g


@pytest.fixture(scope="module")
def server(gallery):
    from oipviz.serve.server import start

    srv = start(gallery=gallery, max_queue=2)
    assert srv.wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(autouse=True)
def still_alive(client):
    """After every test: the server answers its health check."""
    yield
    r = client.get("/api/health")
    assert r.status_code == 200 and r.json()["ok"]


def bad(resp, status: int, *fragments: str) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert body["status"] == status and "\n" not in body["error"], body
    for f in fragments:
        assert f in body["error"], (f, body["error"])
    return body["error"]


def wait_state(client, job: dict, states=("cancelled",), timeout: float = 60.0) -> dict:
    t = time.time()
    while time.time() - t < timeout:
        s = client.get(job["url"]).json()
        if s["state"] in states:
            return s
        time.sleep(0.05)
    raise AssertionError(f"job {job['id']} never reached {states}: {s}")


def test_not_an_image(client):
    r = client.post("/api/predict", files={"image": ("notes.png", b"hello, world", "image/png")})
    msg = bad(r, 400, "notes.png", "not an image")
    assert "oipviz-upload" not in msg  # the temporary file never shows
    bad(client.post("/api/predict", files={"image": ("e.png", b"", "image/png")}), 400, "empty")
    r = client.post("/api/predict", files={"other": ("x.png", b"abc", "image/png")})
    bad(r, 422, '"image"')


def test_oversized_uploads(client):
    big = b"\x89PNG" + os.urandom(11 * 1024 * 1024)
    r = client.post("/api/predict", files={"image": ("big.png", big, "image/png")})
    bad(r, 413, "the limit is 10 MB")

    def chunks():  # no Content-Length: the limit applies while the body streams in
        for _ in range(12):
            yield b"\0" * (1024 * 1024)

    r = client.post("/api/predict", content=chunks(), headers={"content-type": "application/json"})
    bad(r, 413, "over the 10 MB limit")


def test_image_bomb(client):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0)  # 400 MP, 1 bit: a tiny file
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    png += chunk(b"IEND", b"")
    r = client.post("/api/predict", files={"image": ("bomb.png", png, "image/png")})
    bad(r, 400, "bomb.png", "decompression bomb")


@pytest.mark.parametrize(
    "body, fragment",
    [
        ('{"pixels": [[0.5, NaN], [0, 1]]}', "NaN is not a finite number"),
        ('{"pixels": [[0.5, Infinity]]}', "Infinity"),
        ('{"pixels": [[0, 1], [0]]}', "rectangular"),
        ('{"pixels": [[2.0, 0], [0, 0]]}', "between 8 and 1024"),
        (json.dumps({"pixels": [[2.0] * 28] * 28}), "must lie in [0, 1]"),
        (json.dumps({"pixels": [0.5] * 784}), "must be 2-D"),
        (json.dumps({"pixels": [["a"] * 28] * 28}), "rectangular 2-D array of numbers"),
        ('{"pixels": ', "not valid JSON"),
        ('{"image": 1}', '"pixels"'),
    ],
)
def test_bad_json_pixels(client, body, fragment):
    r = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    bad(r, 422, fragment)


def test_wrong_media_type_and_blank_drawing(client):
    bad(client.post("/api/predict", content=b"x", headers={"content-type": "text/plain"}), 415)
    r = client.post("/api/predict", json={"pixels": [[1.0] * 28] * 28})  # blank white paper
    bad(r, 400, "no digit found")


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        ({"layer": "conv3", "map": 128}, 422, "map 128 out of range for conv3: valid 0–127"),
        ({"layer": "conv9", "map": 1}, 422, "no layer 'conv9'"),
        ({"layer": "pool1", "map": 1}, 422, "no maps or units"),
        ({"layer": "conv3", "map": -1}, 422, "map: Input should be greater than or equal to 0"),
        ({"layer": "conv3", "map": "x"}, 422, "map: Input should be a valid integer"),
        ({"layer": "conv3", "map": 1, "steps": 0}, 422, "steps"),
        ({"layer": "conv3", "map": 1, "range": "wide"}, 422, "range"),
        ({"layer": "conv3", "map": 1, "colour": 1}, 422, "colour: Extra inputs"),
        ({"layer": "conv3", "map": 1, "model": "compare"}, 404, "no --compare model"),
    ],
)
def test_bad_map_requests(client, body, status, fragment):
    bad(client.post("/api/oip", json=body), status, fragment)


def test_bad_dream_and_explain(client):
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(png, format="PNG")
    r = client.post("/api/dream", files={"image": ("p.png", png.getvalue())}, data={"map": "999"})
    bad(r, 422, "map 999 out of range")
    r = client.post("/api/dream", files={"image": ("p.png", png.getvalue())}, data={"iters": "0"})
    bad(r, 422, "iters must be in 1–20")
    r = client.post(
        "/api/explain", params={"method": "magic"}, json={"pixels": [[0.0, 1.0] * 14] * 28}
    )
    bad(r, 422, "unknown method 'magic'")


def raw_get(server, target: str) -> tuple[int, bytes]:
    """GET with the request target sent exactly as written (no client-side cleaning)."""
    u = urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "target",
    [
        "/gallery/../secret.txt",
        "/gallery/../../../../etc/passwd",
        "/gallery/..%2fsecret.txt",
        "/gallery/%2e%2e/secret.txt",
        "/gallery/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/gallery/conv3/..%2F..%2Fsecret.txt",
        "/gallery/..%5csecret.txt",
        "/gallery/%252e%252e/secret.txt",
        "/gallery//etc/passwd",
        "/gallery/escape.txt",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2f..%2fcore%2ferrors.py",
        "/gallery/conv3/%00.html",
    ],
)
def test_path_escapes(server, target):
    status, body = raw_get(server, target)
    assert status in (400, 404), (target, status, body[:200])
    assert b"TOP SECRET" not in body and b"root:" not in body and b"import" not in body
    if body:
        assert json.loads(body)["status"] == status


def test_gallery_and_static_files_are_served(server, client):
    assert client.get("/gallery/").text.startswith("<!doctype html>")
    assert client.get("/gallery/conv3/map_001.html").status_code == 200
    assert raw_get(server, "/gallery/conv3/../index.html")[0] == 400  # no '..' at all
    assert client.get("/static/app.js").status_code == 200
    bad(client.get("/gallery/conv3/map_999.html"), 404, "not found")
    bad(client.get("/api/nowhere"), 404, "not found: /api/nowhere")
    bad(client.put("/api/health"), 405)


def test_client_that_disconnects_mid_job(client):
    job = client.post("/api/oip", json=dict(LONG, seed=101)).json()
    with client.stream("GET", job["events"]) as resp:
        for line in resp.iter_lines():
            if line == "event: frame":
                break
    # the stream is closed: nobody watches the job any more
    state = wait_state(client, job)
    assert state["error"] == "cancelled: its client went away"
    assert state["progress"]["fraction"] < 0.5


def test_cancelled_job(client):
    job = client.post("/api/oip", json=dict(LONG, seed=102)).json()
    wait_state(client, job, ("running",))
    r = client.delete(job["url"])
    assert r.status_code == 200 and r.json()["cancel_requested"]
    state = wait_state(client, job)
    assert state["progress"]["fraction"] < 0.5 and state["result"] is None
    bad(client.delete(job["url"]), 409, "already ended (cancelled)")
    names = [ln for ln in client.get(job["events"]).text.splitlines() if ln.startswith("event:")]
    assert names[-1] == "event: cancelled"


def test_full_queue(client):
    running = client.post("/api/oip", json=dict(LONG, seed=201)).json()
    wait_state(client, running, ("running",))
    queued = [client.post("/api/oip", json=dict(LONG, seed=202 + i)) for i in range(2)]
    assert [r.status_code for r in queued] == [202, 202]
    r = client.post("/api/oip", json=dict(LONG, seed=299))
    bad(r, 429, "queue is full (2 waiting)")
    assert r.headers["retry-after"] == "2"
    assert client.post("/api/precursor", json={"layer": "conv3", "map": 1}).status_code == 429
    for job in [running] + [q.json() for q in queued]:
        client.delete(job["url"])
    for job in [running] + [q.json() for q in queued]:
        assert wait_state(client, job)["state"] == "cancelled"
    # predictions still flow while the queue is busy or empty
    assert client.post("/api/predict", json={"pixels": [[0.0, 1.0] * 14] * 28}).status_code == 200


def test_foreign_host_header(server, client):
    """DNS rebinding: a page of another site reaching 127.0.0.1 under its own name."""
    bad(client.get("/api/health", headers={"host": "evil.example:8765"}), 400, "bad Host")
    u = urlparse(server.url)
    for host in (f"localhost:{u.port}", f"127.0.0.1:{u.port}", f"[::1]:{u.port}"):
        assert client.get("/api/health", headers={"host": host}).status_code == 200


def test_unknown_jobs(client):
    bad(client.get("/api/jobs/oip-0-000000"), 404, "no job")
    bad(client.delete("/api/jobs/nope"), 404)
    bad(client.get("/api/jobs/nope/events"), 404)
    job = client.post("/api/oip", json={"layer": "conv1", "map": 0, "steps": 5, "inits": 1})
    bad(client.get(job.json()["url"] + "/files/dream.png"), 404, "has no file")
