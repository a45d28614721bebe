"""Runs INSIDE the tf-keras-vis side venv (bench/.venvs/tfkv): ActivationMaximization of
conv-map means with the peer's own default transforms and regularizers, given the model's
valid input range.  The model is wrapped so the peer sees pixels in [0, 1] (a Rescaling
layer applies the model's standardization), exactly like oipviz's images.

usage: python tfkv_am.py MODEL LAYER MEAN STD MAPS(comma) INITS STEPS SEED OUT.npz
"""

import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tf_keras_vis.activation_maximization import ActivationMaximization  # noqa: E402


def main() -> None:
    path, layer, mean, std, maps, inits, steps, seed, out = sys.argv[1:10]
    mean, std, inits, steps, seed = float(mean), float(std), int(inits), int(steps), int(seed)
    maps = [int(m) for m in maps.split(",")]
    model = keras.models.load_model(path, compile=False)
    inner = keras.Model(model.inputs, model.get_layer(layer).output)
    inp = keras.Input((28, 28, 1))
    wrapped = keras.Model(inp, inner(keras.layers.Rescaling(1.0 / std, -mean / std)(inp)))
    am = ActivationMaximization(wrapped, clone=False)
    per = np.repeat(np.asarray(maps, np.int32), inits)
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0.0, 1.0, (len(per), 28, 28, 1)).astype(np.float32)
    images = np.empty_like(seeds)
    t = time.perf_counter()
    for lo in range(0, len(per), 512):
        idx = tf.constant(per[lo : lo + 512])

        def score(o, idx=idx):  # each image's own map mean
            return tf.gather(tf.reduce_mean(o, axis=[1, 2]), idx, batch_dims=1)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            images[lo : lo + 512] = np.asarray(
                am(score, seed_input=seeds[lo : lo + 512], input_range=(0.0, 1.0), steps=steps)
            )
    np.savez(out, images=images, maps=per, seconds=time.perf_counter() - t)


if __name__ == "__main__":
    main()
