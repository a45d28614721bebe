"""bfloat16 vs float32 ascent steps (``--precision``, issue #12 lever 5; not a test).

Measured in one run, float32 and bfloat16 interleaved:

* **engine**: conv3 map objectives, batch 1,024 and batch 8 (image-steps/s, ratio);
* **precursor**: the default command (halving screen, top 8 × 1,200 refine steps) on the
  maps bench/halving.py picks (live, sparse and dead maps of conv2 and conv3, map 46
  included): top-8 overlap, best refined activation of each and their relative
  difference, seconds; and the exhaustive 10-step screen of map 46 (the big batch case);
* **OIPs**: the gallery's probe (every conv3 map × 4 inits × 200 steps, valid range,
  readable style): best activation per map, live/dead agreement, seconds.

Decision rule, fixed before the run: ``auto``/``bfloat16`` may be recommended where the
CPU has native bf16 if EVERY precursor map has a top-8 overlap of at least 6/8 and a best
refined activation within 2% of float32's, and the OIP probe's live/dead statuses agree
with a median best-activation ratio within 2% of 1.  float32 stays the default either
way (the same bytes on every machine for a seed).

    python bench/precision.py                  # 6 maps of conv2 + 6 of conv3
    python bench/precision.py --per-layer 12
Writes bench/results/precision.json (machine, load averages).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

PRECISIONS = ("float32", "bfloat16")


def engine_rates(loaded, rounds: int) -> dict:
    from oipviz.core import objectives as O
    from oipviz.core.ascent import ascend
    from oipviz.core.inits import fluctuations

    out = {}
    for batch, steps in ((1024, 50), (8, 1200)):
        maps = [m % 128 for m in range(batch)]
        x0 = fluctuations(maps, 1, seed=0)
        objs = [O.map_mean("conv3", m) for m in maps]
        rates = {p: [] for p in PRECISIONS}
        for p in PRECISIONS:  # trace once
            ascend(loaded, x0, objs, steps=2, precision=p, prune=False, history_points=1)
        for _ in range(rounds):
            for p in PRECISIONS:
                t = time.perf_counter()
                ascend(loaded, x0, objs, steps=steps, precision=p, prune=False, history_points=1)
                rates[p].append(batch * steps / (time.perf_counter() - t))
        med = {p: statistics.median(v) for p, v in rates.items()}
        out[f"batch_{batch}"] = {
            "steps": steps,
            "image_steps_per_s": {p: round(v) for p, v in med.items()},
            "bf16_over_f32": round(med["bfloat16"] / med["float32"], 2),
        }
        print(
            f"engine batch {batch}: float32 {med['float32']:,.0f}, bfloat16 "
            f"{med['bfloat16']:,.0f} image-steps/s = {med['bfloat16'] / med['float32']:.2f}x",
            flush=True,
        )
    return out


def precursor_rows(loaded, per_layer: int) -> list[dict]:
    from halving import pick_maps, timed_precursor

    rows = []
    for layer in ("conv2", "conv3"):
        maps, _ = pick_maps(loaded, layer, per_layer)
        for m, kind in maps:
            row = {
                "layer": layer,
                "map": m,
                "kind": kind,
                "load_1min": round(os.getloadavg()[0], 2),
            }
            for p in PRECISIONS:
                row[p] = timed_precursor(loaded, layer, m, precision=p)[1]
            a, b = row["float32"], row["bfloat16"]
            row["overlap"] = len(set(a["top8"]) & set(b["top8"]))
            row["best_rel_diff"] = round(abs(b["best"] - a["best"]) / max(abs(a["best"]), 1e-9), 4)
            rows.append(row)
            print(
                f"{layer} map {m:3d} ({kind}): overlap {row['overlap']}/8, best "
                f"{a['best']:.4g} vs {b['best']:.4g} ({100 * row['best_rel_diff']:.2f}%), "
                f"{a['seconds']:.1f} s vs {b['seconds']:.1f} s",
                flush=True,
            )
    return rows


def exhaustive_46(loaded) -> dict:
    from oipviz.compute.precursor import precursor

    out = {}
    for p in PRECISIONS:
        r = precursor("conv3", 46, loaded, screen="exhaustive", precision=p, progress=False)
        out[p] = {
            "screen_seconds": round(r.screen_seconds, 2),
            "best": round(r.best_value, 4),
            "top8": [int(i) for i in r.top_indices],
        }
    out["overlap"] = len(set(out["float32"]["top8"]) & set(out["bfloat16"]["top8"]))
    out["screen_speedup"] = round(
        out["float32"]["screen_seconds"] / out["bfloat16"]["screen_seconds"], 2
    )
    print(
        f"exhaustive screen map 46: {out['float32']['screen_seconds']} s vs "
        f"{out['bfloat16']['screen_seconds']} s = {out['screen_speedup']}x; overlap "
        f"{out['overlap']}/8; best {out['float32']['best']} vs {out['bfloat16']['best']}",
        flush=True,
    )
    return out


def oip_probe(loaded, inits: int, epochs: int) -> dict:
    from oipviz.compute.oip import oip
    from oipviz.core.status import fires

    runs, secs = {}, {}
    for p in PRECISIONS:
        t = time.perf_counter()
        runs[p] = oip(
            "conv3",
            None,
            loaded,
            inits=inits,
            steps=epochs,
            range_mode="valid",
            style="readable",
            precision=p,
            progress=False,
        )
        secs[p] = round(time.perf_counter() - t, 2)
    a, b = runs["float32"].best_values, runs["bfloat16"].best_values
    live_a, live_b = fires(a), fires(b)
    both = live_a & live_b
    ratio = b[both] / a[both]
    out = {
        "inits": inits,
        "epochs": epochs,
        "seconds": secs,
        "speedup": round(secs["float32"] / secs["bfloat16"], 2),
        "live": {"float32": int(live_a.sum()), "bfloat16": int(live_b.sum())},
        "status_disagreements": int((live_a != live_b).sum()),
        "best_ratio_bf16_over_f32": {
            "median": round(float(np.median(ratio)), 4),
            "min": round(float(ratio.min()), 4),
            "max": round(float(ratio.max()), 4),
            "share_within_5pct": round(float((abs(ratio - 1) <= 0.05).mean()), 3),
        },
    }
    print(
        f"OIP probe conv3 ({inits} inits x {epochs}): {secs['float32']} s vs {secs['bfloat16']} s "
        f"= {out['speedup']}x; live {out['live']}; ratio {out['best_ratio_bf16_over_f32']}",
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-layer", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved engine timings (median)")
    ap.add_argument("--inits", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "precision.json"))
    a = ap.parse_args()
    from engine import cpu_info

    from oipviz.core import precision
    from oipviz.core.loader import load_model

    load0 = os.getloadavg()
    loaded = load_model()
    res = {
        "bench": "precision",
        "cpu": cpu_info(),
        "native_bf16": precision.cpu_has_bf16(),
        "load_average_start": [round(v, 2) for v in load0],
    }
    res["engine"] = engine_rates(loaded, a.rounds)
    res["exhaustive_map46"] = exhaustive_46(loaded)
    res["oip_probe"] = oip_probe(loaded, a.inits, a.epochs)
    rows = precursor_rows(loaded, a.per_layer)
    ok_maps = all(r["overlap"] >= 6 and r["best_rel_diff"] <= 0.02 for r in rows)
    probe = res["oip_probe"]
    ok_probe = (
        probe["status_disagreements"] == 0
        and abs(probe["best_ratio_bf16_over_f32"]["median"] - 1) <= 0.02
    )
    res["precursor"] = {
        "rows": rows,
        "min_overlap": min(r["overlap"] for r in rows),
        "max_best_rel_diff": max(r["best_rel_diff"] for r in rows),
        "maps_within_2pct": sum(r["best_rel_diff"] <= 0.02 for r in rows),
        "maps": len(rows),
    }
    res["decision"] = {
        "rule": "every precursor map overlap >= 6/8 and best within 2%; OIP probe "
        "statuses agree and median best ratio within 2% of 1",
        "precursor_holds": ok_maps,
        "probe_holds": ok_probe,
    }
    res["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps({k: res[k] for k in ("decision", "load_average_start", "load_average_end")}))
    print(
        f"precursor: min overlap {res['precursor']['min_overlap']}/8, max best diff "
        f"{100 * res['precursor']['max_best_rel_diff']:.2f}%, "
        f"{res['precursor']['maps_within_2pct']}/{len(rows)} maps within 2%"
    )
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
