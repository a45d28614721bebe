"""``oipviz serve`` as a user starts it: a real gallery, a compare model, the command's
own errors, one log line per request, and Ctrl-C (exit 130, a running job stopped)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

import oipviz
from oipviz.cli import main as cli
from oipviz.core.errors import OipvizError

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEVEN = [[1.0 if (r == 5 and 5 <= c <= 22) or (c == 27 - r and r > 5) else 0.0 for c in range(28)]
         for r in range(28)]  # fmt: skip


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A small conv3 gallery of the bundled model and a random-weight model."""
    import keras

    from oipviz.models.zoo import random_features

    root = tmp_path_factory.mktemp("serve_cli")
    keras.utils.set_random_seed(3)
    random_features().save(root / "random.keras")
    args = ["gallery", "--layer", "conv3", "--maps", "3,4", "--epochs", "20"]
    args += ["--precursor-epochs", "20", "--data-limit", "500", "--no-explain"]
    args += ["--no-feature-space", "--out", str(root / "gallery"), "--quiet"]
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return root


def test_gallery_and_compare(made):
    from oipviz.serve.server import start

    with start(gallery=made / "gallery", compare=made / "random.keras") as srv:
        assert srv.wait_ready()
        c = httpx.Client(base_url=srv.url, timeout=120)
        m = c.get("/api/model").json()
        assert m["defaults"]["oip"]["steps"] == 20  # the gallery's settings
        assert m["gallery"]["layers"] == {"conv3": [3, 4]}
        assert m["compare"]["name"] == "random.keras" and m["compare"]["layers"][4]["maps"] == 32
        info = c.get("/api/maps/conv3/4").json()
        g = info["gallery"]
        assert g["status"] in ("live", "rescued", "dead") and g["activation"] is not None
        for url in g["urls"].values():
            r = c.get(url)
            assert r.status_code == 200, url
        assert c.get(g["urls"]["oip"]).headers["content-type"] == "image/png"
        assert "<html" in c.get("/gallery/").text.lower()
        assert c.get("/api/maps/conv3/5").json()["gallery"] is None  # not in the gallery
        # the same drawing through both models
        main = c.post("/api/predict", params={"preprocess": False}, json={"pixels": SEVEN}).json()
        other = c.post(
            "/api/predict", params={"preprocess": False, "model": "compare"}, json={"pixels": SEVEN}
        ).json()
        assert main["model"] == "main" and other["model"] == "compare"
        assert [L["name"] for L in other["layers"]] == ["conv1", "conv2", "conv3", "predictions"]
        assert not np.allclose(main["probabilities"], other["probabilities"], atol=1e-3)
        job = c.post(
            "/api/oip", json={"layer": "conv3", "map": 31, "model": "compare", "steps": 10}
        ).json()
        t = time.time()
        while c.get(job["url"]).json()["state"] not in ("done", "failed") and time.time() - t < 60:
            time.sleep(0.1)
        res = c.get(job["url"]).json()
        assert res["state"] == "done" and res["result"]["model"] == "compare"
        c.close()


def test_gallery_of_another_model_is_refused(made):
    from oipviz.serve.server import build_state

    with pytest.raises(OipvizError, match="was made for another model"):
        build_state(made / "random.keras", gallery=made / "gallery")
    with pytest.raises(OipvizError, match="not a folder written by 'oipviz gallery'"):
        build_state(None, gallery=made)
    # the same file read another way: the gallery's activations are not this model's
    other_scale = oipviz.load_model(input_scale="unit")
    with pytest.raises(OipvizError, match="input convention kind standardize.*--input-scale"):
        build_state(other_scale, gallery=made / "gallery")
    # a manifest without the run identity layers writes names no model
    old = made / "old_gallery"
    old.mkdir(exist_ok=True)
    man = json.loads((made / "gallery" / "manifest.json").read_text())
    man.pop("identity")
    (old / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(OipvizError, match="names no model"):
        build_state(None, gallery=old)


def test_command_errors(made, user_error, runner):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        r = runner.invoke(cli, ["serve", "--port", str(port), "--no-open"])
        assert r.exit_code == 2 and "cannot listen on 127.0.0.1" in r.stderr
        assert "address already in use" in r.stderr.lower() and "--port" in r.stderr
    finally:
        busy.close()
    r = runner.invoke(cli, ["serve", "--port", "0", "--gallery", str(made), "--no-open"])
    user_error(r, "not a folder written by 'oipviz gallery'")
    other = ["serve", "--port", "0", "--model", str(made / "random.keras"), "--no-open"]
    r = runner.invoke(cli, other + ["--gallery", str(made / "gallery")])
    user_error(r, "was made for another model")
    r = runner.invoke(cli, ["serve", "--port", "0", "--model", str(made / "nope.keras")])
    user_error(r, "nope.keras not found")
    r = runner.invoke(cli, ["serve", "--port", "70000"])
    user_error(r, "70000")
    # another host is served only when asked, with a warning (192.0.2.1: not this machine)
    r = runner.invoke(cli, ["serve", "--host", "192.0.2.1", "--port", "0", "--no-open"])
    assert r.exit_code == 2 and r.stderr.startswith("warning: listening on 192.0.2.1")
    assert "cannot listen on 192.0.2.1" in r.stderr


def test_ctrl_c_stops_cleanly_with_130():
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    env.pop("DISPLAY", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from oipviz.cli import main; main()", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        # a shell's background job (and a pytest-xdist worker) ignores SIGINT, and a child
        # inherits that: Ctrl-C is what a user's terminal sends, so the default action
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        url = None
        for line in proc.stdout:
            found = re.search(r"oipviz explorer on (http://\S+/)", line)
            if found:
                url = found.group(1)
                break
        assert url and url.startswith("http://127.0.0.1:")
        c = httpx.Client(base_url=url, timeout=120)
        t = time.time()
        while not c.get("/api/health").json()["ready"] and time.time() - t < 120:
            time.sleep(0.2)
        job = c.post("/api/oip", json={"layer": "conv3", "map": 1, "steps": 5000, "inits": 64})
        while c.get(job.json()["url"]).json()["state"] != "running" and time.time() - t < 120:
            time.sleep(0.05)
        c.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert err.strip().splitlines()[-1] == "error: interrupted"
    assert "Traceback" not in err
    # one log line per request: client, method, path, status, time
    assert re.search(r"127\.0\.0\.1 GET /api/health 200 [\d.]+ ms", err)
    assert re.search(r"127\.0\.0\.1 POST /api/oip 202 [\d.]+ ms", err)
