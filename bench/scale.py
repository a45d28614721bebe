"""Scale-out benchmark of the sharded precursor (not a test).

Measures, on the bundled model (conv3):
* the faithful 3^9 screen (19,683 patterns × 10 steps, one map) on the ``local`` executor
  and on ``ray`` with a local 2-worker cluster: wall times, their ratio, the per-core
  screen rate and the overhead per shard (and the round trip of an empty Ray task);
* a 5^9 forward screen over all 128 conv3 maps, end to end through the CLI (1,953,125
  patterns, top 8 refined × 1,200 steps per map); long, so ``--big`` runs only it;
* the projected time of a 3^16 exhaustive screen (43,046,721 patterns × 10 steps, one map)
  on 2, 64 and 512 cores, from the measured per-core rate and shard overhead.

    python bench/scale.py               # 3^9 local vs ray, projection
    nice python bench/scale.py --big    # + the 5^9 × 128-map run (tens of minutes)
Writes bench/results/scale.json (CPU flags, core count, load average).  Timings are noisy
when other jobs share the CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OUT = Path(__file__).parent / "results" / "scale.json"
MAP = 46


class Recorder:
    """A shard store that keeps results in memory (for their timings)."""

    def __init__(self):
        self.results = []

    def load(self, spec, shards):
        return {}

    def save(self, spec, res):
        self.results.append(res)


def timed_run(ex, **kw) -> tuple[float, list, object]:
    from oipviz.compute.scaleout import precursor_run

    rec = Recorder()
    t = time.perf_counter()
    res = next(precursor_run(ex, "conv3", [MAP], store=rec, **kw))
    return time.perf_counter() - t, rec.results, res


def small_grid(ex) -> None:
    """Warm up: TensorFlow imported and the engine traced wherever shards run."""
    from oipviz.compute.scaleout import precursor_run

    list(
        precursor_run(
            ex, "conv3", [MAP], grid=2, test_steps=2, top=2, steps=2, shard_size=8, chunk=8
        )
    )


def local_vs_ray(loaded) -> dict:
    import logging

    import ray

    from oipviz.compute.executors import RayExecutor, executor

    kw = dict(grid=3, test_steps=10, top=8, steps=1)
    with executor("local", loaded) as ex:
        small_grid(ex)
        t_local, shards, res_local = timed_run(ex, **kw)
    print(f"3^9 exhaustive, local: {t_local:.1f} s ({len(shards)} shards)", flush=True)
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    t_init = time.perf_counter() - t
    try:
        with RayExecutor(loaded) as ex:
            t = time.perf_counter()
            small_grid(ex)
            t_warm = time.perf_counter() - t
            t_ray, rshards, res_ray = timed_run(ex, **kw)
            noop = ray.remote(lambda: None)
            ray.get(noop.remote())
            t = time.perf_counter()
            ray.get([noop.remote() for _ in range(50)])
            t_task = (time.perf_counter() - t) / 50
            workers = ex.workers
    finally:
        ray.shutdown()
    same = (
        res_local.top_indices.tolist() == res_ray.top_indices.tolist()
        and res_local.images.tobytes() == res_ray.images.tobytes()
    )
    units = 19683 * 10
    compute = sum(r.seconds for r in rshards)
    per_core = units / compute  # 1 thread per Ray task
    overhead = max(0.0, (t_ray * workers - compute) / len(rshards))
    print(
        f"3^9 exhaustive, ray ({workers} workers): {t_ray:.1f} s; ratio ray/local "
        f"{t_ray / t_local:.2f}; {per_core:,.0f} image-steps/s per core; overhead "
        f"{overhead:.2f} s per shard; same result: {same}",
        flush=True,
    )
    return {
        "patterns": 19683,
        "test_steps": 10,
        "map": MAP,
        "shards": len(rshards),
        "shard_patterns": max(r.shard.stop - r.shard.start for r in rshards),
        "local_seconds": round(t_local, 2),
        "ray_seconds": round(t_ray, 2),
        "ray_over_local": round(t_ray / t_local, 3),
        "ray_workers": workers,
        "ray_init_seconds": round(t_init, 2),
        "ray_warmup_seconds": round(t_warm, 2),
        "local_image_steps_per_second": round(units / t_local, 1),
        "ray_shard_compute_seconds": round(compute, 2),
        "image_steps_per_second_per_core": round(per_core, 1),
        "overhead_seconds_per_shard": round(overhead, 3),
        "empty_task_round_trip_ms": round(1000 * t_task, 2),
        "pruned_fraction": round(sum(int(r.counts[0, 2]) for r in rshards) / 19683, 4),
        "same_top_k_and_images": bool(same),
    }


def projection(row: dict) -> dict:
    """3^16 exhaustive (one map) on N cores: waves of 16,384-pattern shards."""
    from oipviz.compute.shards import shard_size

    n, steps = 3**16, 10
    size = shard_size(n, 1024)
    shards = math.ceil(n / size)
    per_core = row["image_steps_per_second_per_core"]
    shard_s = size * steps / per_core + row["overhead_seconds_per_shard"]
    out = {
        "patterns": n,
        "test_steps": steps,
        "image_steps": n * steps,
        "shard_patterns": size,
        "shards": shards,
        "shard_seconds": round(shard_s, 1),
        "per_core_rate": per_core,
        "cores": {},
    }
    for cores in (2, 64, 512):
        waves = math.ceil(shards / cores)
        out["cores"][str(cores)] = {
            "hours": round(waves * shard_s / 3600, 2),
            "ideal_hours": round(shards * shard_s / cores / 3600, 2),
            "waves": waves,
        }
        print(
            f"3^16 exhaustive on {cores:3d} cores: {waves * shard_s / 3600:7.2f} h "
            f"({waves} wave(s) of {size:,}-pattern shards)",
            flush=True,
        )
    return out


def big_run() -> dict:
    """5^9 forward screen of all 128 conv3 maps through the CLI, end to end."""
    exe = Path(sys.executable).with_name("oipviz")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p59"
        cmd = [
            str(exe),
            "precursor",
            "--layer",
            "conv3",
            "--map",
            "all",
            "--values",
            "0.1,0.3,0.5,0.7,0.9",
            "--screen",
            "forward",
            "--yes",
            "--out",
            str(out),
        ]
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        man = json.loads((out / "manifest.json").read_text()) if out.exists() else {}
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) if out.exists() else 0
        shard_s = (
            sum(json.loads(f.read_text())["seconds"] for f in (out / "shards").rglob("*.json"))
            if out.exists()
            else 0.0
        )
    plan = [ln for ln in p.stderr.splitlines() if ln.startswith(("plan:", "1,953,125"))]
    print(f"5^9 forward × 128 maps: {wall:.0f} s end to end (exit {p.returncode})", flush=True)
    return {
        "command": " ".join(cmd[1:-2]),
        "exit_code": p.returncode,
        "seconds": round(wall, 1),
        "shard_screen_seconds": round(shard_s, 1),
        "plan": plan,
        "summary": man.get("summary"),
        "output_bytes": size,
        "last_lines": p.stdout.splitlines()[-2:] + p.stderr.splitlines()[-2:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", action="store_true", help="only the 5^9 × 128-map run")
    args = ap.parse_args()
    from engine import cpu_info

    prev = json.loads(OUT.read_text()) if OUT.exists() else {}
    result = dict(prev, bench="scale", cpu=cpu_info())
    load0 = os.getloadavg()[0]
    if args.big:
        result["forward_5x9_all_conv3_maps"] = dict(
            big_run(),
            load_average_start=round(load0, 2),
            load_average_end=round(os.getloadavg()[0], 2),
        )
    else:
        import ray
        import tensorflow as tf

        from oipviz.core.loader import load_model

        row = local_vs_ray(load_model())
        result.update(
            tensorflow=tf.__version__,
            ray=ray.__version__,
            exhaustive_3x9=row,
            projection_3x16_exhaustive=projection(row),
            load_average_start=round(load0, 2),
            load_average_end=round(os.getloadavg()[0], 2),
        )
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
