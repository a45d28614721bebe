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

The colour section does the same on the bundled colour model (``shapes``, 32×32×3), conv2
and conv3, and adds the spectral parameterization (``--param spectral``: lucid's 1/f
Fourier spectrum with decorrelated colour) to each pixel variant, and once without the
decorrelation (``fourier``); its real images are 10,000 test images of the generator.  It
decides the default parameterization for colour models (``oipviz.compute.oip.AUTO_PARAM``).

Per map: the in-range activation of the best image (as written), TV per pixel (mean
absolute neighbour difference per pixel and channel, pixels in [0, 1]) and the
high-frequency energy share (spectral energy above 1/4 cycle per pixel).  Writes
bench/results/quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: (name, oip() keywords) of the MNIST section: the lr is each range's usual one
VARIANTS = (
    ("free", dict(lr=0.02)),
    ("valid", dict(range_mode="valid", lr=0.05)),
    ("valid+readable", dict(range_mode="valid", style="readable", lr=0.05)),
)
#: the colour section: every pixel variant and its spectral twin, at the same lr
VALID, READABLE = dict(range_mode="valid", lr=0.05), dict(range_mode="valid", style="readable")
COLOUR_VARIANTS = (
    ("free", dict(lr=0.02)),
    ("free+spectral", dict(lr=0.02, param="spectral")),
    ("valid", VALID),
    ("valid+spectral", dict(VALID, param="spectral")),
    ("valid+readable", dict(VALID, **READABLE)),
    ("valid+readable+spectral", dict(VALID, **READABLE, param="spectral")),
    ("valid+readable+fourier", dict(VALID, **READABLE, decorrelate=False)),
)
#: pixel variant -> its spectral twin (the colour default is decided on these pairs)
PAIRS = (
    ("free", "free+spectral"),
    ("valid", "valid+spectral"),
    ("valid+readable", "valid+readable+spectral"),
    ("valid+readable", "valid+readable+fourier"),
)


def _nhwc(px: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) pixels as (N, H, W, C) float64."""
    x = np.asarray(px, np.float64)
    return x[..., None] if x.ndim == 3 else x


def tv(px: np.ndarray) -> np.ndarray:
    """Mean absolute neighbour difference (both directions summed) per pixel and channel;
    for 28×28 grey images the articles' TV / 784."""
    x = _nhwc(px)
    d = np.abs(np.diff(x, axis=1)).sum((1, 2, 3)) + np.abs(np.diff(x, axis=2)).sum((1, 2, 3))
    return d / np.prod(x.shape[1:])


def hf_share(px: np.ndarray) -> np.ndarray:
    """Share of each image's spectral energy (all channels) above 1/4 cycle per pixel."""
    x = _nhwc(px)
    x = x - x.mean((1, 2), keepdims=True)
    F = (np.abs(np.fft.fft2(x, axes=(1, 2))) ** 2).sum(-1)
    fy, fx = np.fft.fftfreq(x.shape[1]), np.fft.fftfreq(x.shape[2])
    r = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    return (F * (r > 0.25)).sum((1, 2)) / np.maximum(F.sum((1, 2)), 1e-12)


def best_per_map(loaded, layer, maps, px, inits):
    """(in-range activation of the best init, its pixels) per map, images clipped to [0,1]."""
    from oipviz.core import objectives as O
    from oipviz.core.ascent import evaluate

    shape = tuple(loaded.geometry.shape)
    px = np.clip(np.asarray(px, np.float32).reshape(len(maps) * inits, *shape), 0.0, 1.0)
    objs = [O.map_mean(layer, m) for m in maps for _ in range(inits)]
    v = evaluate(loaded, loaded.convention.to_engine(px), objs).reshape(len(maps), inits)
    b = v.argmax(1)
    best = px.reshape(len(maps), inits, *shape)[np.arange(len(maps)), b]
    return v[np.arange(len(maps)), b], best


def real_best(loaded, layer, maps, x01):
    from oipviz.core.ascent import forward

    x = _nhwc(x01).astype(np.float32)
    a = forward(loaded, [(layer, False)], loaded.convention.to_engine(x))[0]
    return a.mean(axis=(1, 2))[:, maps].max(axis=0)


def peer_affine(convention) -> tuple[str, str]:
    """The model's input as ``scale·x + offset`` of pixels x (per channel), as text."""
    if convention.bgr:
        raise SystemExit("quality.py: the tf-keras-vis wrapper has no BGR models")
    a, b = convention.affine()
    m, s = np.atleast_1d(convention.mean), np.atleast_1d(convention.std)
    scale, offset = np.atleast_1d(a) / s, np.atleast_1d(b) - np.atleast_1d(a) * m / s
    return ",".join(f"{v:.9g}" for v in scale), ",".join(f"{v:.9g}" for v in offset)


