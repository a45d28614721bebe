"""Runs INSIDE the tf-keras-vis side venv (bench/.venvs/tfkv), as one case of
bench/engine.py: ActivationMaximization on the same model (a flat copy taking pixels in
[0, 1]), layer, per-image map-mean score, batch, steps and seeds as the engine cases; SGD(lr),
no regularizers, no input modifiers.  Warms up, times one call, prints one JSON object.

usage: python tfkv_engine.py DATA.npz STEPS LR [BATCH]
"""

import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/: explain.py

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras_vis  # noqa: E402
from explain import flat_pixel_model  # noqa: E402
from tf_keras_vis.activation_maximization import ActivationMaximization  # noqa: E402


def main() -> None:
    data, steps, lr = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    d = np.load(data)
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else len(d["maps"])
    x0, maps = d["x"][:batch].astype(np.float32), d["maps"][:batch].astype(np.int32)
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
                am(score, seed_input=x0, input_range=(0.0, 1.0), input_modifiers=[],
                   regularizers=[], steps=n, optimizer=keras.optimizers.SGD(lr))
            )  # fmt: skip

    run(2)  # warm-up
    t, c = time.perf_counter(), time.process_time()
    images = run(steps)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    before = np.asarray(model(x0)).mean(axis=(1, 2))[np.arange(len(maps)), maps]
    after = np.asarray(model(images)).mean(axis=(1, 2))[np.arange(len(maps)), maps]
    out = {
        "seconds": wall,
        "cpu_seconds": cpu,
        "image_steps_per_s": batch * steps / wall,
        "image_steps_per_cpu_s": batch * steps / cpu,
        "objective_start_mean": float(before.mean()),
        "objective_final_mean": float(after.mean()),
        "info": {
            "tf_keras_vis": tf_keras_vis.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "batch": batch,
            "steps": steps,
            "lr": lr,
            "setup": "ActivationMaximization on a flat pixels->layer copy, per-image map-mean "
            "score, SGD(lr), no regularizers, no input modifiers, input_range=(0, 1), "
            "the engine cases' seeds",
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
