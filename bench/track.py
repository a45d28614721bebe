"""Bench: what a training timeline costs (``oipviz train --track``) and how many warm-start
steps it needs.  Not a test: timings depend on the machine and on what else runs on it.

``--study overhead`` (default): the seed CNN trained for 10 epochs as ``oipviz train``
trains it (offline data, augmentation, the held-out evaluation after every epoch), in
fresh processes, without and with the default tracker (conv3 maps 0-15, 8 probe digits,
every epoch, the CLI's held-out metrics), the two interleaved (A B, B A, ...).  Timed:
from building the tracker (the CLI's checks included) to the finished timeline (GIFs and
sheets included), against ``train()`` alone.  Prints the ratio tracked / untracked per
round (wall time and process CPU time), the median and spread, the tracker's own seconds
(setup, first point, later points, summaries; also as a share of the untracked training:
on a busy machine the difference of two noisy wall times is noisier than that) and
whether the trained weights are identical (tracking must not change training).
Target: ratio <= 1.25.

``--study warm``: trains once, keeping the weights of every epoch, then compares at every
epoch the activation the 16 maps' OIPs reach from the previous epoch's OIPs in N steps
(the tracker's warm start, for several N and step sizes) with a cold start of 300 steps
from random inits (at oipviz.oip's lr 0.02, and at the warm start's lr): the ratio of
the summed activations of the maps that fire, per epoch.

    python bench/track.py                    # overhead, 3 rounds
    python bench/track.py --rounds 5
    python bench/track.py --study warm
    python bench/track.py --strip my.track conv3 5   # docs/track_strip.png
Writes bench/results/track_overhead.json or track_warm.json (CPU flags, load averages).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
TARGET = 1.25
EPOCHS = 10
#: (warm steps, lr, steps at the first point) compared; cold starts at oipviz.oip's lr
#: (0.02) and at each lr compared
CONFIGS = (
    (10, 0.3, 40),
    (15, 0.3, 40),
    (20, 0.3, 40),
    (15, 0.2, 40),
    (20, 0.2, 40),
    (30, 0.02, 300),
)
COLD_LRS = (0.02, 0.2, 0.3)


def child(mode: str, epochs: int, work: Path) -> dict:
    """One training run (``mode``: plain or tracked) in this fresh process."""
    from oipviz.cli.track_cmd import training_callbacks
    from oipviz.data.sources import load_dataset
    from oipviz.models.train import train

    ds = load_dataset("mnist", seed=0)
    from oipviz.core.tfenv import import_keras

    import_keras()
    evaluate = {}

    def on_epoch(epoch, logs):  # as `oipviz train` does (its progress bar's numbers)
        evaluate[epoch] = logs["val_accuracy"]

    t, c = time.perf_counter(), time.process_time()
    cbs = []
    if mode == "tracked":
        cbs = training_callbacks(("conv3:0-15",), work / "m.keras", True, ds, "seed_cnn", 0, epochs)
    built = time.perf_counter() - t
    model, card, _ = train("seed_cnn", "mnist", ds, epochs, 0, on_epoch=on_epoch, callbacks=cbs)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    import numpy as np

    digest = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.get_weights()))
    out = {
        "mode": mode,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "weights_sha256": digest.hexdigest()[:16],
    }
    if cbs:
        tl, folder = cbs[0].timeline, cbs[0].path
        secs = [p.seconds for p in tl.points]
        summaries = json.loads((folder / "timings.json").read_text())["summaries"]
        out["tracker"] = {
            "setup": round(built, 3),
            "own_seconds": round(built + sum(secs) + summaries, 3),
            "points": len(secs),
            "first_point": round(secs[0], 3),
            "later_points_median": round(statistics.median(secs[1:]), 3),
            "points_total": round(sum(secs), 3),
            "summaries": summaries,
            "states_last": {s: tl.states("conv3")[-1].count(s) for s in ("dead", "waking", "live")},
        }
    out["heldout_accuracy"] = card["heldout_accuracy"]
    return out


def run_child(mode: str, epochs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="oipviz_bench_track_") as work:
        cmd = [sys.executable, __file__, "--child", mode, "--epochs", str(epochs), "--work", work]
        env = dict(os.environ, OIPVIZ_OFFLINE="1", PYTHONPATH=str(ROOT))
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if p.returncode:
            sys.exit(f"{mode} run failed: {p.stderr.strip()[-2000:]}")
        return json.loads(p.stdout.strip().splitlines()[-1])


def overhead(rounds: int, epochs: int) -> dict:
    rows = []
    for r in range(rounds):
        order = ("plain", "tracked") if r % 2 == 0 else ("tracked", "plain")
        got = {m: run_child(m, epochs) for m in order}
        plain, tracked = got["plain"], got["tracked"]
        tr = tracked["tracker"]
        ratio = tracked["seconds"] / plain["seconds"]
        same = tracked["weights_sha256"] == plain["weights_sha256"]
        rows.append(
            dict(
                round=r,
                order=list(order),
                ratio=round(ratio, 3),
                cpu_ratio=round(tracked["cpu_seconds"] / plain["cpu_seconds"], 3),
                own_share=round(tr["own_seconds"] / plain["seconds"], 3),
                load_1min=round(os.getloadavg()[0], 2),
                same_weights=same,
                **got,
            )
        )
        print(
            f"round {r} ({' then '.join(order)}): plain {got['plain']['seconds']:.2f} s, "
            f"tracked {got['tracked']['seconds']:.2f} s, ratio {ratio:.3f}; tracker: first "
            f"point {tr['first_point']:.2f} s, later {tr['later_points_median']:.3f} s each, "
            f"summaries {tr['summaries']:.2f} s; tracker's own time / plain "
            f"{rows[-1]['own_share']:.3f}; CPU ratio {rows[-1]['cpu_ratio']:.3f}; same weights: "
            f"{same}; load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    ratios = [row["ratio"] for row in rows]
    med = statistics.median(ratios)
    own = statistics.median(row["own_share"] for row in rows)
    cpu = statistics.median(row["cpu_ratio"] for row in rows)
    print(
        f"\ntracked / untracked training time: median {med:.3f} (min {min(ratios):.3f}, max "
        f"{max(ratios):.3f}) over {rounds} rounds; target <= {TARGET}: "
        f"{'met' if med <= TARGET else 'NOT met'}; the tracker's own seconds / untracked "
        f"training: median {own:.3f}; CPU time tracked / untracked: median {cpu:.3f}"
    )
    return {
        "rounds": rows,
        "ratio_median": med,
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "own_share_median": own,
        "cpu_ratio_median": cpu,
        "target": TARGET,
    }


def warm(epochs: int) -> dict:
    """Warm starts of N steps against cold starts of 300 steps, at every epoch."""
    from oipviz.compute.oip import oip
    from oipviz.core.loader import wrap_model
    from oipviz.core.tfenv import import_keras
    from oipviz.data.sources import load_dataset
    from oipviz.models import zoo
    from oipviz.models.train import pixel_stats, train

    keras = import_keras()
    ds = load_dataset("mnist", seed=0)
    mean, std = pixel_stats(ds)
    weights = []

    class Keep(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if not weights:
                weights.append(self.model.get_weights())

        def on_epoch_end(self, epoch, logs=None):
            weights.append(self.model.get_weights())

    train("seed_cnn", "mnist", ds, epochs, 0, callbacks=[Keep()])
    model = zoo.seed_cnn()
    loaded = wrap_model(model, f"standardize:{mean!r},{std!r}")
    maps = list(range(16))
    kw = dict(inits=1, seed=0, range_mode="valid", style="readable", progress=False)

    def values(e, **k):
        model.set_weights(weights[e])
        return oip("conv3", maps, loaded, **kw, **k)

    cold = {
        lr: [values(e, steps=300, lr=lr).best_values for e in range(epochs + 1)] for lr in COLD_LRS
    }
    rows = []
    for steps, lr, first in CONFIGS:
        r = values(0, steps=first, lr=lr)
        row = dict(steps=steps, lr=lr, first_steps=first, vs_cold_default=[], vs_cold_same_lr=[])
        for e in range(epochs + 1):
            if e:
                r = values(e, steps=steps, lr=lr, init_images=r.images)
            refs = (("vs_cold_default", cold[0.02][e]), ("vs_cold_same_lr", cold[lr][e]))
            for key, ref in refs:
                sel = ref > 0.1
                row[key].append(round(float(r.best_values[sel].sum() / ref[sel].sum()), 3))
        rows.append(row)
        print(
            f"warm {steps} steps at lr {lr} (first point {first}): vs cold 300 at lr 0.02 "
            f"{row['vs_cold_default']}; vs cold 300 at lr {lr} {row['vs_cold_same_lr']}",
            flush=True,
        )
    return {
        "rows": rows,
        "reference": "sum over maps whose cold value > 0.1; epoch 0 = the first point",
    }


def strip(folder: Path, layer: str, m: int, png: Path) -> Path:
    """One map's OIP over the points of a kept timeline, side by side (the README's)."""
    from oipviz.core.outputs import save_image
    from oipviz.render import timeline as pictures
    from oipviz.timeline.writer import load_timeline

    tl = load_timeline(folder)
    k = tl.maps(layer).index(m)
    images = [p.runs[layer].shown(p.runs[layer].best_images[k]) for p in tl.points]
    labels = [p.position.label.replace("epoch ", "ep ") for p in tl.points]
    states = [row[k] for row in tl.states(layer)]
    values = tl.values(layer)[:, k]
    title = (
        f"{layer} map {m} of the seed CNN while it trains: its OIP at every epoch "
        f"(activation {values[0]:.2f} before training, {values[-1]:.2f} after)"
    )
    return save_image(png, pictures.strip(images, labels, states, title))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", choices=["overhead", "warm"], default="overhead")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--child", choices=["plain", "tracked"], default=None)
    ap.add_argument("--work", default=None)
    ap.add_argument(
        "--strip",
        nargs=3,
        metavar=("TIMELINE", "LAYER", "MAP"),
        help="only draw docs/track_strip.png from a kept timeline folder",
    )
    a = ap.parse_args()
    if a.strip:
        print(
            strip(Path(a.strip[0]), a.strip[1], int(a.strip[2]), ROOT / "docs" / "track_strip.png")
        )
        return
    if a.child:
        print(json.dumps(child(a.child, a.epochs, Path(a.work))))
        return
    from machine import cpu_info

    load0 = os.getloadavg()
    res = overhead(a.rounds, a.epochs) if a.study == "overhead" else warm(a.epochs)
    res.update(
        bench=f"track_{a.study}",
        epochs=a.epochs,
        cpu=cpu_info(),
        load_average_start=[round(v, 2) for v in load0],
        load_average_end=[round(v, 2) for v in os.getloadavg()],
    )
    out = ROOT / "bench" / "results" / f"track_{a.study}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