def run_peer(model_path, loaded, layer, maps, inits, steps, seed):
    from explain import build_venv  # the shared side-venv builder (bench/explain.py)

    py, err = build_venv("tfkv")
    if err:
        return None, err, 0.0
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "tfkv.npz"
        scale, offset = peer_affine(loaded.convention)
        cmd = [
            str(py), str(HERE / "peers" / "tfkv_am.py"), str(model_path), layer, scale, offset,
            ",".join(map(str, maps)), str(inits), str(steps), str(seed), str(out),
        ]  # fmt: skip
        p = subprocess.run(
            cmd, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        )
        if p.returncode:
            return None, "tf-keras-vis failed: " + (p.stderr.strip().splitlines() or ["?"])[-1], 0.0
        z = np.load(out)
        return z["images"], None, float(z["seconds"])


def oip_keywords(loaded, kw: dict) -> dict:
    """``kw`` for :func:`oipviz.oip`; ``decorrelate=False``: the spectral parameterization
    without the colour decorrelation (an explicit transform list)."""
    if "decorrelate" not in kw:
        return kw
    from oipviz.compute.oip import plan_transforms
    from oipviz.core.transforms import Spectral

    kw = dict(kw)
    dec = kw.pop("decorrelate")
    ts = plan_transforms(
        loaded.convention, kw.get("range_mode", "free"), kw.get("style", "plain"), param="spectral"
    )
    kw["transforms"] = tuple(
        replace(t, decorrelate=dec) if isinstance(t, Spectral) else t for t in ts
    )
    return kw


def _row(loaded, layer, maps, px, inits, dead) -> dict:
    act, img = best_per_map(loaded, layer, maps, px, inits)
    return dict(
        act=act, tv=tv(img), hf=hf_share(img), dead_random=int(dead),
        in_range=bool(px.min() >= -1e-5 and px.max() <= 1 + 1e-5),
    )  # fmt: skip


def evaluate_model(name, layer, inits, steps, seed, data, variants=VARIANTS):
    import oipviz
    from oipviz.core.loader import bundled_model_path, load_model

    loaded = load_model(name)
    maps = list(range(loaded.layer(layer).units))
    rows, times = {}, {}
    for variant, kw in variants:
        t = time.perf_counter()
        run = oipviz.oip(
            layer, maps, loaded, inits=inits, steps=steps, seed=seed, progress=False,
            **oip_keywords(loaded, kw),
        )  # fmt: skip
        times[variant] = time.perf_counter() - t
        px = loaded.convention.from_engine(run.images)
        dead = sum(v <= 1e-6 for v in run.best_values)
        rows[variant] = _row(loaded, layer, maps, px, inits, dead)
    peer, peer_err, times["tf-keras-vis"] = run_peer(
        bundled_model_path(name), loaded, layer, maps, inits, steps, seed
    )
    if peer is not None:
        rows["tf-keras-vis"] = _row(loaded, layer, maps, peer, inits, 0)
        rows["tf-keras-vis"]["dead_random"] = int((rows["tf-keras-vis"]["act"] <= 1e-6).sum())
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


def twin_comparison(rows: dict, pixel: str, spectral: str) -> dict:
    """A spectral variant against its pixel twin, map by map, and whether it measurably
    helps: no more dead maps, a median per-map activation ratio >= 0.95, a median TV ratio
    <= 1, and better on one of the two (activation ratio > 1 or TV ratio < 0.95)."""
    p, q = rows[pixel], rows[spectral]
    live = (p["act"] > 1e-6) & (q["act"] > 1e-6)
    act = float(np.median(q["act"][live] / p["act"][live])) if live.any() else 0.0
    tv_ratio = float(np.median(q["tv"]) / max(np.median(p["tv"]), 1e-12))
    helps = (
        q["dead_random"] <= p["dead_random"]
        and act >= 0.95
        and tv_ratio <= 1.0
        and (act > 1.0 or tv_ratio < 0.95)
    )
    return {
        "pixel": pixel,
        "spectral": spectral,
        "median_activation_ratio": act,
        "median_tv_ratio": tv_ratio,
        "activation_ge_pixel_share": float(np.mean(q["act"][live] >= p["act"][live])),
        "tv_le_pixel_share": float(np.mean(q["tv"] <= p["tv"])),
        "dead": [p["dead_random"], q["dead_random"]],
        "helps": bool(helps),
    }


