"""Benchmark of ``oipviz serve`` (not a test): the real command and its clients, everything on
127.0.0.1 of this machine, through bench/harness.py.

    python bench/serve.py [--rounds 3] [--quick]

Two cases, each in a fresh process per round, interleaved (server, baseline, then baseline,
server, ...), ratios per round.  ``server`` starts ``oipviz serve`` as a subprocess and
drives it with its clients:
1. start-up: process start → listening → warm (engine traced);
2. ``POST /api/predict?maps=true`` as the page sends it (a 280×280 PNG drawing, MNIST-style
   preprocessing, every layer's activations and maps): one client, ``--predicts`` requests;
   p50/p95/p99 against the target p95 ≤ 100 ms, and as a ratio to the same forward pass
   called directly (``oipviz.predict`` in the baseline process);
3. the same with 8 concurrent clients (asyncio, one connection each): p95 against ≤ 500 ms,
   and the errors (must be none);
4. one conv3 map's OIP with the gallery's settings (8 inits, 300 steps, valid, readable), a
   new seed each time (no cache): time to the first streamed frame (target ≤ 0.5 s) and to
   the end, as a ratio to the same ``oipviz.oip`` call in a warm Python process (≤ 1.5×);
   once right when the server says it is ready (its background statistics and the other
   layers' traces still running), then after they finished;
5. cancellation: ``DELETE`` of a running job and a client that leaves its event stream,
   time until the job is cancelled;
6. memory: the server's RSS after the first requests, then after 1,000 predicts and 50 OIP
   jobs (ratio; target ≤ about 1.5×).
``baseline`` does the same forward pass and OIPs in plain Python.  Medians over rounds
with min–max, the targets met or not, and the machine (bench/machine.py: CPU model and
flags, cores, load, versions, git commit).
Writes bench/results/serve.json (``--quick``: bench/results/quick/serve.json, not kept).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's oipviz
import harness  # noqa: E402
from harness import Case, Ratio  # noqa: E402

TARGETS = {
    "predict_p95_ms_1_client": 100.0,
    "predict_p95_ms_8_clients": 500.0,
    "oip_first_frame_s": 0.5,
    "oip_total_ratio": 1.5,
    "memory_ratio": 1.5,
}
OIP = {"layer": "conv3", "inits": 8, "steps": 300}  # the gallery's probe: 8 inits, 300 steps


def drawings(n: int = 50) -> list[bytes]:
    """Real digits drawn as the page sends them: 280×280 PNG, black ink on white."""
    from PIL import Image

    from oipviz.data.inputs import real_images

    x, _, _ = real_images("mnist", 5000, 0, "all")
    out = []
    for k in range(n):
        im = Image.fromarray(np.round((1 - x[k * 97, :, :, 0]) * 255).astype(np.uint8))
        buf = io.BytesIO()
        im.resize((280, 280), Image.BICUBIC).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def start_server() -> tuple[subprocess.Popen, str, dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.pop("DISPLAY", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from oipviz.cli import main; main()", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    for line in proc.stdout:
        m = re.search(r"oipviz explorer on (http://\S+/)", line)
        if m:
            url = m.group(1)
            break
    else:
        raise SystemExit("the server did not start")
    listening = time.perf_counter() - t0
    import httpx

    while not httpx.get(url + "api/health").json()["ready"]:
        time.sleep(0.05)
    warm = time.perf_counter() - t0
    h = httpx.get(url + "api/health").json()
    return proc, url, {"listening_s": listening, "ready_s": warm, "warm_s": h["warm_seconds"]}


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1e3, q))


def one_client(c, pngs: list[bytes], n: int) -> dict:
    times, errors = [], 0
    for k in range(n):
        t = time.perf_counter()
        r = c.post(
            "/api/predict", params={"maps": "true"}, files={"image": ("d.png", pngs[k % len(pngs)])}
        )
        times.append(time.perf_counter() - t)
        errors += r.status_code != 200
    return {"n": n, "p50_ms": pct(times, 50), "p95_ms": pct(times, 95), "p99_ms": pct(times, 99),
            "max_ms": pct(times, 100), "errors": errors}  # fmt: skip


def many_clients(url: str, pngs: list[bytes], clients: int, n: int) -> dict:
    import httpx

    async def client(i: int, times: list, errors: list):
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            for k in range(n):
                t = time.perf_counter()
                try:
                    r = await c.post(
                        "/api/predict",
                        params={"maps": "true"},
                        files={"image": ("d.png", pngs[(i * 7 + k) % len(pngs)])},
                    )
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                times.append(time.perf_counter() - t)
                errors.append(not ok)

    async def run():
        times, errors = [], []
        t = time.perf_counter()
        await asyncio.gather(*(client(i, times, errors) for i in range(clients)))
        return times, errors, time.perf_counter() - t

    times, errors, wall = asyncio.run(run())
    return {"clients": clients, "n": len(times), "p50_ms": pct(times, 50), "p95_ms": pct(times, 95),
            "p99_ms": pct(times, 99), "errors": int(sum(errors)),
            "requests_per_s": len(times) / wall}  # fmt: skip


def stream_oip(c, body: dict) -> tuple[float, float, dict]:
    """(seconds to the first frame, seconds to done, result) from the POST on."""
    t = time.perf_counter()
    job = c.post("/api/oip", json=body).json()
    first = None
    with c.stream("GET", job["events"]) as resp:
        for line in resp.iter_lines():
            if line == "event: frame" and first is None:
                first = time.perf_counter() - t
            if line == "event: done":
                break
    total = time.perf_counter() - t
    return first, total, c.get(job["url"]).json()["result"]


def cancel_latency(c) -> dict:
    long = {"layer": "conv3", "map": 7, "steps": 5000, "inits": 64}
    job = c.post("/api/oip", json=dict(long, seed=991)).json()
    while c.get(job["url"]).json()["state"] != "running":
        time.sleep(0.01)
    t = time.perf_counter()
    c.delete(job["url"])
    while c.get(job["url"]).json()["state"] != "cancelled":
        time.sleep(0.005)
    delete_s = time.perf_counter() - t
    job = c.post("/api/oip", json=dict(long, seed=992)).json()
    with c.stream("GET", job["events"]) as resp:
        for line in resp.iter_lines():
            if line == "event: frame":
                break
    t = time.perf_counter()  # the stream is closed here
    while c.get(job["url"]).json()["state"] != "cancelled":
        time.sleep(0.005)
    return {"delete_s": delete_s, "disconnect_s": time.perf_counter() - t}


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def memory(c, pid: int, pngs: list[bytes], predicts: int, oips: int) -> dict:
    for k in range(10):
        c.post("/api/predict", params={"maps": "true"}, files={"image": ("d.png", pngs[k])})
    for k in range(2):
        stream_oip(c, dict(OIP, map=k, steps=50, seed=5000 + k))
    before = rss_mb(pid)
    for k in range(predicts):
        c.post("/api/predict", params={"maps": "true"}, files={"image": ("d.png", pngs[k % 50])})
    for k in range(oips):
        stream_oip(c, dict(OIP, map=k % 128, steps=50, seed=6000 + k))
    after = rss_mb(pid)
    return {"rss_first_mb": before, "rss_after_mb": after, "ratio": after / before,
            "predicts": predicts, "oip_jobs": oips, "oip_steps": 50}  # fmt: skip


def baseline_case(oips: int) -> dict:
    """The plain-Python baseline, in the harness's fresh process: the same forward pass as
    ``/api/predict`` (``oipviz.predict`` of one drawing, median of 200) and the same OIP
    calls as the server's jobs (``oips`` maps, 8 inits × 300 steps, in range, readable)."""
    from PIL import Image

    import oipviz
    from oipviz.compute.rescue import PROBE_RANGE, PROBE_STYLE
    from oipviz.data.inputs import mnist_style

    m = oipviz.load_model()
    x = mnist_style(Image.open(io.BytesIO(drawings(1)[0]))).x01[None, ..., None]
    oipviz.predict(x, m)
    t = []
    for _ in range(200):
        s = time.perf_counter()
        oipviz.predict(x, m)
        t.append(time.perf_counter() - s)
    kw = dict(inits=8, range_mode=PROBE_RANGE, style=PROBE_STYLE, progress=False)
    oipviz.oip("conv3", [0], m, steps=20, **kw)  # traces the engine, as the server's warm-up
    o = []
    for k in range(oips):
        s = time.perf_counter()
        oipviz.oip("conv3", [46 + k], m, steps=300, seed=k, **kw)
        o.append(time.perf_counter() - s)
    return {"predict_p50_ms": float(np.median(t)) * 1e3, "oip_s": float(np.median(o))}


