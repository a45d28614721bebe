"""Benchmark of oipviz's attribution methods against Xplique 2.0 and tf-keras-vis 0.8.7
(not a test).

Saliency, SmoothGrad (n=20, σ=0.2) and Grad-CAM (last conv layer) for the same 1,000
held-out digits, the same model and the same targets (oipviz's predicted classes), in one
run.  The peers live in side venvs that this script builds once under bench/.venvs/
(gitignored, never a dependency of oipviz): ``xplique`` (pip install xplique==2.0.*, which
pulls TensorFlow 2.20 with CUDA wheels, about 7 GB) and ``tfkv`` (tf-keras-vis 0.8.7 with
the same TensorFlow as oipviz).  Each peer runs in a worker process (this file with
``--worker``) on a flat copy of the bundled model that takes pixels in [0,1] and returns
logits (a Rescaling layer does the standardization, the softmax is dropped), which is what
oipviz explains.  Both sides use the same batch (all 1,000 digits per gradient pass).

    python bench/explain.py                 # about 5 minutes on 2 busy cores (+ venv builds)
    python bench/explain.py --no-peers      # oipviz only

Writes bench/results/explain.json.  oipviz is timed in float32 and with bfloat16
gradients (``precision="bfloat16"``, interleaved call by call), before and after the peers
(median), so a change of machine load shows in the spread; the bf16 maps' agreement with
the float32 ones is the mean (and worst) per-image Pearson correlation on all digits.
Then the fast path and the plain Keras path (``OIPVIZ_FASTPATH=0``) interleaved, for the
fast path's own ratio.
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
VENVS = HERE / ".venvs"
PEERS = {  # side venvs: name -> pip requirements
    "xplique": ["xplique==2.0.*"],
    "tfkv": ["tf-keras-vis==0.8.7", "tensorflow==2.21.*"],
}
SMOOTH_N, SMOOTH_NOISE = 20, 0.2
PRECISIONS = ("float32", "bfloat16")


def build_venv(name: str) -> tuple[Path | None, str | None]:
    """Create bench/.venvs/NAME once (a marker file records success); (python, error)."""
    root = VENVS / name
    py, done, log = root / "bin" / "python", root / ".built", VENVS / f"{name}.log"
    if done.exists():
        return py, None
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(root)],
            [str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"],
            [str(py), "-m", "pip", "install", *PEERS[name]],
        ]
        for cmd in steps:
            fh.write("$ " + " ".join(cmd) + "\n")
            fh.flush()
            if subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode:
                tail = log.read_text().strip().splitlines()[-3:]
                return None, f"building {name} failed ({' '.join(cmd[-1:])}): " + " | ".join(tail)
    done.write_text(time.strftime("%Y-%m-%d %H:%M:%S") + "\n")
    return py, None


def median_time(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


# ----------------------------------------------------------------------------- worker side
# Runs inside a side venv: no oipviz, only keras/TF and the peer library.


def flat_pixel_model(path: str, mean: float, std: float, keras):
    """The bundled Sequential model rebuilt as one flat graph: pixels in [0,1] → logits."""
    src = keras.models.load_model(path, compile=False)
    inp = keras.Input((28, 28, 1), name="pixels")
    h = keras.layers.Rescaling(1.0 / std, -mean / std, name="standardize")(inp)
    for i, layer in enumerate(src.layers):
        cfg = layer.get_config()
        if i == len(src.layers) - 1:
            cfg["activation"] = "linear"
        new = layer.__class__.from_config(cfg)
        h = new(h)
        new.set_weights(layer.get_weights())
    return keras.Model(inp, h, name="pixels_to_logits"), src


def run_xplique(x, y, mean, std, model_path, rounds) -> dict:
    import keras
    import tensorflow as tf
    import xplique
    from xplique.attributions import GradCAM, Saliency, SmoothGrad

    model, _ = flat_pixel_model(model_path, mean, std, keras)
    onehot = tf.one_hot(y, 10).numpy()
    B = len(x)
    makers = {
        "saliency": lambda: Saliency(model, batch_size=B),
        "smoothgrad": lambda: SmoothGrad(
            model, batch_size=B, nb_samples=SMOOTH_N, noise=SMOOTH_NOISE
        ),
        "gradcam": lambda: GradCAM(model, batch_size=B, conv_layer="conv3"),
    }
    out = {
        "version": xplique.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "batch_size": B,
        "methods": {},
    }
    for name, make in makers.items():
        try:
            expl = make()
            expl.explain(x[:8], onehot[:8])  # trace
            maps = np.asarray(expl.explain(x, onehot))
            t = median_time(lambda expl=expl: expl.explain(x, onehot), rounds)
            out["methods"][name] = {"seconds": t, "maps16": maps[:16].reshape(16, 28, 28).tolist()}
        except Exception as exc:
            out["methods"][name] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
    return out


def run_tfkv(x, y, mean, std, model_path, rounds) -> dict:
    import keras
    import tensorflow as tf
    import tf_keras_vis
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    model, src = flat_pixel_model(model_path, mean, std, keras)
    score = CategoricalScore(list(int(v) for v in y))
    out = {
        "version": tf_keras_vis.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "batch_size": len(x),
        "methods": {},
    }
    sal = Saliency(model, clone=False)
    z = (x - mean) / std  # the bundled model as shipped takes standardized pixels
    runs = {
        "saliency": lambda: sal(score, x, normalize_map=False),
        "smoothgrad": lambda: sal(
            score, x, smooth_samples=SMOOTH_N, smooth_noise=SMOOTH_NOISE, normalize_map=False
        ),
        "gradcam_flat_copy": lambda: Gradcam(model, clone=False)(
            score, x, penultimate_layer="conv3", normalize_cam=False
        ),
    }
    score8 = CategoricalScore(list(int(v) for v in y[:8]))
    tries = {
        "gradcam": lambda: Gradcam(src, clone=True)(score8, z[:8], penultimate_layer="conv3"),
        "replace_to_linear": lambda: Saliency(src, model_modifier=ReplaceToLinear(), clone=True)(
            score8, z[:8]
        ),
    }
    for name, fn in {**runs, **tries}.items():
        try:
            maps = np.asarray(fn())  # also the warm-up
            r = out["methods"][name] = {"note": "on the bundled model as shipped (not timed)"}
            if name in runs:
                r.update(
                    seconds=median_time(fn, rounds),
                    maps16=maps[:16].reshape(16, 28, 28).tolist(),
                    note="on the flat pixel->logits copy",
                )
        except Exception as exc:
            out["methods"][name] = {
                "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                "note": "recorded, not worked around",
            }
    return out


def worker(name: str, data: str, out: str, rounds: int) -> None:
    d = np.load(data)
    x, y = d["x"].astype(np.float32), d["y"].astype(np.int64)
    run = {"xplique": run_xplique, "tfkv": run_tfkv}[name]
    res = run(x, y, float(d["mean"]), float(d["std"]), str(d["model"]), rounds)
    Path(out).write_text(json.dumps(res))


# ----------------------------------------------------------------------------- main side


def oipviz_side(loaded, x, y, rounds: int) -> tuple[dict, dict, dict]:
    """Per precision: median seconds of each oipviz method on all digits (the precisions
    interleaved call by call), all maps, and the precision the result says it used."""
    from oipviz.compute.attribution import GradCAM, Saliency, SmoothGrad

    methods = {
        "saliency": Saliency(),
        "smoothgrad": SmoothGrad(SMOOTH_N, SMOOTH_NOISE),
        "gradcam": GradCAM(),
    }
    times: dict = {p: {} for p in PRECISIONS}
    maps: dict = {p: {} for p in PRECISIONS}
    used: dict = {p: {} for p in PRECISIONS}
    for name, m in methods.items():
        for p in PRECISIONS:
            a = m(loaded, x, y, precision=p)  # also the warm-up (trace)
            maps[p][name], used[p][name] = a.maps, a.precision
        runs: dict = {p: [] for p in PRECISIONS}
        for _ in range(rounds):
            for p in PRECISIONS:
                runs[p].append(median_time(lambda m=m, p=p: m(loaded, x, y, precision=p), 1))
        for p in PRECISIONS:
            times[p][name] = float(np.median(runs[p]))
    return times, maps, used


def fast_vs_keras(loaded, x, y, rounds: int) -> tuple[dict, dict]:
    """Median seconds of each method with the fast path and with the plain Keras path
    (``OIPVIZ_FASTPATH=0``), interleaved call by call so both see the same load."""
    from oipviz.compute.attribution import GradCAM, Saliency, SmoothGrad

    methods = {
        "saliency": Saliency(),
        "smoothgrad": SmoothGrad(SMOOTH_N, SMOOTH_NOISE),
        "gradcam": GradCAM(),
    }
    times: dict = {"1": {}, "0": {}}
    for name, m in methods.items():
        for flag in ("1", "0"):
            os.environ["OIPVIZ_FASTPATH"] = flag
            m(loaded, x, y)  # warm-up (trace)
        runs: dict = {"1": [], "0": []}
        for _ in range(rounds):
            for flag in ("1", "0"):
                os.environ["OIPVIZ_FASTPATH"] = flag
                runs[flag].append(median_time(lambda m=m: m(loaded, x, y), 1))
        for flag in runs:
            times[flag][name] = float(np.median(runs[flag]))
    os.environ["OIPVIZ_FASTPATH"] = "1"
    return times["1"], times["0"]


def engine_rate(loaded, x, steps: int = 10) -> float:
    """The ascent engine's image-steps/s on conv3 map means for the same 1,000 images."""
    from oipviz.core import objectives as O
    from oipviz.core.ascent import ascend

    z = loaded.convention.to_engine(x)
    objs = [O.map_mean("conv3", i % 128) for i in range(len(z))]
    ascend(loaded, z, objs, steps=2, lr=0.02)
    t = median_time(lambda: ascend(loaded, z, objs, steps=steps, lr=0.02), 2)
    return len(z) * steps / t


