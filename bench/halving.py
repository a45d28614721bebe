"""Halving vs exhaustive precursor screen on many maps of the bundled model (not a test).

For each map, with the default precursor settings (3×3 grid × 3 values = 19,683 patterns,
10 test epochs, top 8, 1,200 refine steps, the default wake, seed 0), runs the precursor
with the exhaustive and with the halving screen and records: the top-8 overlap, the best
refined activation of each and their relative difference, the work (image-steps) and
time of each screen.  Maps are picked per layer from a forward pass over all patterns:
``live`` (many patterns above zero), ``sparse`` (1–616 above zero: fewer than the
halving finalists) and ``dead`` (none above zero: the wake top-up decides).

Decision rule (issue #12), fixed before the run: halving holds if EVERY map has a top-8
overlap of at least 7/8 AND a best refined activation within 2% of the exhaustive's.

    python bench/halving.py                       # 12 maps of conv2 + 12 of conv3
    python bench/halving.py --per-layer 4         # a smaller study
Writes bench/results/halving.json (machine, load averages, per-map rows, summary).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

N = 3**9
FORCED = {"conv3": [46, 49, 114]}  # the README's map and the two rescued in the articles' way


def pick_maps(loaded, layer: str, per_layer: int, seed: int = 0) -> tuple[list, np.ndarray]:
    """[(map, kind)] for one layer (half live, a sixth sparse, the rest dead, as available)
    and the count of patterns above zero of every map."""
    from oipviz.compute.screens import forward_table
    from oipviz.core.status import fires

    info = loaded.layer(layer)
    table = forward_table(
        loaded, layer, list(range(info.units)), np.arange(N), 3, (0.2, 0.5, 0.8), 1024
    )
    above = fires(table).sum(axis=0)
    kinds = {
        "live": np.flatnonzero(above > 616),
        "sparse": np.flatnonzero((above > 0) & (above <= 616)),
        "dead": np.flatnonzero(above == 0),
    }
    want = {"live": per_layer // 2, "sparse": max(1, per_layer // 6)}
    want["dead"] = per_layer - want["live"] - want["sparse"]
    rng = np.random.default_rng(seed)
    out = []
    for kind in ("live", "sparse", "dead"):
        pool = [int(m) for m in kinds[kind]]
        forced = [m for m in FORCED.get(layer, []) if m in pool]
        rest = [m for m in pool if m not in forced]
        extra = list(rng.permutation(rest)[: max(0, want[kind] - len(forced))]) if rest else []
        out += [(int(m), kind) for m in forced + extra]
    short = per_layer - len(out)  # a kind with too few maps: fill with live ones
    if short > 0:
        spare = [
            int(m) for m in rng.permutation(kinds["live"]) if int(m) not in {m for m, _ in out}
        ]
        out += [(m, "live") for m in spare[:short]]
    return out, above


def timed_precursor(loaded, layer: str, m: int, **settings) -> tuple:
    """The precursor search of one map with ``settings``: (its result, a row of its wall time,
    screen and refinement seconds, top 8 pattern indices, best activation and status)."""
    from oipviz.compute.precursor import precursor

    t = time.perf_counter()
    r = precursor(layer, m, loaded, progress=False, **settings)
    return r, {
        "seconds": round(time.perf_counter() - t, 2),
        "screen_seconds": round(r.screen_seconds, 2),
        "refine_seconds": round(r.refine_seconds, 2),
        "top8": [int(i) for i in r.top_indices],
        "best": round(r.best_value, 4),
        "status": r.status,
    }


def run_map(loaded, layer: str, m: int) -> dict:
    from oipviz.compute.screens import halving_plan

    row = {"layer": layer, "map": m, "load_1min": round(os.getloadavg()[0], 2)}
    for screen in ("exhaustive", "halving"):
        r, timing = timed_precursor(loaded, layer, m, screen=screen)
        row[screen] = {
            **timing,
            "woken": int(r.woken.sum()) if r.woken is not None else 0,
            "ascent_image_steps": int(r.screen_image_steps),
            "forward_images": 0 if screen == "exhaustive" else N,
        }
    ex, hv = row["exhaustive"], row["halving"]
    row["overlap"] = len(set(ex["top8"]) & set(hv["top8"]))
    row["best_rel_diff"] = round((hv["best"] - ex["best"]) / max(abs(ex["best"]), 1e-12), 4)
    row["passes"] = bool(row["overlap"] >= 7 and abs(row["best_rel_diff"]) <= 0.02)
    row["work_fraction"] = round(
        (hv["ascent_image_steps"] + N) / max(ex["ascent_image_steps"], 1), 4
    )
    row["nominal_work_fraction"] = round(
        (sum(s * k for s, k in halving_plan(N, 8, 10)) + N) / (N * 10), 4
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default="conv2,conv3")
    ap.add_argument("--per-layer", type=int, default=12)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "halving.json"))
    args = ap.parse_args()

    from engine import cpu_info  # bench/engine.py: CPU model and SIMD flags

    from oipviz.compute.precursor import precursor
    from oipviz.compute.precursor_settings import DEFAULT_WAKE
    from oipviz.core.loader import load_model

    load0 = os.getloadavg()
    loaded = load_model()
    rows, picked = [], {}
    t_all = time.perf_counter()
    for layer in args.layers.split(","):
        for screen in ("exhaustive", "halving"):  # trace the engine once per layer
            precursor(
                layer,
                0,
                loaded,
                grid=2,
                test_steps=2,
                top=2,
                steps=2,
                wake=2,
                screen=screen,
                progress=False,
            )
        maps, above = pick_maps(loaded, layer, args.per_layer)
        picked[layer] = {
            "maps": maps,
            "patterns_above_zero": {m: int(above[m]) for m, _ in maps},
            "layer_counts": {
                "live": int((above > 616).sum()),
                "sparse": int(((above > 0) & (above <= 616)).sum()),
                "dead": int((above == 0).sum()),
            },
        }
        for m, kind in maps:
            row = run_map(loaded, layer, m)
            row.update(kind=kind, patterns_above_zero=int(above[m]))
            rows.append(row)
            ex, hv = row["exhaustive"], row["halving"]
            print(
                f"{layer} {m:3d} {kind:6s} above0 {above[m]:5d}  overlap {row['overlap']}/8  "
                f"best ex {ex['best']:9.4g} hv {hv['best']:9.4g} "
                f"({100 * row['best_rel_diff']:+.2f}%)  "
                f"screen ex {ex['screen_seconds']:5.1f} s hv {hv['screen_seconds']:5.1f} s  "
                f"work {100 * row['work_fraction']:.1f}%  load {row['load_1min']}"
                + ("" if row["passes"] else "  FAIL"),
                flush=True,
            )

    ok = sum(r["passes"] for r in rows)
    ex_s = sum(r["exhaustive"]["screen_seconds"] for r in rows)
    hv_s = sum(r["halving"]["screen_seconds"] for r in rows)
    summary = {
        "maps": len(rows),
        "maps_passing": ok,
        "rule": "every map: overlap >= 7/8 and |best rel diff| <= 2%",
        "holds": ok == len(rows),
        "min_overlap": min(r["overlap"] for r in rows),
        "max_abs_best_rel_diff": max(abs(r["best_rel_diff"]) for r in rows),
        "by_kind": {
            k: {
                "maps": sum(r["kind"] == k for r in rows),
                "passing": sum(r["passes"] for r in rows if r["kind"] == k),
                "mean_overlap": round(
                    float(np.mean([r["overlap"] for r in rows if r["kind"] == k] or [0])), 2
                ),
            }
            for k in ("live", "sparse", "dead")
        },
        "screen_seconds_exhaustive": round(ex_s, 1),
        "screen_seconds_halving": round(hv_s, 1),
        "screen_time_ratio_exhaustive_over_halving": round(ex_s / max(hv_s, 1e-9), 2),
        "live_screen_time_ratio": round(
            sum(r["exhaustive"]["screen_seconds"] for r in rows if r["kind"] == "live")
            / max(sum(r["halving"]["screen_seconds"] for r in rows if r["kind"] == "live"), 1e-9),
            2,
        ),
        "nominal_work_fraction": rows[0]["nominal_work_fraction"] if rows else None,
        "total_seconds": round(time.perf_counter() - t_all, 1),
    }
    result = {
        "bench": "halving",
        "cpu": cpu_info(),
        "load_average_start": [round(v, 2) for v in load0],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "settings": {
            "grid": 3,
            "values": [0.2, 0.5, 0.8],
            "test_steps": 10,
            "top": 8,
            "epochs": 1200,
            "lr": 0.02,
            "wake": DEFAULT_WAKE,
            "seed": 0,
        },
        "picked": picked,
        "summary": summary,
        "per_map": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\n{ok}/{len(rows)} maps pass (overlap >= 7/8 and best within 2%); "
        f"holds: {summary['holds']}; min overlap {summary['min_overlap']}/8, "
        f"max |Δbest| {100 * summary['max_abs_best_rel_diff']:.2f}%"
    )
    print(
        f"screen time exhaustive/halving {summary['screen_time_ratio_exhaustive_over_halving']}× "
        f"(live maps {summary['live_screen_time_ratio']}×); nominal halving work "
        f"{100 * (summary['nominal_work_fraction'] or 0):.1f}% of exhaustive "
        "incl. the forward pass; "
        f"load {result['load_average_start'][0]} → {result['load_average_end'][0]}"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
