"""Which exact rewrites of the bundled model's conv chain pay (not a test; issue #12 lever 1).

One engine-like step (gradient of Σ w·conv3 with respect to the image, RMS-normalized
update) at batch 1,024, compiled, for each variant; interleaved rounds, medians, ratios
to the Keras model in the same run:

* ``keras``: the Keras sub-model (what the engine used before oipviz.core.fastpath);
* ``crop``: oipviz.core.fastpath (the same ops, only the 26×26 input corner conv3 sees);
* ``crop_addv2``: the same with the bias added by AddV2 (as Keras does) instead of BiasAdd;
* ``crop_fuse``: conv1+pool1 as one stride-2 "taps" conv (4×4 kernel, the 4 pooling offsets
  as channel groups), bias before ``tf.maximum`` over the offsets, ReLU after;
* ``crop_fuse_rpool``: the same, and pool2 as reshape + ``tf.maximum`` (no MaxPoolGrad);
* ``crop_onemap``: conv3 for each image's own map only (patches × that map's filter).

    python bench/fastpath_variants.py                      # oneDNN as the package sets it
    TF_ENABLE_ONEDNN_OPTS=0 python bench/fastpath_variants.py

Writes bench/results/fastpath_variants[_onednn0].json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def taps_conv_pool(tf, x, layer):
    """relu(maxpool2(conv(x) + b)) for a 1-channel conv, as one stride-2 conv."""
    K = tf.convert_to_tensor(layer.kernel)
    c = K.shape[3]
    taps = tf.concat(
        [tf.pad(K, [[a, 1 - a], [b, 1 - b], [0, 0], [0, 0]]) for a in (0, 1) for b in (0, 1)],
        axis=3,
    )
    y = tf.nn.conv2d(x, taps, 2, "VALID") + tf.tile(tf.convert_to_tensor(layer.bias), [4])
    g = [y[..., j * c : (j + 1) * c] for j in range(4)]
    return tf.nn.relu(tf.maximum(tf.maximum(g[0], g[1]), tf.maximum(g[2], g[3])))


def reshape_pool(tf, h):
    """2×2/2 max-pool as reshape + tf.maximum (ties to the first offset in raster order)."""
    H, W, C = h.shape[1] // 2, h.shape[2] // 2, h.shape[3]
    h = tf.reshape(h[:, : 2 * H, : 2 * W], [-1, H, 2, W, 2, C])
    return tf.maximum(
        tf.maximum(h[:, :, 0, :, 0], h[:, :, 0, :, 1]),
        tf.maximum(h[:, :, 1, :, 0], h[:, :, 1, :, 1]),
    )


def main() -> None:
    from engine import cpu_info

    from oipviz.core.fastpath import FastChain
    from oipviz.core.loader import load_model
    from oipviz.core.tfenv import import_keras

    import_keras()
    import tensorflow as tf

    loaded = load_model()
    B, steps, rounds = 1024, 20, int(os.environ.get("ROUNDS", 3))
    ly = {layer.name: layer for layer in loaded.model.layers}
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(B, 28, 28, 1)).astype(np.float32))
    maps = np.repeat(np.arange(128), B // 128).astype(np.int32)
    w = tf.constant(
        np.eye(128, dtype=np.float32)[maps][:, None, None, :].repeat(3, 1).repeat(3, 2) / 9
    )
    keras_model = loaded.engine_model(["conv3"])
    fast = FastChain(loaded, [("conv3", False)])

    def conv(h, name):
        return tf.nn.relu(
            tf.nn.bias_add(tf.nn.conv2d(h, ly[name].kernel, 1, "VALID"), ly[name].bias)
        )

    def front(z, rpool):
        h = taps_conv_pool(tf, z[:, :26, :26], ly["conv1"])[:, :12, :12]
        h = conv(h, "conv2")
        return reshape_pool(tf, h) if rpool else tf.nn.max_pool2d(h, 2, 2, "VALID")

    def onemap(z):
        h = tf.nn.max_pool2d(
            conv(
                tf.nn.max_pool2d(conv(z[:, :26, :26], "conv1"), 2, 2, "VALID")[:, :12, :12], "conv2"
            ),
            2,
            2,
            "VALID",
        )
        p = tf.image.extract_patches(h, [1, 3, 3, 1], [1, 1, 1, 1], [1, 1, 1, 1], "VALID")
        k = tf.gather(tf.transpose(tf.reshape(ly["conv3"].kernel, [-1, 128])), maps)
        return tf.nn.relu(
            tf.einsum("bhwk,bk->bhw", p, k) + tf.gather(ly["conv3"].bias, maps)[:, None, None]
        )

    def crop_add(z):  # the crop with Keras's own bias op (AddV2 instead of BiasAdd)
        h = z[:, :26, :26]
        for name, pool in (("conv1", 12), ("conv2", 5), ("conv3", None)):
            h = tf.nn.relu(tf.nn.conv2d(h, ly[name].kernel, 1, "VALID") + ly[name].bias)
            if pool:
                h = tf.nn.max_pool2d(h, 2, 2, "VALID")[:, :pool, :pool]
        return h

    def keras_path(z):  # a one-output Keras model returns a tensor, not a list
        out = keras_model(z, training=False)
        return out[0] if isinstance(out, (list, tuple)) else out

    variants = {
        "keras": keras_path,
        "crop": lambda z: fast(z)[0],
        "crop_addv2": crop_add,
        "crop_fuse": lambda z: conv(front(z, False), "conv3"),
        "crop_fuse_rpool": lambda z: conv(front(z, True), "conv3"),
        "crop_onemap": onemap,
    }

    def compiled(f, one):
        @tf.function
        def run(x):
            for _ in tf.range(steps):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    a = f(x)
                    loss = tf.reduce_sum(a) / 9 if one else tf.reduce_sum(a * w)  # w: own map / 9
                g = tape.gradient(loss, x)
                x = x + 0.02 * g / (
                    tf.sqrt(tf.reduce_mean(g * g, axis=[1, 2, 3], keepdims=True)) + 1e-5
                )
            return x

        return run

    fns = {k: compiled(f, k == "crop_onemap") for k, f in variants.items()}
    ref = fns["keras"](x).numpy()
    err = {}
    for k, f in fns.items():
        err[k] = float(np.abs(f(x).numpy() - ref).max())  # also the warm-up
    load = [os.getloadavg()[0]]
    rates: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t, c = time.perf_counter(), time.process_time()
            f(x).numpy()
            rates[k].append(B * steps / (time.perf_counter() - t))
            cpu[k].append(B * steps / (time.process_time() - c))
    load.append(os.getloadavg()[0])
    med = {k: float(np.median(v)) for k, v in rates.items()}
    med_cpu = {k: float(np.median(v)) for k, v in cpu.items()}
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    print(f"TF_ENABLE_ONEDNN_OPTS={onednn}, batch {B}, {steps} steps, load {load}")
    for k, v in med.items():
        print(
            f"{k:16s} {v:7.0f} image-steps/s  {v / med['keras']:.2f}× Keras "
            f"({med_cpu[k] / med_cpu['keras']:.2f}× per CPU-second)   "
            f"max |image - Keras image| after {steps} steps: {err[k]:.2g}"
        )
    out = {
        "bench": "fastpath_variants",
        "cpu": cpu_info(),
        "tensorflow": tf.__version__,
        "TF_ENABLE_ONEDNN_OPTS": onednn,
        "load_average": [round(v, 2) for v in load],
        "batch": B,
        "steps": steps,
        "rounds": rounds,
        "image_steps_per_second": {k: round(v, 1) for k, v in med.items()},
        "ratio_to_keras": {k: round(v / med["keras"], 3) for k, v in med.items()},
        "image_steps_per_cpu_second": {k: round(v, 1) for k, v in med_cpu.items()},
        "ratio_to_keras_per_cpu_second": {
            k: round(v / med_cpu["keras"], 3) for k, v in med_cpu.items()
        },
        "max_abs_image_difference_to_keras": err,
    }
    name = "fastpath_variants" + ("_onednn0" if onednn == "0" else "") + ".json"
    path = Path(__file__).parent / "results" / name
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