def correlations(ours: np.ndarray, theirs) -> np.ndarray:
    """Per-image Pearson correlations of two stacks of maps (absolute values: Xplique's
    SmoothGrad is the signed mean gradient, oipviz's and tf-keras-vis' its magnitude)."""
    a = np.abs(np.asarray(ours, np.float64).reshape(len(ours), -1))
    b = np.abs(np.asarray(theirs, np.float64).reshape(len(a), -1))
    return np.array([np.corrcoef(u, v)[0, 1] for u, v in zip(a, b) if u.std() > 0 and v.std() > 0])


def agreement(ours: np.ndarray, theirs) -> float:
    """Mean per-image Pearson correlation of two stacks of maps."""
    r = correlations(ours, theirs)
    return float(np.mean(r)) if len(r) else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="timed calls per method (median)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--setup", action="store_true", help="only build the side venvs")
    ap.add_argument("--worker", choices=list(PEERS), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(HERE / "results" / "explain.json"))
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.data, args.out, args.rounds)
    if args.setup:
        for n in PEERS:
            print(n, *build_venv(n))
        return

    from engine import cpu_info  # bench/engine.py: CPU model and SIMD flags

    from oipviz.compute.attribution.base import predict_probs
    from oipviz.core.loader import load_model
    from oipviz.core.tfenv import import_keras
    from oipviz.data.sources import mnist_digits

    import_keras()
    import tensorflow as tf

    loaded = load_model()
    x, labels, source = mnist_digits(args.digits, seed=0, split="all")
    y = predict_probs(loaded, x).argmax(1)
    load = [os.getloadavg()[0]]
    print(
        f"explain bench: {len(x)} digits ({source}), targets = predicted classes, "
        f"load average {load[0]:.1f} on {os.cpu_count()} cores"
    )
    t_a, maps_all, used = oipviz_side(loaded, x, y, args.rounds)
    ours = {p: {k: v[:16] for k, v in maps_all[p].items()} for p in PRECISIONS}
    peers: dict = {}
    if not args.no_peers:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "inputs.npz"
            np.savez(
                data,
                x=x,
                y=y,
                mean=loaded.convention.mean,
                std=loaded.convention.std,
                model=str(loaded.path),
            )
            for name in PEERS:
                py, err = build_venv(name)
                if err:
                    peers[name] = {"error": err}
                    print(err)
                    continue
                res = Path(tmp) / f"{name}.json"
                p = subprocess.run(
                    [
                        str(py),
                        __file__,
                        "--worker",
                        name,
                        "--data",
                        str(data),
                        "--out",
                        str(res),
                        "--rounds",
                        str(args.rounds),
                    ],
                    capture_output=True,
                    text=True,
                )
                peers[name] = (
                    json.loads(res.read_text())
                    if p.returncode == 0
                    else {
                        "error": f"worker exited {p.returncode}: "
                        + " | ".join(p.stderr.strip().splitlines()[-3:])
                    }
                )
                load.append(os.getloadavg()[0])
    t_b, _, _ = oipviz_side(loaded, x, y, args.rounds)
    t_f, t_k = fast_vs_keras(loaded, x, y, args.rounds)
    rate = engine_rate(loaded, x)
    load.append(os.getloadavg()[0])

    both = {p: {k: float(np.median([t_a[p][k], t_b[p][k]])) for k in t_a[p]} for p in PRECISIONS}
    ours_t, low_t = both["float32"], both["bfloat16"]
    low_r = {k: correlations(maps_all["float32"][k], maps_all["bfloat16"][k]) for k in low_t}
    result = {
        "bench": "explain",
        "cpu": cpu_info(),
        "tensorflow": tf.__version__,
        "load_average": [round(v, 2) for v in load],
        "digits": len(x),
        "data": source,
        "targets": "oipviz's predicted class (logit); the peers get the same classes",
        "model": "bundled seed_cnn; peers: a flat copy, pixels [0,1] -> Rescaling -> logits",
        "smoothgrad": {"samples": SMOOTH_N, "noise": SMOOTH_NOISE},
        "oipviz": {
            k: {
                "seconds": round(v, 4),
                "before_after": [round(t_a["float32"][k], 4), round(t_b["float32"][k], 4)],
                "images_per_second": round(len(x) / v, 1),
            }
            for k, v in ours_t.items()
        },
        "oipviz_bfloat16": {
            "note": "precision='bfloat16' (bf16 pixel gradients; scores and probabilities "
            "float32), interleaved with float32; agreement: per-image Pearson "
            "with the float32 maps on all digits",
            **{
                k: {
                    "seconds": round(v, 4),
                    "before_after": [round(t_a["bfloat16"][k], 4), round(t_b["bfloat16"][k], 4)],
                    "images_per_second": round(len(x) / v, 1),
                    "precision_used": used["bfloat16"][k],
                    "speedup_over_float32": round(ours_t[k] / v, 2),
                    "agreement_with_float32": {
                        "mean": round(float(low_r[k].mean()), 5),
                        "min": round(float(low_r[k].min()), 5),
                    },
                }
                for k, v in low_t.items()
            },
        },
        "oipviz_fast_vs_keras_path": {
            "note": "interleaved, median seconds; OIPVIZ_FASTPATH=0 is the plain Keras path",
            "fast": {k: round(v, 4) for k, v in t_f.items()},
            "keras": {k: round(v, 4) for k, v in t_k.items()},
        },
        "ratios_fast_path_over_keras_path": {k: round(t_k[k] / v, 2) for k, v in t_f.items()},
        "peers": {},
        "ratios": {},
        "ratios_bfloat16": {},
    }
    print(
        f"{'method':11s} {'f32':>8s} {'bf16':>8s} "
        + " ".join(f"{n + ' (/f32, /bf16)':>28s}" for n in PEERS)
    )
    for name, res in peers.items():
        entry = {k: v for k, v in res.items() if k != "methods"}
        entry["methods"] = {}
        for m, r in res.get("methods", {}).items():
            e = {k: v for k, v in r.items() if k != "maps16"}
            ref = m.replace("_flat_copy", "")
            if "maps16" in r and ref in ours["float32"]:
                e["agreement_pearson"] = round(agreement(ours["float32"][ref], r["maps16"]), 4)
                e["agreement_pearson_bf16"] = round(
                    agreement(ours["bfloat16"][ref], r["maps16"]), 4
                )
            if "seconds" in r and ref in ours_t:
                result["ratios"][f"{m}: {name} / oipviz"] = round(r["seconds"] / ours_t[ref], 2)
                result["ratios_bfloat16"][f"{m}: {name} / oipviz bf16"] = round(
                    r["seconds"] / low_t[ref], 2
                )
            entry["methods"][m] = e
        result["peers"][name] = entry
    for m, v in ours_t.items():
        cells = []
        for name in PEERS:
            got = result["peers"].get(name, {}).get("methods", {})
            r = got.get(m, {}) if "seconds" in got.get(m, {}) else got.get(f"{m}_flat_copy", {})
            cells.append(
                f"{r['seconds']:.3f}s ({r['seconds'] / v:.2f}x, {r['seconds'] / low_t[m]:.2f}x)"
                if "seconds" in r
                else ("error" if "error" in r else "-")
            )
        print(f"{m:11s} {v:7.3f}s {low_t[m]:7.3f}s " + " ".join(f"{c:>28s}" for c in cells))
    print(
        "oipviz bf16 (precision used, speedup over f32, Pearson with f32 mean/min): "
        + "; ".join(
            f"{k} {used['bfloat16'][k]} {ours_t[k] / v:.2f}x "
            f"{low_r[k].mean():.4f}/{low_r[k].min():.4f}"
            for k, v in low_t.items()
        )
    )
    for name, e in result["peers"].items():
        for m, r in e.get("methods", {}).items():
            if "error" in r:
                print(f"  {name} {m}: {r['error']}")
    print(
        "oipviz fast path / Keras path (OIPVIZ_FASTPATH=0): "
        + ", ".join(f"{k} {t_k[k] / v:.2f}x" for k, v in t_f.items())
        + " (interleaved)"
    )
    sg = len(x) * SMOOTH_N / ours_t["smoothgrad"]
    result["smoothgrad_img_grads_per_second"] = round(sg, 1)
    sg_low = len(x) * SMOOTH_N / low_t["smoothgrad"]
    result["smoothgrad_img_grads_per_second_bf16"] = round(sg_low, 1)
    result["engine_image_steps_per_second"] = round(rate, 1)
    print(
        f"SmoothGrad n={SMOOTH_N}: {sg:.0f} img-grads/s; the ascent engine on the same digits "
        f"(conv3 map means): {rate:.0f} image-steps/s ({sg / rate:.2f}x)"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