def print_table(s: dict) -> None:
    print(
        f"\n{s['model']} {s['layer']} ({s['maps']} maps); best real image: median activation "
        f"{s['best_real_median']:.3f}" + (f"; peer: {s['peer_error']}" if s["peer_error"] else "")
    )
    print(
        f"{'variant':24s} {'dead':>5s} {'median act':>10s} {'>=real':>7s} {'>=peer':>7s} "
        f"{'x peer':>7s} {'TV/px':>7s} {'TV<=peer':>8s} {'TV<=free':>8s} {'HF':>6s} {'s':>6s}"
    )
    for v, d in s["variants"].items():
        f = lambda k, fmt="{:.0%}", d=d: fmt.format(d[k]) if k in d else "-"  # noqa: E731
        print(
            f"{v:24s} {d['dead_after_random_inits']:5d} {d['median_activation']:10.3f} "
            f"{f('beats_best_real_share_of_live'):>7s} {f('activation_ge_peer_share_of_live'):>7s} "
            f"{f('median_ratio_to_peer', '{:.2f}'):>7s} {d['median_tv_per_pixel']:7.3f} "
            f"{f('tv_le_peer_share'):>8s} {f('tv_le_clipped_free_share'):>8s} "
            f"{d['median_hf_share']:6.3f} {s['seconds'].get(v, 0):6.0f}"
        )


def colour_section(args) -> dict:
    """The colour model's layers, its twins' comparisons and the decision per (range, style)."""
    from oipviz.data.shapes import make_shapes

    x = make_shapes(10_000, [0, 1])[0].astype(np.float32) / 255.0  # the test split
    out: dict = {"model": "shapes", "layers": [], "twins": [], "spectral_helps": {}}
    for layer in args.colour_layers.split(","):
        maps, rows, real, times, err = evaluate_model(
            "shapes", layer, args.inits, args.steps, args.seed, x, COLOUR_VARIANTS
        )
        s = summarize("shapes", layer, maps, rows, real, times, err)
        print_table(s)
        out["layers"].append(s)
        for pixel, spectral in PAIRS:
            c = dict(twin_comparison(rows, pixel, spectral), layer=layer)
            out["twins"].append(c)
            print(
                f"  {spectral:24s} vs {pixel:16s}: activation x{c['median_activation_ratio']:.2f}"
                f", TV x{c['median_tv_ratio']:.2f}, dead {c['dead'][1]} vs {c['dead'][0]}"
                f" -> {'helps' if c['helps'] else 'does not help'}"
            )
    for pixel, spectral in PAIRS:
        out["spectral_helps"][f"{spectral} vs {pixel}"] = all(
            c["helps"] for c in out["twins"] if (c["pixel"], c["spectral"]) == (pixel, spectral)
        )
    print("helps on every colour layer:", json.dumps(out["spectral_helps"], indent=1))
    return out


def mnist_section(args) -> list:
    from oipviz.data.sources import load_dataset, mnist_digits

    x = mnist_digits(5000, seed=0, split="all")[0][..., 0]
    out = []
    s = summarize(
        "seed_cnn",
        "conv3",
        *evaluate_model("seed_cnn", "conv3", args.inits, args.steps, args.seed, x),
    )
    print_table(s)
    out.append(s)
    if not args.skip_fashion:
        fx = load_dataset("fashion_mnist").x_test.astype(np.float32) / 255.0
        s = summarize(
            "fashion",
            "conv2",
            *evaluate_model("fashion", "conv2", args.inits, args.steps, args.seed, fx),
        )
        print_table(s)
        out.append(s)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inits", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-fashion", action="store_true")
    ap.add_argument("--only", choices=["all", "mnist", "colour"], default="all")
    ap.add_argument("--colour-layers", default="conv2,conv3")
    args = ap.parse_args()
    from engine import cpu_info  # machine record shared with the engine bench

    path = HERE / "results" / "quality.json"
    # a partial run keeps the other section of the last run
    results = json.loads(path.read_text()) if args.only != "all" and path.exists() else {}
    machine = dict(cpu_info(), load_average=os.getloadavg())
    budget = {"inits": args.inits, "steps": args.steps}
    if args.only in ("all", "mnist"):
        results.update(machine=machine, budget=budget, models=mnist_section(args))
        results["machine"]["load_average_end"] = os.getloadavg()
    if args.only in ("all", "colour"):
        results["colour"] = dict(colour_section(args), machine=machine, budget=budget)
        results["colour"]["machine"]["load_average_end"] = os.getloadavg()
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print("\nwrote bench/results/quality.json")


if __name__ == "__main__":
    main()
