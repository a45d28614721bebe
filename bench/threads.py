"""TensorFlow thread settings for the ascent engine (not a test; issue #12 lever 6).

For each (intra_op, inter_op) configuration (0 = TensorFlow's default), a fresh worker
process (this file with ``--worker``; the threads must be set before TensorFlow starts)
sets ``tf.config.threading.set_intra_op_parallelism_threads`` /
``set_inter_op_parallelism_threads``, loads the bundled model, warms up (traces) the engine
and times ``oipviz.core.ascent.ascend`` (conv3 map-mean objectives, image i on map i % 128,
fluctuation inits, no pruning) in image-steps per second at:

* batch 1,024 × ``--steps`` steps (float32, and bfloat16 when the CPU has native bf16);
* batch 64 and batch 8 × ``--small-steps`` steps (float32).

Configurations on n cores: TF's default (0,0), (1,1), (n/2,1), (n,1), (n/2,2), (n,2),
(n,n), deduplicated; on 2 cores: (0,0), (1,1), (2,1), (1,2), (2,2).  (k,k) is what
oipviz.compute.executors sets in a Ray task with ``--cpus-per-task k`` (marked "ray" in the table).
The machine's timing noise between processes is large, so ``--rounds`` rounds go
round-robin over all configurations (one worker each); per configuration and batch the
median, the min-max and the ratio of the median to the default's are reported, and a
setting counts as better only if it beats the default by more than the default's own
run-to-run spread.

    python bench/threads.py                         # about 6 minutes on 2 quiet cores
    python bench/threads.py --rounds 1 --steps 5 --small-steps 40   # smoke run
    python bench/threads.py --configs 0,0 2,1 4,1   # own list

Writes bench/results/threads.json (``--out``): machine (CPU flags, cores), TensorFlow
version, load averages at start and end, every worker's timings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

LAYER, N_MAPS, LR = "conv3", 128, 0.02


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def configs_for(n: int) -> list[tuple[int, int]]:
    if n <= 2:
        return [(0, 0), (1, 1), (2, 1), (1, 2), (2, 2)]
    h = max(1, n // 2)
    return list(dict.fromkeys([(0, 0), (1, 1), (h, 1), (n, 1), (h, 2), (n, 2), (n, n)]))


def worker(intra: int, inter: int, steps: int, small_steps: int, bf16: bool) -> dict:
    """Runs in a fresh process: set the threads, then time the engine once per batch."""
    from oipviz.core.tfenv import import_keras

    import_keras()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    from oipviz.core import objectives as O
    from oipviz.core.ascent import ascend
    from oipviz.core.inits import fluctuations
    from oipviz.core.loader import load_model

    loaded = load_model()
    inits = 1024 // N_MAPS
    full = fluctuations(range(N_MAPS), inits, seed=0)  # map-major (m, init)
    order = [(i % N_MAPS) * inits + i // N_MAPS for i in range(1024)]
    x0 = full[order]  # image i: map i % 128
    objs = [O.map_mean(LAYER, i % N_MAPS) for i in range(1024)]
    cases = {
        "b1024": (1024, steps, "float32"),
        "b64": (64, small_steps, "float32"),
        "b8": (8, small_steps, "float32"),
    }
    if bf16:
        cases["b1024_bf16"] = (1024, steps, "bfloat16")

    def run(b, s, p):
        return ascend(
            loaded, x0[:b], objs[:b], steps=s, lr=LR, prune=False, history_points=1, precision=p
        )

    t0 = time.perf_counter()
    for b, _, p in cases.values():  # warm-up: tracing
        run(b, 2, p)
    warm = time.perf_counter() - t0
    out = {
        "intra": intra,
        "inter": inter,
        "warmup_s": round(warm, 2),
        "load_average": round(os.getloadavg()[0], 2),
        "tf_intra": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter": tf.config.threading.get_inter_op_parallelism_threads(),
        "rates": {},
    }
    for key, (b, s, p) in cases.items():
        w, c = time.perf_counter(), time.process_time()
        res = run(b, s, p)
        w, c = time.perf_counter() - w, time.process_time() - c
        out["rates"][key] = {
            "image_steps_per_s": b * s / w,
            "per_cpu_s": b * s / max(c, 1e-9),
            "precision_used": res.precision,
        }
    out["tensorflow"] = tf.__version__
    return out


def spawn(cfg, args, bf16: bool) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--intra",
        str(cfg[0]),
        "--inter",
        str(cfg[1]),
        "--steps",
        str(args.steps),
        "--small-steps",
        str(args.small_steps),
    ]
    cmd += ["--bf16"] if bf16 else []
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    )
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode:
        return {
            "error": f"worker exited {p.returncode}: "
            + " | ".join(p.stderr.strip().splitlines()[-3:])
        }
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["process_s"] = round(time.perf_counter() - t, 1)
    return res


def name(cfg) -> str:
    return "default" if cfg == (0, 0) else f"{cfg[0]},{cfg[1]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds (one worker per config)"
    )
    ap.add_argument("--steps", type=int, default=25, help="steps of the batch-1,024 runs")
    ap.add_argument(
        "--small-steps", type=int, default=600, help="steps of the batch-64 and -8 runs"
    )
    ap.add_argument(
        "--configs", nargs="*", help="intra,inter pairs (0 = TF default); default by cores"
    )
    ap.add_argument("--no-bf16", action="store_true", help="skip bfloat16 even on bf16 CPUs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "threads.json"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--intra", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--inter", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.intra, args.inter, args.steps, args.small_steps, args.bf16)))
        return

    from engine import cpu_info

    from oipviz.core.precision import cpu_has_bf16

    n = cores()
    cfgs = (
        [tuple(int(v) for v in c.split(",")) for c in args.configs]
        if args.configs
        else configs_for(n)
    )
    if (0, 0) not in cfgs:
        cfgs.insert(0, (0, 0))
    bf16 = cpu_has_bf16() and not args.no_bf16
    load0 = os.getloadavg()
    print(
        f"oipviz thread settings: {len(cfgs)} configs × {args.rounds} rounds on {n} cores, "
        f"load average {load0[0]:.1f}; batch 1024 × {args.steps} steps, 64 and 8 × "
        f"{args.small_steps} steps{', + bfloat16 at 1024' if bf16 else ''}"
    )
    t0 = time.perf_counter()
    runs: dict[tuple, list[dict]] = {c: [] for c in cfgs}
    for r in range(args.rounds):  # round-robin, not per config
        for c in cfgs:
            res = spawn(c, args, bf16)
            runs[c].append(res)
            short = res.get("error") or "  ".join(
                f"{k} {v['image_steps_per_s']:.0f}" for k, v in res["rates"].items()
            )
            print(
                f"  round {r + 1} ({name(c)}): {short}  [{res.get('process_s', 0)} s]", flush=True
            )
    ok = {c: [x for x in v if "rates" in x] for c, v in runs.items()}
    keys = next((list(x["rates"]) for v in ok.values() for x in v), [])
    if not ok[(0, 0)] or not keys:
        sys.exit("the default configuration produced no timings")

    stats: dict[str, dict[str, dict]] = {}
    for c in cfgs:
        stats[name(c)] = {}
        for k in keys:
            v = [x["rates"][k]["image_steps_per_s"] for x in ok[c]]
            if v:
                stats[name(c)][k] = {
                    "median": round(float(np.median(v)), 1),
                    "min": round(min(v), 1),
                    "max": round(max(v), 1),
                    "values": [round(x, 1) for x in v],
                }
    base = stats["default"]
    for s in stats.values():
        for k, v in s.items():
            v["ratio_to_default"] = round(v["median"] / base[k]["median"], 3)

    print(f"\nimage-steps/s, median [min-max] and median / default ({args.rounds} rounds)")
    print(f"{'intra,inter':<12}" + "".join(f"{k:>31}" for k in keys))
    for c in cfgs:
        tag = name(c) + ("  ray" if c[0] == c[1] and c[0] > 0 else "")
        cells = [
            f"{v['median']:6.0f} [{v['min']:.0f}-{v['max']:.0f}] {v['ratio_to_default']:4.2f}×"
            if (v := stats[name(c)].get(k))
            else "-"
            for k in keys
        ]
        print(f"{tag:<12}" + "".join(f"{x:>31}" for x in cells))

    verdict, beats = {}, []
    for k in keys:
        best = max((c for c in stats if k in stats[c]), key=lambda c: stats[c][k]["median"])
        d = base[k]
        spread = (d["max"] - d["min"]) / d["median"]
        gain = round(stats[best][k]["ratio_to_default"] - 1, 3)
        wins = best != "default" and len(ok[(0, 0)]) > 1 and gain > spread
        verdict[k] = {
            "best": best,
            "gain_over_default": round(gain, 3),
            "default_spread": round(spread, 3),
            "beats_default_beyond_noise": bool(wins),
        }
        beats += [f"{k}: ({best}) +{gain:.0%} > spread {spread:.0%}"] if wins else []
    best_line = "; ".join(
        f"{k} {v['best']} ({v['gain_over_default']:+.0%}, default spread {v['default_spread']:.0%})"
        for k, v in verdict.items()
    )
    if beats:
        conclusion = "beats TF's default beyond the noise: " + "; ".join(beats)
    elif args.rounds < 2:
        conclusion = "one round: no spread measured, run --rounds 3 or more to conclude"
    else:
        conclusion = "no setting beats TF's default beyond the noise"
    print(f"\nbest per batch: {best_line}\nconclusion: {conclusion}")

    load1 = os.getloadavg()
    tf_version = next((x["tensorflow"] for v in ok.values() for x in v), None)
    out = {
        "bench": "threads",
        "cpu": dict(cpu_info(), cores_usable=n, native_bf16=cpu_has_bf16()),
        "tensorflow": tf_version,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get(
            "TF_ENABLE_ONEDNN_OPTS", "1 (set by oipviz.core.tfenv)"
        ),
        "load_average_start": [round(x, 2) for x in load0],
        "load_average_end": [round(x, 2) for x in load1],
        "seconds": round(time.perf_counter() - t0, 1),
        "rounds": args.rounds,
        "steps_b1024": args.steps,
        "steps_b64_b8": args.small_steps,
        "layer": LAYER,
        "lr": LR,
        "setup": "one fresh process per (config, round), round-robin; threads set before TF "
        "starts (0 = TF default); warm-up call per batch, then one timed ascend call "
        "per batch; image i on conv3 map i % 128, fluctuation inits, prune=False",
        "ray_note": "oipviz.compute.executors sets intra = inter = --cpus-per-task in each "
        "Ray task: the (k,k) rows",
        "configs": [list(c) for c in cfgs],
        "stats": stats,
        "verdict": verdict,
        "conclusion": conclusion,
        "runs": {name(c): v for c, v in runs.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
