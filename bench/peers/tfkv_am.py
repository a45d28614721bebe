"""Runs INSIDE the tf-keras-vis side venv (bench/.venvs/tfkv): ActivationMaximization of
conv-map means with the peer's own default transforms and regularizers, given the model's
valid input range.  The model is wrapped so the peer sees pixels in [0, 1] (a Rescaling
layer applies the model's input convention, ``input = SCALE·x + OFFSET`` per channel),
exactly like oipviz's images; grey or colour, any size.

usage: python tfkv_am.py MODEL LAYER SCALE OFFSET MAPS INITS STEPS SEED OUT.npz
(SCALE, OFFSET and MAPS comma-separated: one or one per channel)
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
    path, layer, scale, offset, maps, inits, steps, seed, out = sys.argv[1:10]
    inits, steps, seed = int(inits), int(steps), int(seed)
    scale = np.asarray([float(v) for v in scale.split(",")], np.float32)
    offset = np.asarray([float(v) for v in offset.split(",")], np.float32)
    maps = [int(m) for m in maps.split(",")]
    model = keras.models.load_model(path, compile=False)
    inner = keras.Model(model.inputs, model.get_layer(layer).output)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    inp = keras.Input(shape)
    rescale = keras.layers.Rescaling(
        scale if len(scale) > 1 else float(scale[0]),
        offset if len(offset) > 1 else float(offset[0]),
    )
    wrapped = keras.Model(inp, inner(rescale(inp)))
    am = ActivationMaximization(wrapped, clone=False)
    per = np.repeat(np.asarray(maps, np.int32), inits)
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0.0, 1.0, (len(per), *shape)).astype(np.float32)
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
