"""Benchmark of ``oipviz serve`` (not a test): the real command in a fresh process per round,
its clients in this process, everything on 127.0.0.1 of this machine.

    python bench/serve.py [--rounds 3] [--quick]

Per round (a fresh server, then a fresh plain-Python baseline process, interleaved):
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
Medians over rounds with min–max, and the machine (:func:`bench/machine.py`: CPU model and
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
OUT = ROOT / "bench" / "results" / "serve.json"
QUICK_OUT = ROOT / "bench" / "results" / "quick" / "serve.json"  # gitignored
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


BASELINE = r"""
import json, sys, time, io
import numpy as np
import oipviz
from PIL import Image
from oipviz.data.inputs import mnist_style
from oipviz.compute.rescue import PROBE_RANGE, PROBE_STYLE
m = oipviz.load_model()
pngs = json.loads(sys.argv[1])
x = mnist_style(Image.open(io.BytesIO(bytes.fromhex(pngs)))).x01[None, ..., None]
oipviz.predict(x, m)
t = []
for _ in range(200):
    s = time.perf_counter(); oipviz.predict(x, m); t.append(time.perf_counter() - s)
oipviz.oip("conv3", [0], m, inits=8, steps=20, range_mode=PROBE_RANGE, style=PROBE_STYLE,
           progress=False)
o = []
for k in range(int(sys.argv[2])):
    s = time.perf_counter()
    oipviz.oip("conv3", [46 + k], m, inits=8, steps=300, range_mode=PROBE_RANGE,
               style=PROBE_STYLE, seed=k, progress=False)
    o.append(time.perf_counter() - s)
print(json.dumps({"predict_p50_ms": float(np.median(t)) * 1e3, "oip_s": o}))
"""


def baseline(png: bytes, oips: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", BASELINE, json.dumps(png.hex()), str(oips)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def one_round(args, pngs: list[bytes]) -> dict:
    import httpx

    load = os.getloadavg()[0]
    proc, url, startup = start_server()
    try:
        with httpx.Client(base_url=url, timeout=120) as c:
            early = stream_oip(c, dict(OIP, map=45, seed=99))  # background work still running
            while c.get("/api/health").json()["background"]:  # statistics, other layers' traces
                time.sleep(0.1)
            single = one_client(c, pngs, args.predicts)
            multi = many_clients(url, pngs, 8, args.predicts // 4)
            oip = [stream_oip(c, dict(OIP, map=46 + k, seed=100 + k)) for k in range(args.oips)]
            cancel = cancel_latency(c)
            mem = memory(c, proc.pid, pngs, args.mem_predicts, args.mem_oips)
    finally:
        proc.terminate()
        proc.wait(30)
    base = baseline(pngs[0], args.oips)
    first = [o[0] for o in oip]
    total = [o[1] for o in oip]
    return {
        "loadavg_1min_before": round(load, 2),
        "startup": startup,
        "predict_1_client": single,
        "predict_8_clients": multi,
        "predict_direct_p50_ms": base["predict_p50_ms"],
        "oip_first_frame_at_startup_s": early[0],
        "oip_first_frame_s": first,
        "oip_total_s": total,
        "oip_direct_s": base["oip_s"],
        "oip_total_ratio": float(np.median(total) / np.median(base["oip_s"])),
        "oip_best_activation": [o[2]["best_activation"] for o in oip],
        "cancel": cancel,
        "memory": mem,
    }


def summary(rounds: list[dict]) -> dict:
    def agg(values):
        v = np.asarray(values, float)
        return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}

    s = {
        "predict_p95_ms_1_client": agg([r["predict_1_client"]["p95_ms"] for r in rounds]),
        "predict_p50_ms_1_client": agg([r["predict_1_client"]["p50_ms"] for r in rounds]),
        "predict_http_over_direct": agg(
            [r["predict_1_client"]["p50_ms"] / r["predict_direct_p50_ms"] for r in rounds]
        ),
        "predict_p95_ms_8_clients": agg([r["predict_8_clients"]["p95_ms"] for r in rounds]),
        "predict_errors": int(
            sum(r["predict_1_client"]["errors"] + r["predict_8_clients"]["errors"] for r in rounds)
        ),
        "oip_first_frame_s": agg([np.median(r["oip_first_frame_s"]) for r in rounds]),
        "oip_first_frame_s_worst": float(max(max(r["oip_first_frame_s"]) for r in rounds)),
        "oip_first_frame_at_startup_s": agg([r["oip_first_frame_at_startup_s"] for r in rounds]),
        "oip_total_ratio": agg([r["oip_total_ratio"] for r in rounds]),
        "cancel_delete_s": agg([r["cancel"]["delete_s"] for r in rounds]),
        "cancel_disconnect_s": agg([r["cancel"]["disconnect_s"] for r in rounds]),
        "memory_ratio": agg([r["memory"]["ratio"] for r in rounds]),
        "startup_ready_s": agg([r["startup"]["ready_s"] for r in rounds]),
    }
    s["met"] = {k: s[k]["median"] <= t for k, t in TARGETS.items()}
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--predicts", type=int, default=300)
    ap.add_argument("--oips", type=int, default=5)
    ap.add_argument("--mem-predicts", type=int, default=1000)
    ap.add_argument("--mem-oips", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="1 round, fewer requests")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.predicts, args.oips, args.mem_predicts, args.mem_oips = 1, 80, 2, 100, 5
    from machine import machine_info  # the record every bench keeps (bench/machine.py)

    pngs = drawings()
    rounds = []
    for i in range(args.rounds):
        r = one_round(args, pngs)
        rounds.append(r)
        print(
            f"round {i + 1}: predict p95 {r['predict_1_client']['p95_ms']:.1f} ms (1 client), "
            f"{r['predict_8_clients']['p95_ms']:.1f} ms (8); first frame "
            f"{np.median(r['oip_first_frame_s']):.3f} s; OIP ×{r['oip_total_ratio']:.2f}; "
            f"memory ×{r['memory']['ratio']:.2f}; load {r['loadavg_1min_before']}",
            flush=True,
        )
    result = {
        "targets": TARGETS,
        "summary": summary(rounds),
        "rounds": rounds,
        "settings": vars(args),
        "machine": machine_info(),
    }
    out = QUICK_OUT if args.quick else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"], indent=1))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
