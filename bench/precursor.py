"""Benchmark of ``oipviz precursor --layer conv3 --map 46`` end to end (not a test).

Runs the README's first command as a real subprocess (defaults: 3^9 patterns, the default
screen, top 8 × 1,200 refine steps, wake 200), ``--repeat`` times, interleaved with the
same command with ``--screen exhaustive``, and prints and records:

* the wall time end to end (target ≤ 10 s on a 2-core machine) and its phases: Python
  start and imports (TensorFlow, oipviz), model load, screen, refine (from the manifest),
  write (PNGs, plots, manifest) and the rest (CLI set-up, engine traces outside the
  screen and refine, exit);
* the process CPU time (user + sys of the child): on a busy machine the wall grows, the
  CPU much less;
* ratios from the same run: the default command over the exhaustive screen alone, and
  over the exhaustive command end to end.

With ``--rescue`` it also runs the dead-map rescue study of conv3 (8 multi-scale inits ×
``--probe-epochs``, then the precursor on the dead maps with and without the wake;
slow: several minutes).

    python bench/precursor.py                 # default vs exhaustive, map 46
    python bench/precursor.py --repeat 5 --rescue
Writes bench/results/precursor.json (machine, load averages).  Timings are noisy when
other jobs share the CPU: compare the ratios, and the CPU times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_S = 10.0
#: run in the child: times the imports, the model load and the writer around the real CLI
DRIVER = r"""
import json, sys, time
t0 = time.perf_counter()
import tensorflow  # noqa: F401
t_tf = time.perf_counter() - t0
import oipviz.cli.params as P
import oipviz.writers.precursor as W
from oipviz.cli import main
t_import = time.perf_counter() - t0
T = {}
def timed(name, fn):
    def wrap(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            T[name] = T.get(name, 0.0) + time.perf_counter() - t
    return wrap
P.ModelSpec.load = timed("model_load", P.ModelSpec.load)
W.write_precursor = timed("write", W.write_precursor)
t = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit as e:
    if e.code not in (0, None):
        raise
T.update(tf_import=t_tf, imports=t_import, cli=time.perf_counter() - t)
print("TIMES " + json.dumps(T))
"""


def run_cli(out: Path, extra: list[str]) -> dict:
    """One ``oipviz precursor --layer conv3 --map 46`` subprocess: wall, CPU, phases."""
    cmd = [
        sys.executable,
        "-c",
        DRIVER,
        "precursor",
        "--layer",
        "conv3",
        "--map",
        "46",
        "--out",
        str(out),
        "--force",
        *extra,
    ]
    load = os.getloadavg()[0]
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(
        cmd, capture_output=True, text=True, env=dict(os.environ, OIPVIZ_OFFLINE="1")
    )
    wall = time.perf_counter() - t
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"oipviz precursor failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    times = json.loads(next(x for x in p.stdout.splitlines() if x.startswith("TIMES "))[6:])
    man = json.loads((out / "manifest.json").read_text())
    screen, refine = man["screen_seconds"], man["refine_seconds"]
    phases = {
        "start_and_imports": wall - times["cli"],
        "tf_import": times["tf_import"],
        "model_load": times["model_load"],
        "screen": screen,
        "refine": refine,
        "write": times["write"],
        "other": times["cli"] - times["model_load"] - screen - refine - times["write"],
    }
    return {
        "screen_kind": man["screen"],
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 2),
        "phases": {k: round(v, 2) for k, v in phases.items()},
        "best_activation": round(man["best_activation"], 4),
        "top8": [c["pattern_index"] for c in man["candidates"]],
        "load_1min_before": round(load, 2),
    }


def rescue_study(probe_epochs: int, wake: int) -> dict:
    """Dead conv3 maps after random inits; how many the precursor wakes (forward screen,
    the same rescue set as any screen on a ReLU map), as in the articles and with wake."""
    from oipviz.compute.oip import oip
    from oipviz.compute.precursor import precursor_maps
    from oipviz.core.loader import load_model

    loaded = load_model()
    t = time.perf_counter()
    run = oip("conv3", None, loaded, inits=8, steps=probe_epochs, progress=False)
    t_probe = time.perf_counter() - t
    dead = [m for m, s in zip(run.maps, run.status) if s == "dead"]
    out = {
        "probe": f"8 multi-scale inits × {probe_epochs} epochs",
        "probe_seconds": round(t_probe, 1),
        "maps": 128,
        "dead_after_random_inits": dead,
    }
    for name, w in (("articles", 0), ("wake", wake)):
        t = time.perf_counter()
        res = {r.map: r for r in precursor_maps("conv3", dead, loaded, screen="forward", wake=w)}
        out[name] = {
            "wake_steps": w,
            "seconds": round(time.perf_counter() - t, 1),
            "rescued": [m for m in dead if res[m].status == "rescued"],
            "best_activation": {m: round(res[m].best_value, 4) for m in dead},
        }
        print(
            f"rescue ({name}, wake {w}): {len(out[name]['rescued'])} of {len(dead)} dead maps",
            flush=True,
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="default-command runs (median)")
    ap.add_argument("--rescue", action="store_true", help="also run the dead-map rescue study")
    ap.add_argument("--probe-epochs", type=int, default=300)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "precursor.json"))
    args = ap.parse_args()

    from engine import cpu_info  # bench/engine.py: CPU model and SIMD flags

    from oipviz.compute.precursor import DEFAULT_WAKE
    from oipviz.compute.screens import DEFAULT_SCREEN

    load0 = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="oipviz_bench_precursor_"))
    runs, ex = [], None
    for k in range(args.repeat):  # default, exhaustive, default, default, …
        r = run_cli(work / "default", [])
        runs.append(r)
        print(
            f"default ({r['screen_kind']}): {r['wall_seconds']:.1f} s wall, "
            f"{r['cpu_seconds']:.1f} s CPU, phases {r['phases']}, best {r['best_activation']:.4g}, "
            f"load {r['load_1min_before']}",
            flush=True,
        )
        if k == 0:
            ex = run_cli(work / "exhaustive", ["--screen", "exhaustive"])
            print(
                f"exhaustive: {ex['wall_seconds']:.1f} s wall, {ex['cpu_seconds']:.1f} s CPU, "
                f"phases {ex['phases']}, best {ex['best_activation']:.4g}, "
                f"load {ex['load_1min_before']}",
                flush=True,
            )
    med = statistics.median(r["wall_seconds"] for r in runs)
    phases = {
        k: round(statistics.median(r["phases"][k] for r in runs), 2) for k in runs[0]["phases"]
    }
    ratios = {
        "default_wall_over_target": round(med / TARGET_S, 2),
        "default_wall_over_exhaustive_screen": round(med / ex["phases"]["screen"], 3),
        "default_wall_over_exhaustive_wall": round(med / ex["wall_seconds"], 3),
        "exhaustive_screen_over_default_screen": round(
            ex["phases"]["screen"] / max(phases["screen"], 1e-9), 1
        ),
        "default_cpu_over_exhaustive_cpu": round(
            statistics.median(r["cpu_seconds"] for r in runs) / ex["cpu_seconds"], 3
        ),
    }
    result = {
        "bench": "precursor",
        "command": "oipviz precursor --layer conv3 --map 46",
        "cpu": cpu_info(),
        "load_average_start": [round(v, 2) for v in load0],
        "default_screen": DEFAULT_SCREEN,
        "wake": DEFAULT_WAKE,
        "target_seconds": TARGET_S,
        "default": {"median_wall_seconds": med, "median_phases": phases, "runs": runs},
        "exhaustive": ex,
        "ratios": ratios,
        "same_top8": sorted(runs[0]["top8"]) == sorted(ex["top8"]),
        "rescue": rescue_study(args.probe_epochs, DEFAULT_WAKE) if args.rescue else None,
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\noipviz precursor --layer conv3 --map 46 ({DEFAULT_SCREEN} screen): median {med:.1f} s "
        f"end to end = {ratios['default_wall_over_target']}× the {TARGET_S:.0f} s target; phases "
        + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())
    )
    print(
        f"= {ratios['default_wall_over_exhaustive_screen']}× the exhaustive 10-step screen alone "
        f"({ex['phases']['screen']:.1f} s) and {ratios['default_wall_over_exhaustive_wall']}× the "
        f"exhaustive command ({ex['wall_seconds']:.1f} s); same top 8: {result['same_top8']}; "
        f"load {result['load_average_start'][0]} → {result['load_average_end'][0]}"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
