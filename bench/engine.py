"""Benchmark of THE ascent engine (oipviz.core.ascent.ascend) on conv3 of the bundled model (not a test).

Measures, in one run (interleaved rounds, medians, so the ratios share the same machine load):
* the batched engine: 128 conv3 maps × 8 seeds = 1,024 images, ``--steps`` steps, after a
  warm-up call; image-steps per second, with the fast path (oipviz.core.fastpath) and with the
  plain Keras path (``OIPVIZ_FASTPATH=0``); no pruning, so every image is stepped;
* the small batch: 8 images × ``--small-steps`` steps, as a ratio to the batch-1,024 rate;
* (a) the same engine fed one image at a time (B=1, a plain per-image loop, ``--single`` images);
* (b) tf-keras-vis ActivationMaximization in its side venv (bench/.venvs/tfkv, built by
  ``bench/explain.py --setup``; a worker process, this file with ``--worker``) on the same
  model (a flat copy taking pixels in [0,1]), layer, per-image map-mean score, batch, steps
  and seeds (uniform in the valid pixel range [0,1]); SGD(lr), no regularizers, no input
  modifiers;
* the machine's float32 matmul rate (2048×2048 sgemm, numpy and tf.matmul) and the fraction of
  it the engine reaches, from the nominal conv FLOPs of one image-step (the essential FLOPs,
  without the rows and columns the fast path crops away, are printed beside);
* quality: the fraction of live conv3 maps whose OIP (8 inits × 600 epochs) has a higher map
  mean than the largest map mean that map reaches on any of the 5,000 offline MNIST digits.

    python bench/engine.py                  # everything (about 10 minutes on 2 busy cores)
    python bench/engine.py --no-quality     # speed only
Writes bench/results/engine.json.  Timings are noisy when other jobs share the CPU; the
per-CPU-second rates (process CPU time) are printed too, as they depend less on that.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def conv_macs(loaded, upto: str) -> list[tuple[str, int]]:
    """Forward multiply-adds per image of each Conv2D layer up to and including ``upto``."""
    out = []
    for layer in loaded.model.layers:
        if layer.__class__.__name__ == "Conv2D":
            _, h, w, cout = layer.output.shape
            kh, kw, cin, _ = layer.kernel.shape
            out.append((layer.name, int(h * w * kh * kw * cin * cout)))
        if layer.name == upto:
            break
    return out


def cpu_info() -> dict:
    info = {"machine": platform.machine(), "cpu_count": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name"):
                info["model"] = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                info["simd"] = sorted(
                    f for f in flags if f.startswith(("avx", "fma", "f16c", "amx"))
                )
                break
    except OSError:
        pass
    return info


def timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of fn()."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def essential_macs(loaded, upto: str) -> list[tuple[str, int]]:
    """Like :func:`conv_macs`, counting only the output rows and columns the fast path
    computes for a head at ``upto`` (the crop of oipviz.core.fastpath)."""
    from oipviz.core.fastpath import FastChain

    fc = FastChain(loaded, [(upto, False)])
    out = []
    for i, (kind, layer) in enumerate(fc.ops[: fc.last + 1]):
        if kind == "conv":
            kh, kw, cin, cout = layer.kernel.shape
            out.append((layer.name, int(fc.crop[i + 1] ** 2 * kh * kw * cin * cout)))
    return out


def tkv_worker(data: str, out: str) -> None:
    """Runs INSIDE bench/.venvs/tfkv: tf-keras-vis ActivationMaximization, timed."""
    import warnings

    import keras
    import tensorflow as tf
    import tf_keras_vis
    from explain import flat_pixel_model
    from tf_keras_vis.activation_maximization import ActivationMaximization

    d = np.load(data)
    x0, maps = d["x"].astype(np.float32), d["maps"].astype(np.int32)
    steps, rounds, lr = int(d["steps"]), int(d["rounds"]), float(d["lr"])
    flat, _ = flat_pixel_model(str(d["model"]), float(d["mean"]), float(d["std"]), keras)
    model = keras.Model(flat.inputs, flat.get_layer(str(d["layer"])).output)
    am = ActivationMaximization(model, clone=False)
    idx = tf.constant(maps)

    def score(o):  # each image's own map mean, like oipviz.core.objectives.map_mean
        return tf.gather(tf.reduce_mean(o, axis=[1, 2]), idx, batch_dims=1)

    def run(n: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(
                am(
                    score,
                    seed_input=x0,
                    input_range=(0.0, 1.0),
                    input_modifiers=[],
                    regularizers=[],
                    steps=n,
                    optimizer=keras.optimizers.SGD(lr),
                )
            )

    run(2)  # warm-up
    times = [timed(lambda: run(steps)) for _ in range(rounds)]
    images = run(steps)
    before = np.asarray(model(x0)).mean(axis=(1, 2))[np.arange(len(maps)), maps]
    after = np.asarray(model(images)).mean(axis=(1, 2))[np.arange(len(maps)), maps]
    Path(out).write_text(
        json.dumps(
            {
                "version": tf_keras_vis.__version__,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "times": times,
                "sanity": {
                    "mean_objective_before": float(before.mean()),
                    "mean_objective_after": float(after.mean()),
                },
            }
        )
    )


def run_tkv(
    loaded, x01: np.ndarray, maps: np.ndarray, layer: str, steps: int, rounds: int, lr: float
) -> dict:
    """tf-keras-vis in its side venv (a worker process); its result or {"error": ...}."""
    import subprocess
    import tempfile

    py = Path(__file__).resolve().parent / ".venvs" / "tfkv" / "bin" / "python"
    if not py.exists():
        return {"error": f"{py} missing: run python bench/explain.py --setup"}
    with tempfile.TemporaryDirectory() as tmp:
        data, res = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        np.savez(
            data,
            x=x01,
            maps=maps,
            steps=steps,
            rounds=rounds,
            lr=lr,
            layer=layer,
            mean=loaded.convention.mean,
            std=loaded.convention.std,
            model=str(loaded.path),
        )
        p = subprocess.run(
            [str(py), __file__, "--worker", "--data", str(data), "--out", str(res)],
            capture_output=True,
            text=True,
        )
        if p.returncode:
            return {
                "error": f"worker exited {p.returncode}: "
                + " | ".join(p.stderr.strip().splitlines()[-3:])
            }
        return json.loads(res.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="ascent steps per timed call")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median)")
    ap.add_argument("--single", type=int, default=8, help="images for the per-image loop")
    ap.add_argument("--small-steps", type=int, default=1200, help="steps of the 8-image run")
    ap.add_argument("--epochs", type=int, default=600, help="OIP epochs for the quality check")
    ap.add_argument("--no-quality", action="store_true", help="skip the OIP-vs-digits check")
    ap.add_argument("--no-peers", action="store_true", help="skip tf-keras-vis")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "engine.json"))
    args = ap.parse_args()
    if args.worker:
        return tkv_worker(args.data, args.out)

    from sgemm import sgemm_gflops

    from oipviz.core import objectives as O
    from oipviz.core.ascent import Engine, ascend
    from oipviz.core.loader import load_model
    from oipviz.core.tfenv import import_keras

    import_keras()  # TensorFlow with the package's settings (TF_ENABLE_ONEDNN_OPTS, quiet logs)
    import tensorflow as tf

    loaded = load_model()
    layer = "conv3"
    n_maps = loaded.layer(layer).units
    inits = 8
    maps = np.repeat(np.arange(n_maps), inits)
    x01 = np.random.default_rng(0).uniform(0.0, 1.0, (len(maps), 28, 28, 1)).astype(np.float32)
    x0 = loaded.convention.to_engine(x01)  # seeds from the valid pixel range, engine space
    objs = [O.map_mean(layer, int(m)) for m in maps]
    B, S, lr = len(x0), args.steps, 0.02
    load0 = os.getloadavg()[0]
    print(
        f"oipviz engine bench: {layer}, {n_maps} maps × {inits} seeds = {B} images, {S} steps, "
        f"load average {load0:.1f} on {os.cpu_count()} cores"
    )

    # FLOPs of one image-step
    macs, ess = conv_macs(loaded, layer), essential_macs(loaded, layer)
    flop, flop_ess = 2 * 2 * sum(m for _, m in macs), 2 * 2 * sum(m for _, m in ess)
    formula = (
        "FLOP per image-step = 2 (FLOP/MAC) × 2 (forward + input-gradient backward) × ("
        + " + ".join(f"{n} {m:,}" for n, m in macs)
        + f") MAC = {flop / 1e6:.2f} MFLOP"
    )
    formula_ess = (
        "essential (rows/cols conv3 sees): ("
        + " + ".join(f"{n} {m:,}" for n, m in ess)
        + f") MAC = {flop_ess / 1e6:.2f} MFLOP"
    )
    print(formula)
    print(formula_ess)

    def engine(path: str, x, o, steps):
        os.environ["OIPVIZ_FASTPATH"] = "1" if path == "fast" else "0"
        return ascend(loaded, x, o, steps=steps, lr=lr, prune=False)

    # warm-up: trace the engine (both paths), the small batch and B=1
    for path in ("fast", "keras"):
        engine(path, x0, objs, 2)
    engine("fast", x0[:8], objs[:8], 2)
    engine("fast", x0[:1], objs[:1], 2)
    os.environ["OIPVIZ_FASTPATH"] = "1"
    fast_used = Engine.get(loaded, [(layer, False)]).fast is not None
    print(
        f"fast path {'used' if fast_used else 'NOT used: ' + str(loaded.cache.get('fastpath_refused'))}"
    )

    single = args.single
    results: dict[str, list[tuple[float, float]]] = {
        "fast": [],
        "keras": [],
        "small": [],
        "per_image": [],
    }
    work = {"fast": B * S, "keras": B * S, "small": 8 * args.small_steps, "per_image": single * S}
    runs = {
        "fast": lambda: engine("fast", x0, objs, S),
        "keras": lambda: engine("keras", x0, objs, S),
        "small": lambda: engine("fast", x0[:8], objs[:8], args.small_steps),
        "per_image": lambda: [engine("fast", x0[i : i + 1], objs[i], S) for i in range(single)],
    }
    sgemm_rounds: list[dict[str, float]] = []
    for r in range(args.rounds):
        for key, fn in runs.items():
            results[key].append(timed(fn))
        sgemm_rounds.append(sgemm_gflops(reps=3, rounds=1))  # interleaved: same load as the engine
    tkv = None if args.no_peers else run_tkv(loaded, x01, maps, layer, S, args.rounds, lr)
    results["fast"].append(timed(runs["fast"]))  # after the peer too
    sgemm_rounds.append(sgemm_gflops(reps=3, rounds=1))
    sg = {k: float(np.median([r[k] for r in sgemm_rounds])) for k in sgemm_rounds[0]}

    def rate(key):
        return (
            float(np.median([work[key] / w for w, _ in results[key]])),
            float(np.median([work[key] / c for _, c in results[key]])),
        )

    eng, eng_cpu = rate("fast")
    ker, ker_cpu = rate("keras")
    small, small_cpu = rate("small")
    one, one_cpu = rate("per_image")
    eng_gflops = eng * flop / 1e9
    print(f"sgemm 2048×2048: numpy {sg['numpy']:.1f} GFLOP/s, tf.matmul {sg['tf']:.1f} GFLOP/s")
    print(
        f"engine, batch {B}, fast path:  {eng:8.0f} image-steps/s  ({eng_cpu:.0f} per CPU-second)"
    )
    print(
        f"engine, batch {B}, Keras path: {ker:8.0f} image-steps/s  ({ker_cpu:.0f} per CPU-second)"
        f"   fast/Keras = {eng / ker:.2f}×"
    )
    print(
        f"engine, 8 images × {args.small_steps} steps: {small:8.0f} image-steps/s"
        f"   = {small / eng:.0%} of the batch-{B} rate (goal ≥ 50%)"
    )
    print(
        f"engine, one image at a time:  {one:8.0f} image-steps/s   batched/per-image = {eng / one:.1f}×"
    )
    tkv_rate = None
    if tkv and "times" in tkv:
        tkv_rate = float(np.median([B * S / w for w, _ in tkv["times"]]))
        tkv["image_steps_per_second"] = round(tkv_rate, 1)
        tkv["image_steps_per_cpu_second"] = round(
            float(np.median([B * S / c for _, c in tkv["times"]])), 1
        )
        print(
            f"tf-keras-vis {tkv['version']} (side venv), batch {B}: {tkv_rate:8.0f} image-steps/s"
            f"   engine/tf-keras-vis = {eng / tkv_rate:.1f}× (goal ≥ 10×)"
        )
        s = tkv["sanity"]
        print(
            f"  (tf-keras-vis raised the mean objective from {s['mean_objective_before']:.3f} "
            f"to {s['mean_objective_after']:.3f})"
        )
    elif tkv:
        print(tkv["error"])
    print(
        f"engine compute: {eng:.0f} × {flop / 1e6:.2f} MFLOP = {eng_gflops:.1f} GFLOP/s = "
        f"{eng_gflops / sg['tf']:.0%} of tf.matmul sgemm (goal ≥ 60%), "
        f"{eng_gflops / sg['numpy']:.0%} of numpy sgemm; essential FLOPs "
        f"{eng * flop_ess / 1e9:.1f} GFLOP/s = {eng * flop_ess / 1e9 / sg['tf']:.0%} of tf sgemm"
    )
    quality = None
    if not args.no_quality:
        from oipviz.compute.oip import oip
        from oipviz.data.sources import mnist_digits

        t = time.perf_counter()
        run = oip(layer, None, loaded, inits=inits, epochs=args.epochs, progress=False)
        oip_s = time.perf_counter() - t
        x01, _, source = mnist_digits(split="all")
        model = loaded.engine_model([layer])
        acts = model.predict(loaded.convention.to_engine(x01), batch_size=1000, verbose=0)
        acts = acts[0] if isinstance(acts, list) else acts
        digit_max = acts.mean(axis=(1, 2)).max(axis=0)  # (maps,) largest map mean on a digit
        live = np.array([s == "live" for s in run.status])
        best = run.best_values
        above = live & (best > digit_max)
        frac = float(above.sum() / max(live.sum(), 1))
        ratio = best[live] / np.maximum(digit_max[live], 1e-12)
        quality = {
            "epochs": args.epochs,
            "inits": inits,
            "digits": int(len(x01)),
            "digits_source": source,
            "live_maps": int(live.sum()),
            "dead_maps": int((~live).sum()),
            "live_maps_above_best_digit": int(above.sum()),
            "fraction_above_best_digit": frac,
            "median_oip_over_best_digit": float(np.median(ratio)),
            "oip_seconds": round(oip_s, 1),
            "oip_image_steps_per_second": round(len(maps) * args.epochs / oip_s, 1),
            "per_map": {
                "oip_best": [round(float(v), 5) for v in best],
                "digit_max": [round(float(v), 5) for v in digit_max],
            },
        }
        print(
            f"quality: {above.sum()}/{live.sum()} live {layer} maps ({frac:.1%}) have an OIP "
            f"({inits} inits × {args.epochs} epochs) above the best of {len(x01)} digits "
            f"(median OIP/best-digit ratio {np.median(ratio):.2f}; {(~live).sum()} dead maps); "
            f"OIP run {oip_s:.0f} s = {len(maps) * args.epochs / oip_s:.0f} image-steps/s"
        )

    out = {
        "bench": "engine",
        "cpu": cpu_info(),
        "tensorflow": tf.__version__,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "load_average_start": round(load0, 2),
        "load_average_end": round(os.getloadavg()[0], 2),
        "layer": layer,
        "batch": B,
        "steps": S,
        "rounds": args.rounds,
        "lr": lr,
        "seeds": "uniform in [0,1] pixels (the valid range), in engine space; no pruning",
        "flop_per_image_step": flop,
        "flop_formula": formula,
        "essential_flop_per_image_step": flop_ess,
        "essential_flop_formula": formula_ess,
        "sgemm_gflops": {k: round(v, 1) for k, v in sg.items()},
        "fast_path_used": fast_used,
        "engine_image_steps_per_second": round(eng, 1),
        "engine_image_steps_per_cpu_second": round(eng_cpu, 1),
        "engine_gflops": round(eng_gflops, 2),
        "engine_fraction_of_sgemm": {k: round(eng_gflops / v, 3) for k, v in sg.items()},
        "engine_essential_fraction_of_sgemm": {
            k: round(eng * flop_ess / 1e9 / v, 3) for k, v in sg.items()
        },
        "keras_path": {
            "image_steps_per_second": round(ker, 1),
            "image_steps_per_cpu_second": round(ker_cpu, 1),
        },
        "ratio_fast_over_keras_path": round(eng / ker, 2),
        "small_batch": {
            "images": 8,
            "steps": args.small_steps,
            "image_steps_per_second": round(small, 1),
            "image_steps_per_cpu_second": round(small_cpu, 1),
        },
        "ratio_small_over_batch": round(small / eng, 3),
        "per_image_loop": {
            "images": single,
            "image_steps_per_second": round(one, 1),
            "image_steps_per_cpu_second": round(one_cpu, 1),
        },
        "ratio_engine_over_per_image": round(eng / one, 2),
        "tf_keras_vis": (
            dict(
                tkv,
                setup="side venv bench/.venvs/tfkv; ActivationMaximization on a "
                "flat pixels->conv3 copy, per-image map-mean score, SGD(lr), no "
                "regularizers, no input modifiers, input_range=(0, 1), same seeds",
            )
            if tkv
            else None
        ),
        "ratio_engine_over_tf_keras_vis": round(eng / tkv_rate, 2) if tkv_rate else None,
        "quality": quality,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
