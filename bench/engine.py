"""Benchmark of THE ascent engine (oipviz.ascent.ascend) on conv3 of the bundled model (not a test).

Measures, in one run (interleaved rounds, medians, so the ratios share the same machine load):
* the batched engine: 128 conv3 maps × 8 inits = 1,024 images, ``--steps`` steps, after a
  warm-up call; image-steps per second;
* (a) the same engine fed one image at a time (B=1, a plain per-image loop, ``--single`` images);
* (b) tf-keras-vis ActivationMaximization on a model whose output is conv3, with a per-image
  score (each image's own map mean), no regularizers, no input modifiers, no clipping, SGD,
  the same steps and the same 1,024-image batch — if tf-keras-vis is installed;
* the machine's float32 matmul rate (2048×2048 sgemm, numpy and tf.matmul) and the fraction of
  it the engine reaches, from the conv FLOPs of one image-step;
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
                info["simd"] = sorted(f for f in flags if f.startswith(("avx", "fma", "f16c", "amx")))
                break
    except OSError:
        pass
    return info


def timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of fn()."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def make_tkv(loaded, x0: np.ndarray, maps: np.ndarray, lr: float):
    """A callable running tf-keras-vis ActivationMaximization for n steps, or an error string."""
    try:
        import tf_keras_vis
        from tf_keras_vis.activation_maximization import ActivationMaximization
    except Exception as exc:  # not installed or broken import
        return None, f"tf-keras-vis unavailable: {type(exc).__name__}: {exc}".splitlines()[0], None
    import warnings

    import keras
    import tensorflow as tf

    model = loaded.engine_model(["conv3"])
    am = ActivationMaximization(model, clone=False)
    idx = tf.constant(maps.astype(np.int32))

    def score(out):  # each image's own map mean, like oipviz.objectives.map_mean
        return tf.gather(tf.reduce_mean(out, axis=[1, 2]), idx, batch_dims=1)

    def run(n: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(am(score, seed_input=x0, input_range=(None, None), input_modifiers=[],
                                 regularizers=[], steps=n, optimizer=keras.optimizers.SGD(lr)))
    return run, None, tf_keras_vis.__version__


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="ascent steps per timed call")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median)")
    ap.add_argument("--single", type=int, default=16, help="images for the per-image loop")
    ap.add_argument("--epochs", type=int, default=600, help="OIP epochs for the quality check")
    ap.add_argument("--no-quality", action="store_true", help="skip the OIP-vs-digits check")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "engine.json"))
    args = ap.parse_args()

    from sgemm import sgemm_gflops

    from oipviz import objectives as O
    from oipviz.ascent import ascend
    from oipviz.inits import fluctuations
    from oipviz.loader import load_model
    from oipviz.tfenv import import_keras

    import_keras()  # TensorFlow with the package's settings (TF_ENABLE_ONEDNN_OPTS, quiet logs)
    import tensorflow as tf

    loaded = load_model()
    layer = "conv3"
    n_maps = loaded.layer(layer).units
    inits = 8
    maps = np.repeat(np.arange(n_maps), inits)
    x0 = fluctuations(list(range(n_maps)), inits, seed=0)
    objs = [O.map_mean(layer, int(m)) for m in maps]
    B, S, lr = len(x0), args.steps, 0.02
    load0 = os.getloadavg()[0]
    print(f"oipviz engine bench: {layer}, {n_maps} maps × {inits} inits = {B} images, {S} steps, "
          f"load average {load0:.1f} on {os.cpu_count()} cores")

    # FLOPs of one image-step
    macs = conv_macs(loaded, layer)
    flop = 2 * 2 * sum(m for _, m in macs)
    formula = ("FLOP per image-step = 2 (FLOP/MAC) × 2 (forward + input-gradient backward) × ("
               + " + ".join(f"{n} {m:,}" for n, m in macs) + f") MAC = {flop / 1e6:.2f} MFLOP")
    print(formula)

    # warm-up: trace the engine for the batch and for B=1, and tf-keras-vis
    ascend(loaded, x0, objs, steps=2, lr=lr)
    ascend(loaded, x0[:1], objs[0], steps=2, lr=lr)
    tkv_run, tkv_error, tkv_version = make_tkv(loaded, x0, maps, lr)
    if tkv_run is not None:
        try:
            tkv_run(2)
        except Exception as exc:
            tkv_run, tkv_error = None, f"tf-keras-vis failed: {type(exc).__name__}: {exc}".splitlines()[0]
    if tkv_error:
        print(tkv_error)

    single = x0[: args.single]
    results: dict[str, list[tuple[float, float]]] = {"engine": [], "per_image": [], "tkv": []}
    work = {"engine": B * S, "per_image": len(single) * S, "tkv": B * S}
    sgemm_rounds: list[dict[str, float]] = []
    for r in range(args.rounds):
        results["engine"].append(timed(lambda: ascend(loaded, x0, objs, steps=S, lr=lr)))
        results["per_image"].append(timed(lambda: [ascend(loaded, single[i:i + 1], objs[i], steps=S, lr=lr)
                                                   for i in range(len(single))]))
        if tkv_run is not None:
            results["tkv"].append(timed(lambda: tkv_run(S)))
        sgemm_rounds.append(sgemm_gflops(reps=3, rounds=1))  # interleaved: same load as the engine
    sg = {k: float(np.median([r[k] for r in sgemm_rounds])) for k in sgemm_rounds[0]}

    def rate(key):
        if not results[key]:
            return None, None
        return (float(np.median([work[key] / w for w, _ in results[key]])),
                float(np.median([work[key] / c for _, c in results[key]])))

    eng, eng_cpu = rate("engine")
    one, one_cpu = rate("per_image")
    tkv, tkv_cpu = rate("tkv")
    eng_gflops = eng * flop / 1e9
    print(f"sgemm 2048×2048: numpy {sg['numpy']:.1f} GFLOP/s, tf.matmul {sg['tf']:.1f} GFLOP/s")
    print(f"engine, batch {B:5d}:          {eng:8.0f} image-steps/s  ({eng_cpu:.0f} per CPU-second)")
    print(f"engine, one image at a time:  {one:8.0f} image-steps/s  ({one_cpu:.0f} per CPU-second)"
          f"   batched/per-image = {eng / one:.1f}×")
    tkv_check = None
    if tkv is not None:
        print(f"tf-keras-vis {tkv_version}, batch {B}:  {tkv:8.0f} image-steps/s  ({tkv_cpu:.0f} per CPU-second)"
              f"   engine/tf-keras-vis = {eng / tkv:.1f}×")
        # sanity: the tf-keras-vis run really ascends (score after S steps > score at start)
        from oipviz.ascent import evaluate
        before = evaluate(loaded, x0, objs)
        after = evaluate(loaded, tkv_run(S), objs)
        tkv_check = {"mean_objective_before": float(before.mean()), "mean_objective_after": float(after.mean())}
        print(f"  (tf-keras-vis raised the mean objective from {before.mean():.3f} to {after.mean():.3f})")
    print(f"engine compute: {eng:.0f} × {flop / 1e6:.2f} MFLOP = {eng_gflops:.1f} GFLOP/s = "
          f"{eng_gflops / sg['numpy']:.0%} of numpy sgemm, {eng_gflops / sg['tf']:.0%} of tf.matmul sgemm "
          "(nominal FLOPs of the whole model: an engine that skips work the objective never sees "
          "gets an effective rate)")

    quality = None
    if not args.no_quality:
        from oipviz.data import mnist_digits
        from oipviz.oip import oip

        t = time.perf_counter()
        run = oip(layer, None, loaded, inits=inits, epochs=args.epochs, progress=False)
        oip_s = time.perf_counter() - t
        x01, _, source = mnist_digits(split="all")
        model = loaded.engine_model([layer])
        acts = model.predict(loaded.convention.to_engine(x01), batch_size=1000, verbose=0)
        acts = acts[0] if isinstance(acts, list) else acts
        digit_max = acts.mean(axis=(1, 2)).max(axis=0)          # (maps,) largest map mean on a digit
        live = np.array([s == "live" for s in run.status])
        best = run.best_values
        above = live & (best > digit_max)
        frac = float(above.sum() / max(live.sum(), 1))
        ratio = best[live] / np.maximum(digit_max[live], 1e-12)
        quality = {"epochs": args.epochs, "inits": inits, "digits": int(len(x01)), "digits_source": source,
                   "live_maps": int(live.sum()), "dead_maps": int((~live).sum()),
                   "live_maps_above_best_digit": int(above.sum()), "fraction_above_best_digit": frac,
                   "median_oip_over_best_digit": float(np.median(ratio)),
                   "oip_seconds": round(oip_s, 1),
                   "oip_image_steps_per_second": round(len(maps) * args.epochs / oip_s, 1),
                   "per_map": {"oip_best": [round(float(v), 5) for v in best],
                               "digit_max": [round(float(v), 5) for v in digit_max]}}
        print(f"quality: {above.sum()}/{live.sum()} live {layer} maps ({frac:.1%}) have an OIP "
              f"({inits} inits × {args.epochs} epochs) above the best of {len(x01)} digits "
              f"(median OIP/best-digit ratio {np.median(ratio):.2f}; {(~live).sum()} dead maps); "
              f"OIP run {oip_s:.0f} s = {len(maps) * args.epochs / oip_s:.0f} image-steps/s")

    out = {
        "bench": "engine",
        "cpu": cpu_info(),
        "tensorflow": tf.__version__,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "load_average_start": round(load0, 2), "load_average_end": round(os.getloadavg()[0], 2),
        "layer": layer, "batch": B, "steps": S, "rounds": args.rounds, "lr": lr,
        "flop_per_image_step": flop, "flop_formula": formula,
        "flop_note": "nominal FLOPs of the whole model; engine_gflops is an effective rate if the "
                     "engine skips work (e.g. rows the objective never sees)",
        "sgemm_gflops": {k: round(v, 1) for k, v in sg.items()},
        "engine_image_steps_per_second": round(eng, 1),
        "engine_image_steps_per_cpu_second": round(eng_cpu, 1),
        "engine_gflops": round(eng_gflops, 2),
        "engine_fraction_of_sgemm": {k: round(eng_gflops / v, 3) for k, v in sg.items()},
        "per_image_loop": {"images": len(single), "image_steps_per_second": round(one, 1),
                           "image_steps_per_cpu_second": round(one_cpu, 1)},
        "ratio_engine_over_per_image": round(eng / one, 2),
        "tf_keras_vis": ({"version": tkv_version, "batch": B, "image_steps_per_second": round(tkv, 1),
                          "image_steps_per_cpu_second": round(tkv_cpu, 1), "sanity": tkv_check,
                          "setup": "ActivationMaximization, model output conv3, per-image map-mean score, "
                                   "SGD(lr), no regularizers, no input modifiers, input_range=(None, None)"}
                         if tkv is not None else {"error": tkv_error}),
        "ratio_engine_over_tf_keras_vis": round(eng / tkv, 2) if tkv else None,
        "quality": quality,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
