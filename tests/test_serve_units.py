"""The explorer's parts without a server: the worker's queue, cancellation, events and
bounds (plain Python jobs), safe paths and input checks."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from PIL import Image

from oipviz.core.convention import Geometry
from oipviz.core.errors import ImageError
from oipviz.serve.cache import LRU
from oipviz.serve.files import BadPath, NoFile, safe_file
from oipviz.serve.inputs import BadInput, decode_image, pixels_from_json, prepare
from oipviz.serve.job import MAX_EVENTS, MAX_JOBS
from oipviz.serve.jobs import QueueFull, Worker


def wait(job, timeout=10.0):
    t = time.time()
    while not job.terminal and time.time() - t < timeout:
        time.sleep(0.01)
    return job.state


@pytest.fixture
def worker():
    w = Worker(max_queue=2, max_quick=4, cache_size=3)
    w.start()
    assert w.ready.wait(5)
    yield w
    w.stop()


def blocking(gate: threading.Event, log: list | None = None):
    def run(ctx):
        while not gate.is_set():
            ctx.check()
            time.sleep(0.01)
        if log is not None:
            log.append(ctx.job.id)
        return {"ok": True}

    return run


def test_queue_bound_cancel_and_dedup(worker):
    gate = threading.Event()
    a = worker.submit("t", blocking(gate), {}, key=("a",))
    while a.state != "running":
        time.sleep(0.005)
    b = worker.submit("t", blocking(gate), {}, key=("b",))
    c = worker.submit("t", blocking(gate), {}, key=("c",))
    assert worker.submit("t", blocking(gate), {}, key=("b",)) is b  # the same work: that job
    with pytest.raises(QueueFull, match="queue is full"):
        worker.submit("t", blocking(gate), {}, key=("d",))
    internal = worker.submit("t", blocking(gate), {}, internal=True)  # not counted
    assert worker.cancel(b) and b.state == "cancelled"  # a queued job ends at once
    assert worker.cancel(a) and wait(a) == "cancelled"  # a running one at its next check
    assert not worker.cancel(a)
    gate.set()
    assert wait(c) == "done" and wait(internal) == "done"
    hit = worker.submit("t", blocking(gate), {}, key=("c",))
    assert hit.state == "done" and hit.result == {"ok": True, "cached": True}


def test_users_jobs_go_before_background_work(worker):
    gate, order = threading.Event(), []
    first = worker.submit("t", blocking(gate, order), {})
    while first.state != "running":
        time.sleep(0.005)
    bg = worker.submit("bg", blocking(gate, order), {}, internal=True)
    user = worker.submit("t", blocking(gate, order), {})
    gate.set()
    wait(bg)
    assert order == [first.id, user.id, bg.id]


def test_users_jobs_run_inside_background_work(worker):
    gate, order = threading.Event(), []
    bg = worker.submit("bg", blocking(gate, order), {}, internal=True)
    while bg.state != "running":
        time.sleep(0.005)
    user = worker.submit("t", lambda ctx: order.append("user") or {}, {})
    assert wait(user) == "done" and bg.state == "running"  # it did not wait for bg
    gate.set()
    assert wait(bg) == "done" and order == ["user", bg.id]
    assert worker.current is None


def test_quick_calls_run_between_blocks_of_a_job(worker):
    gate = threading.Event()
    job = worker.submit("t", blocking(gate), {})
    while job.state != "running":
        time.sleep(0.005)

    async def ask():
        return await worker.call(lambda: threading.get_ident())

    ident = asyncio.run(ask())
    assert ident == worker.tf_thread_id and job.state == "running"
    gate.set()
    assert wait(job) == "done"


def test_failures_are_one_line_and_events_are_bounded(worker):
    def noisy(ctx):
        for i in range(3 * MAX_EVENTS):
            ctx.emit("frame", {"i": i})
        raise ValueError("broken\nsecond line")

    job = worker.submit("t", noisy, {})
    assert wait(job) == "failed"
    assert job.error == "internal error ValueError: broken"
    assert len(job.events) == MAX_EVENTS and job.events[-1][1] == "failed"
    assert worker.events_since(job, job.seq - 2)[0][0] == job.seq - 1


def test_finished_jobs_and_cache_are_bounded(worker):
    for i in range(MAX_JOBS + 20):
        worker.submit("t", lambda ctx: {}, {}, key=("k", i), internal=True)
    time.sleep(0.2)
    while worker.jobs_q or worker.current:
        time.sleep(0.01)
    assert len(worker.table) <= MAX_JOBS + 1 and len(worker.cache) == 3
    lru = LRU(2)
    lru.put(1, "a"), lru.put(2, "b"), lru.get(1), lru.put(3, "c")
    assert lru.get(2) is None and lru.get(1) == "a"
    heavy = LRU(10, max_bytes=100)
    for k in range(5):
        heavy.put(k, k, weight=40)
    assert len(heavy) == 2 and heavy.get(4) == 4  # the byte budget bounds it too


def test_safe_file(tmp_path):
    (tmp_path / "site" / "sub").mkdir(parents=True)
    (tmp_path / "site" / "index.html").write_text("x")
    (tmp_path / "site" / "sub" / "a.png").write_text("y")
    (tmp_path / "secret").write_text("s")
    root = tmp_path / "site"
    assert safe_file(root, "").name == "index.html"
    assert safe_file(root, "sub/a.png").read_text() == "y"
    for rel in ("../secret", "sub/../../secret", "/etc/passwd", "sub\\..\\x", "a\x00", "C:x"):
        with pytest.raises(BadPath):
            safe_file(root, rel)
    with pytest.raises(NoFile):
        safe_file(root, "sub/b.png")
    (root / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(BadPath, match="outside"):
        safe_file(root, "link")


def test_inputs():
    body = '{"pixels": %s, "method": "ig"}' % ([[0.5] * 10] * 10)
    a, rest = pixels_from_json(body.encode())
    assert a.shape == (10, 10) and rest == {"method": "ig"}
    with pytest.raises(BadInput, match="NaN"):
        pixels_from_json(b'{"pixels": [[NaN]]}')
    img = Image.new("L", (100, 60), 255)
    img.paste(0, (40, 10, 50, 50))  # a dark bar on white paper: a "1"
    mnist = Geometry.of_input((28, 28, 1))
    p = prepare(img, mnist, True, "bar")
    assert p.x01.shape == (28, 28, 1) and p.inverted and p.preprocessed
    assert p.x01.max() == pytest.approx(1.0) and p.x01[0].max() == 0
    raw = prepare(img, mnist, False, "bar")
    assert not raw.preprocessed and raw.x01.mean() > 0.8 and raw.notes == ["resized to 28×28"]
    with pytest.raises(ImageError, match="photo.jpg is not an image"):
        decode_image(b"not an image", "photo.jpg")
    assert np.asarray(decode_image(_png(img), "ok.png")).shape == (60, 100)


def _png(img) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