def server_case(predicts: int, oips: int, mem_predicts: int, mem_oips: int) -> dict:
    """The server and its clients, in the harness's fresh process: start-up, predicts from
    1 and 8 clients, streamed OIPs (one while the server's background work still runs),
    cancellation and memory; every time a measure (seconds or ms)."""
    import httpx

    pngs = drawings()
    proc, url, startup = start_server()
    try:
        with httpx.Client(base_url=url, timeout=120) as c:
            early = stream_oip(c, dict(OIP, map=45, seed=99))  # background work still running
            while c.get("/api/health").json()["background"]:  # statistics, other layers' traces
                time.sleep(0.1)
            single = one_client(c, pngs, predicts)
            multi = many_clients(url, pngs, 8, predicts // 4)
            oip = [stream_oip(c, dict(OIP, map=46 + k, seed=100 + k)) for k in range(oips)]
            cancel = cancel_latency(c)
            mem = memory(c, proc.pid, pngs, mem_predicts, mem_oips)
    finally:
        proc.terminate()
        proc.wait(30)
    first = [o[0] for o in oip]
    return {
        "startup": startup,
        "predict_1_client": single,
        "predict_8_clients": multi,
        "oip_first_frame_at_startup_s": early[0],
        "oip_first_frame_s": float(np.median(first)),
        "oip_first_frame_worst_s": max(first),
        "oip_total_s": float(np.median([o[1] for o in oip])),
        "cancel": cancel,
        "memory": mem,
        "info": {"oip_best_activation": [o[2]["best_activation"] for o in oip]},
    }


#: per-round ratios: the server's time over the same work in plain Python
RATIOS = (
    ("oip_total_ratio", ("server", "oip_total_s"), ("baseline", "oip_s")),
    ("predict_http_over_direct", ("server", "predict_1_client.p50_ms"),
     ("baseline", "predict_p50_ms")),
)  # fmt: skip
#: where each target's value is: a case measure or a ratio
TARGET_MEASURES = {
    "predict_p95_ms_1_client": ("server", "predict_1_client.p95_ms"),
    "predict_p95_ms_8_clients": ("server", "predict_8_clients.p95_ms"),
    "oip_first_frame_s": ("server", "oip_first_frame_s"),
    "oip_total_ratio": ("ratio", "oip_total_ratio"),
    "memory_ratio": ("server", "memory.ratio"),
}


def met(res: dict) -> dict:
    """Each target's median and whether it is met."""
    out = {}
    for key, (where, measure) in TARGET_MEASURES.items():
        s = res["ratios"][measure] if where == "ratio" else res["cases"][where]["measures"][measure]
        out[key] = {"median": s.get("median"), "target": TARGETS[key],
                    "met": s.get("median") is not None and s["median"] <= TARGETS[key]}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predicts", type=int, default=300)
    ap.add_argument("--oips", type=int, default=5)
    ap.add_argument("--mem-predicts", type=int, default=1000)
    ap.add_argument("--mem-oips", type=int, default=50)
    harness.add_arguments(ap, rounds=3, quick_rounds=1)
    args = ap.parse_args()
    if args.quick:
        args.predicts, args.oips, args.mem_predicts, args.mem_oips = 80, 2, 100, 5
    sizes = {k: getattr(args, k) for k in ("predicts", "oips", "mem_predicts", "mem_oips")}
    cases = [
        Case("server", call="serve:server_case", kwargs=sizes),
        Case("baseline", call="serve:baseline_case", kwargs={"oips": args.oips}),
    ]
    ratios = [Ratio(n, a, b) for n, a, b in RATIOS]
    res = harness.run("serve", cases, ratios, harness.rounds_of(args), args.order, args.seed,
                      {**sizes, "oip": OIP, "targets": TARGETS})  # fmt: skip
    res["targets"] = met(res)
    print(harness.table(res))
    print(json.dumps(res["targets"], indent=1))
    print(f"wrote {harness.write(res, harness.result_path(args, 'serve'))}")
    if any(c["errors"] for c in res["cases"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
