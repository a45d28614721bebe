"""OIP quality on every map of a layer (not a test): are the OIPs real, readable images?

For all maps of the bundled model's conv3 (and the bundled Fashion-MNIST LeNet-5's conv2),
the same budget per image (INITS inits × STEPS steps), it compares:
* ``free``: the articles' unconstrained ascent, then clipped to the pixel range (the image
  a user could actually feed the model);
* ``valid`` and ``valid+readable``: oipviz's range-constrained OIPs (``--range valid``,
  ``--style readable``);
* tf-keras-vis 0.8.7 ActivationMaximization with its default transforms and regularizers,
  given the valid input range (0, 1) and seeds from it (run in a side venv);
* the best of the real digits (5,000 offline MNIST digits; 10,000 Fashion test images).

Per map: the in-range activation of the best image (as written), TV per pixel (mean
absolute neighbour difference, pixels in [0, 1]) and the high-frequency energy share
(spectral energy above 1/4 cycle per pixel).  Writes bench/results/quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def tv(px: np.ndarray) -> np.ndarray:
    x = px.reshape(-1, 28, 28)
    return (np.abs(np.diff(x, axis=1)).sum((1, 2)) + np.abs(np.diff(x, axis=2)).sum((1, 2))) / 784


def hf_share(px: np.ndarray) -> np.ndarray:
    x = px.reshape(-1, 28, 28)
    x = x - x.mean((1, 2), keepdims=True)
    F = np.abs(np.fft.fft2(x)) ** 2
    f = np.fft.fftfreq(28)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    return (F * (r > 0.25)).sum((1, 2)) / np.maximum(F.sum((1, 2)), 1e-12)


def best_per_map(loaded, layer, maps, px, inits):
    """(in-range activation of the best init, its pixels) per map, images clipped to [0,1]."""
    from oipviz.core import objectives as O
    from oipviz.core.ascent import evaluate

    px = np.clip(px.reshape(len(maps) * inits, 28, 28), 0.0, 1.0)
    objs = [O.map_mean(layer, m) for m in maps for _ in range(inits)]
    v = evaluate(loaded, loaded.convention.to_engine(px[..., None]), objs).reshape(len(maps), inits)
    b = v.argmax(1)
    return v[np.arange(len(maps)), b], px.reshape(len(maps), inits, 28, 28)[np.arange(len(maps)), b]


def real_best(loaded, layer, maps, x01):
    from oipviz.core.ascent import forward

    a = forward(loaded, [(layer, False)], loaded.convention.to_engine(x01[..., None]))[0]
    return a.mean(axis=(1, 2))[:, maps].max(axis=0)


def run_peer(model_path, loaded, layer, maps, inits, steps, seed):
    from explain import build_venv  # the shared side-venv builder (bench/explain.py)

    py, err = build_venv("tfkv")
    if err:
        return None, err, 0.0
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "tfkv.npz"
        c = loaded.convention
        cmd = [
            str(py),
            str(HERE / "peers" / "tfkv_am.py"),
            str(model_path),
            layer,
            str(c.mean),
            str(c.std),
            ",".join(map(str, maps)),
            str(inits),
            str(steps),
            str(seed),
            str(out),
        ]
        p = subprocess.run(
            cmd, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        )
        if p.returncode:
            return None, "tf-keras-vis failed: " + (p.stderr.strip().splitlines() or ["?"])[-1], 0.0
        z = np.load(out)
        return z["images"][..., 0], None, float(z["seconds"])


def evaluate_model(name, layer, inits, steps, seed, data):
    import oipviz
    from oipviz.core.loader import bundled_model_path, load_model

    loaded = load_model(name)
    maps = list(range(loaded.layer(layer).units))
    rows, times = {}, {}
    for variant, kw in (
        ("free", dict(lr=0.02)),
        ("valid", dict(range_mode="valid", lr=0.05)),
        ("valid+readable", dict(range_mode="valid", style="readable", lr=0.05)),
    ):
        t = time.perf_counter()
        run = oipviz.oip(
            layer, maps, loaded, inits=inits, steps=steps, seed=seed, progress=False, **kw
        )
        times[variant] = time.perf_counter() - t
        px = loaded.convention.from_engine(run.images[..., 0])
        dead_free = [int(v <= 1e-6) for v in run.best_values]
        act, img = best_per_map(loaded, layer, maps, px, inits)
        rows[variant] = dict(
            act=act,
            tv=tv(img),
            hf=hf_share(img),
            dead_random=int(sum(dead_free)),
            in_range=bool(px.min() >= -1e-5 and px.max() <= 1 + 1e-5),
        )
    peer, peer_err, times["tf-keras-vis"] = run_peer(
        bundled_model_path(name), loaded, layer, maps, inits, steps, seed
    )
    if peer is not None:
        act, img = best_per_map(loaded, layer, maps, peer, inits)
        rows["tf-keras-vis"] = dict(
            act=act,
            tv=tv(img),
            hf=hf_share(img),
            dead_random=int((act <= 1e-6).sum()),
            in_range=True,
        )
    real = real_best(loaded, layer, maps, data)
    return maps, rows, real, times, peer_err


def summarize(name, layer, maps, rows, real, times, peer_err) -> dict:
    out = {
        "model": name,
        "layer": layer,
        "maps": len(maps),
        "variants": {},
        "peer_error": peer_err,
        "best_real_median": float(np.median(real)),
        "seconds": times,
    }
    peer = rows.get("tf-keras-vis")
    for v, r in rows.items():
        live = r["act"] > 1e-6
        d = {
            "dead_after_random_inits": r["dead_random"],
            "images_in_range": r["in_range"],
            "median_activation": float(np.median(r["act"])),
            "median_tv_per_pixel": float(np.median(r["tv"])),
            "median_hf_share": float(np.median(r["hf"])),
            "beats_best_real_share_of_live": float(np.mean(r["act"][live] >= real[live]))
            if live.any()
            else 0.0,
        }
        if peer is not None and v != "tf-keras-vis":
            pl = peer["act"] > 1e-6
            d["activation_ge_peer_share_of_live"] = float(
                np.mean(r["act"][live & pl] >= peer["act"][live & pl])
            )
            d["tv_le_peer_share"] = float(np.mean(r["tv"] <= peer["tv"]))
            d["median_ratio_to_peer"] = float(
                np.median(r["act"][live & pl] / peer["act"][live & pl])
            )
        if v != "free":
            d["tv_le_clipped_free_share"] = float(np.mean(r["tv"] <= rows["free"]["tv"]))
        out["variants"][v] = d
    return out


def print_table(s: dict) -> None:
    print(
        f"\n{s['model']} {s['layer']} ({s['maps']} maps); best real image: median activation "
        f"{s['best_real_median']:.3f}" + (f"; peer: {s['peer_error']}" if s["peer_error"] else "")
    )
    print(
        f"{'variant':16s} {'dead':>5s} {'median act':>10s} {'>=real':>7s} {'>=peer':>7s} "
        f"{'x peer':>7s} {'TV/px':>7s} {'TV<=peer':>8s} {'TV<=free':>8s} {'HF':>6s} {'s':>6s}"
    )
    for v, d in s["variants"].items():
        f = lambda k, fmt="{:.0%}", d=d: fmt.format(d[k]) if k in d else "-"  # noqa: E731
        print(
            f"{v:16s} {d['dead_after_random_inits']:5d} {d['median_activation']:10.3f} "
            f"{f('beats_best_real_share_of_live'):>7s} {f('activation_ge_peer_share_of_live'):>7s} "
            f"{f('median_ratio_to_peer', '{:.2f}'):>7s} {d['median_tv_per_pixel']:7.3f} "
            f"{f('tv_le_peer_share'):>8s} {f('tv_le_clipped_free_share'):>8s} "
            f"{d['median_hf_share']:6.3f} {s['seconds'].get(v, 0):6.0f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inits", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-fashion", action="store_true")
    args = ap.parse_args()
    from engine import cpu_info  # machine record shared with the engine bench

    from oipviz.data.sources import load_dataset, mnist_digits

    x = mnist_digits(5000, seed=0, split="all")[0][..., 0]
    results = {
        "machine": dict(cpu_info(), load_average=os.getloadavg()),
        "budget": {"inits": args.inits, "steps": args.steps},
        "models": [],
    }
    s = summarize(
        "seed_cnn",
        "conv3",
        *evaluate_model("seed_cnn", "conv3", args.inits, args.steps, args.seed, x),
    )
    print_table(s)
    results["models"].append(s)
    if not args.skip_fashion:
        fx = load_dataset("fashion_mnist").x_test.astype(np.float32) / 255.0
        s = summarize(
            "fashion",
            "conv2",
            *evaluate_model("fashion", "conv2", args.inits, args.steps, args.seed, fx),
        )
        print_table(s)
        results["models"].append(s)
    results["machine"]["load_average_end"] = os.getloadavg()
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "quality.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\nwrote bench/results/quality.json")


if __name__ == "__main__":
    main()
