"""Benchmark of the precursor grid search on the bundled model (not a test).

Measures, in one run:
* one map with the defaults (3×3 grid × 3 values = 19,683 patterns × 10 screen steps,
  top 8 × 1,200 refine steps): screen and refine time, patterns screened per second;
* the faster screens (forward, halving) on the same maps: time, and how their top-8
  and refined best activation compare with the exhaustive screen's;
* dead-map rescue on conv3: maps that 8 multi-scale inits × 300 epochs leave at zero,
  and how many of them the precursor wakes, as in the articles and with ``wake``;
* peak memory (ru_maxrss).

    python bench/precursor.py                 # maps 46 (live) + 49, 114 (dead, rescuable)
    python bench/precursor.py --maps 46 --no-rescue
Writes bench/results/precursor.json.  Timings are noisy when other jobs share the CPU.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", default="46,49,114", help="conv3 maps to compare the screens on")
    ap.add_argument("--no-rescue", action="store_true", help="skip the dead-map rescue run")
    ap.add_argument("--probe-epochs", type=int, default=300)
    ap.add_argument("--wake", type=int, default=None,
                    help="pre-activation steps for the wake run (default: the library's)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "precursor.json"))
    args = ap.parse_args()

    from oipviz.loader import load_model
    from oipviz.oip import oip
    from oipviz.precursor import DEFAULT_WAKE, precursor, precursor_maps
    from oipviz.screens import halving_plan, screen_work

    if args.wake is None:
        args.wake = DEFAULT_WAKE

    loaded = load_model()
    maps = [int(m) for m in args.maps.split(",")]
    n = 19683
    # trace the engine and the forward function once, so timings are of the work itself
    precursor("conv3", maps[0], loaded, grid=2, test_epochs=2, top=2, epochs=2, progress=False)
    precursor("conv3", maps[0], loaded, grid=2, top=2, epochs=2, screen="forward", progress=False)
    rss_start = rss_mb()

    screens: dict[str, dict] = {}
    per_map = []
    for m in maps:
        row = {"map": m}
        for screen in ("exhaustive", "forward", "halving"):
            t = time.perf_counter()
            r = precursor("conv3", m, loaded, screen=screen, progress=False)
            wall = time.perf_counter() - t
            row[screen] = {"seconds": round(wall, 2), "screen_seconds": round(r.screen_seconds, 2),
                           "refine_seconds": round(r.refine_seconds, 2),
                           "top8": [int(i) for i in r.top_indices],
                           "best_activation": round(r.best_value, 4), "status": r.status,
                           "patterns_above_zero": int(np.count_nonzero(r.screen_losses > 1e-6))}
            print(f"map {m:3d} {screen:10s}: {wall:6.1f} s (screen {r.screen_seconds:6.1f} s, "
                  f"refine {r.refine_seconds:5.1f} s); best {r.best_value:.4g} ({r.status})", flush=True)
        ex = set(row["exhaustive"]["top8"])
        for screen in ("forward", "halving"):
            row[screen]["top8_overlap_with_exhaustive"] = len(ex & set(row[screen]["top8"]))
            row[screen]["best_vs_exhaustive"] = round(
                row[screen]["best_activation"] / max(row["exhaustive"]["best_activation"], 1e-12), 3)
        per_map.append(row)
    for screen in ("exhaustive", "forward", "halving"):
        screens[screen] = {
            "mean_seconds": round(float(np.mean([r[screen]["seconds"] for r in per_map])), 2),
            "mean_screen_seconds": round(float(np.mean([r[screen]["screen_seconds"] for r in per_map])), 2)}
        if screen != "exhaustive":
            screens[screen]["mean_top8_overlap"] = float(np.mean(
                [r[screen]["top8_overlap_with_exhaustive"] for r in per_map]))
    first = per_map[0]["exhaustive"]
    default = {
        "map": maps[0], "seconds": first["seconds"], "screen_seconds": first["screen_seconds"],
        "refine_seconds": first["refine_seconds"],
        "patterns_per_second": round(n / first["screen_seconds"], 1),
        "screen_image_steps_per_second": round(n * 10 / first["screen_seconds"], 1),
        "refine_image_steps_per_second": round(8 * 1200 / first["refine_seconds"], 1),
        "target_seconds": 10.0,
    }

    rescue = None
    if not args.no_rescue:
        t = time.perf_counter()
        run = oip("conv3", None, loaded, inits=8, epochs=args.probe_epochs, progress=False)
        t_probe = time.perf_counter() - t
        dead = [m for m, s in zip(run.maps, run.status) if s == "dead"]
        t = time.perf_counter()
        results = {r.map: r for r in precursor_maps("conv3", dead, loaded, screen="forward",
                                                    wake=0)}   # the articles' method
        t_fwd = time.perf_counter() - t
        rescued = [m for m in dead if results[m].status == "rescued"]
        t = time.perf_counter()
        woken = {r.map: r for r in precursor_maps("conv3", dead, loaded, screen="forward",
                                                  wake=args.wake)}
        t_wake = time.perf_counter() - t
        rescued_wake = [m for m in dead if woken[m].status == "rescued"]
        rescue = {
            "probe": f"8 multi-scale inits × {args.probe_epochs} epochs",
            "probe_seconds": round(t_probe, 1), "maps": 128, "dead_after_random_inits": dead,
            "rescued_by_precursor": rescued,
            "rescue_rate": round(len(rescued) / max(len(dead), 1), 3),
            "precursor_screen": "forward (same rescue set as exhaustive on a ReLU map: a "
                                "pattern at zero has zero gradient and stays at zero)",
            "precursor_seconds": round(t_fwd, 1),
            "patterns_above_zero": {m: int(np.count_nonzero(results[m].screen_losses > 1e-6))
                                    for m in dead},
            "best_activation": {m: round(results[m].best_value, 4) for m in dead},
            "wake_steps": args.wake,
            "rescued_with_wake": rescued_wake,
            "rescue_rate_with_wake": round(len(rescued_wake) / max(len(dead), 1), 3),
            "best_activation_with_wake": {m: round(woken[m].best_value, 4) for m in dead},
            "precursor_with_wake_seconds": round(t_wake, 1),
            "target_rate": 0.8,
        }
        print(f"rescue: {len(dead)} of 128 conv3 maps dead after random inits; the precursor "
              f"wakes {len(rescued)} ({100 * rescue['rescue_rate']:.0f}%): {rescued}; with "
              f"--wake {args.wake}: {len(rescued_wake)} ({100 * rescue['rescue_rate_with_wake']:.0f}%)")

    ex_s = screens["exhaustive"]["mean_screen_seconds"]
    ratios = {
        "exhaustive_over_forward_screen_time": round(ex_s / max(screens["forward"]["mean_screen_seconds"], 1e-9), 1),
        "exhaustive_over_halving_screen_time": round(ex_s / max(screens["halving"]["mean_screen_seconds"], 1e-9), 1),
        "default_map_seconds_over_target": round(default["seconds"] / 10.0, 2),
        "halving_ascent_image_steps_fraction": round(
            sum(s * k for s, k in halving_plan(n, 8, 10)) / (n * 10), 4),
        "halving_work_fraction_incl_forward": round(screen_work(n, 1, "halving", 10, 8) / (n * 10), 4),
    }
    result = {
        "bench": "precursor", "machine": platform.machine(), "cpu_count": __import__("os").cpu_count(),
        "default_one_map": default, "screens": screens, "per_map": per_map,
        "halving_plan": halving_plan(n, 8, 10), "rescue": rescue, "ratios": ratios,
        "peak_rss_mb": round(rss_mb(), 1), "rss_after_warmup_mb": round(rss_start, 1),
        "target_peak_rss_mb": 1536,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"one map, defaults: {default['seconds']} s (screen {default['screen_seconds']} s = "
          f"{default['patterns_per_second']:.0f} patterns/s, refine {default['refine_seconds']} s); "
          f"{ratios['default_map_seconds_over_target']}× the 10 s target")
    for s in ("forward", "halving"):
        print(f"{s}: screen {ex_s / max(screens[s]['mean_screen_seconds'], 1e-9):.1f}× faster than "
              f"exhaustive; mean top-8 overlap {screens[s]['mean_top8_overlap']:.1f}/8")
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB (target 1536 MB)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
