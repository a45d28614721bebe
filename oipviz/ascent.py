"""THE batched gradient-ascent engine.  Every feature (OIPs, precursor, dream, galleries)
runs through :func:`ascend`.

One ``tf.function`` runs a block of steps over a batch ``x`` (B,28,28,1) in engine space
(standardized pixels).  Each image has its own objective, encoded as weight tensors, so
128 maps × 8 inits is a single batch.  Per step and image: the gradient of the image's
loss, divided by its RMS (+1e-5), times ``lr`` is added to the image.  Shapes are fixed
per engine (chunks are padded), so repeated calls don't retrace.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .objectives import Objective, weight_arrays
from .tfenv import import_keras

DEFAULT_CHUNK = 1024
BLOCK_STEPS = 25  # steps per compiled call; Ctrl-C and progress act between blocks


@dataclass
class AscentResult:
    """Final images (engine space), losses at start and end, and the loss history."""

    images: np.ndarray          # (B,28,28,1) float32, engine space
    start: np.ndarray           # (B,) objective value of the initial images
    final: np.ndarray           # (B,) objective value of the final images
    history: np.ndarray         # (T,B) objective values, before steps history_steps[t]
    history_steps: np.ndarray   # (T,)
    steps_done: int
    interrupted: bool = False


class Engine:
    """Compiled ascent for one model and a fixed set of output heads (layer, pre-activation)."""

    _cache: dict = {}

    def __init__(self, loaded, heads: list[tuple[str, bool]]):
        keras = import_keras()
        import tensorflow as tf

        self.loaded = loaded
        self.heads = list(heads)
        self.model = loaded.engine_model([h[0] for h in self.heads], [h[1] for h in self.heads])
        self.shapes = [tuple(int(d) for d in o.shape[1:]) for o in self.model.outputs]
        self.traces = 0
        lin_spec = [tf.TensorSpec((None,) + s, tf.float32) for s in self.shapes]
        max_spec = [tf.TensorSpec((None, s[-1] if len(s) == 3 else 1), tf.float32) for s in self.shapes]
        x_spec = tf.TensorSpec((None, 28, 28, 1), tf.float32)
        scalar = tf.TensorSpec((), tf.float32)
        self._run = tf.function(self._run_py, input_signature=[
            x_spec, lin_spec, max_spec, tf.TensorSpec((), tf.int32), scalar,
            tf.TensorSpec((), tf.int32), scalar, scalar, tf.TensorSpec((2,), tf.int32)],
            jit_compile=False)
        self._eval = tf.function(self._loss_py, input_signature=[x_spec, lin_spec, max_spec],
                                 jit_compile=False)
        del keras

    @classmethod
    def get(cls, loaded, heads) -> "Engine":
        """A cached engine for ``loaded`` and ``heads`` (built once per process)."""
        key = (id(loaded.model), tuple(heads), loaded.convention.affine())
        if key not in cls._cache:
            cls._cache[key] = cls(loaded, heads)
        return cls._cache[key]

    def _loss_py(self, x, w_lin, w_max):
        import tensorflow as tf

        acts = self.model(x, training=False)
        if not isinstance(acts, (list, tuple)):
            acts = [acts]
        loss = 0.0
        for a, wl, wm, s in zip(acts, w_lin, w_max, self.shapes):
            loss += tf.reduce_sum(a * wl, axis=list(range(1, len(s) + 1)))
            if len(s) == 3:
                loss += tf.reduce_sum(tf.reduce_max(a, axis=[1, 2]) * wm, axis=1)
        return loss

    def _run_py(self, x, w_lin, w_max, n_steps, lr, jitter, tv, blur, seed):
        import tensorflow as tf

        self.traces += 1  # runs only while tracing
        kernel = _gauss_kernel(blur)
        hist = tf.TensorArray(tf.float32, size=n_steps)
        for i in tf.range(n_steps):
            step_seed = tf.stack([seed[0], seed[1] + i])
            shift = tf.random.stateless_uniform([2], step_seed, -jitter, jitter + 1, tf.int32)
            xs = tf.roll(x, shift, axis=[1, 2])
            with tf.GradientTape() as tape:
                tape.watch(xs)
                loss = self._loss_py(xs, w_lin, w_max)
                objective = tf.reduce_sum(loss - tv * _total_variation(xs))
            g = tape.gradient(objective, xs)
            g = tf.roll(g, -shift, axis=[1, 2])
            g = tf.cond(blur > 0.0, lambda: tf.nn.depthwise_conv2d(
                g, kernel, [1, 1, 1, 1], "SAME"), lambda: g)
            rms = tf.sqrt(tf.reduce_mean(tf.square(g), axis=[1, 2, 3], keepdims=True))
            x = x + lr * g / (rms + 1e-5)
            hist = hist.write(i, loss)
        return x, hist.stack()

    def evaluate(self, x: np.ndarray, w_lin, w_max) -> np.ndarray:
        return self._eval(x, w_lin, w_max).numpy()


def _gauss_kernel(sigma):
    import tensorflow as tf

    r = tf.range(-2.0, 3.0)
    k = tf.exp(-tf.square(r) / (2.0 * tf.maximum(sigma, 1e-3) ** 2))
    k2 = tf.tensordot(k, k, axes=0)
    return tf.reshape(k2 / tf.reduce_sum(k2), [5, 5, 1, 1])


def _total_variation(x):
    import tensorflow as tf

    dy = x[:, 1:, :, :] - x[:, :-1, :, :]
    dx = x[:, :, 1:, :] - x[:, :, :-1, :]
    return tf.reduce_sum(tf.abs(dy), axis=[1, 2, 3]) + tf.reduce_sum(tf.abs(dx), axis=[1, 2, 3])


def ascend(loaded, x0: np.ndarray, objectives: list[Objective] | Objective, steps: int = 600,
           lr: float = 0.01, jitter: int = 0, tv: float = 0.0, blur: float = 0.0,
           seed: int = 0, chunk: int = DEFAULT_CHUNK, history_points: int = 100,
           progress: Callable[[int], None] | None = None) -> AscentResult:
    """Gradient ascent on ``x0`` (B,28,28,1 in engine space), each image on its own objective.

    ``objectives``: one per image (or one for all).  ``lr`` is the RMS of each step.
    ``jitter``: random roll of up to ± that many pixels per step.  ``tv``: weight of a
    total-variation penalty; ``blur``: sigma (px) of a Gaussian blur of the gradient.
    ``progress(n)`` is called with the number of image-steps just done.
    Ctrl-C returns what has been reached so far (``interrupted=True``).
    """
    import tensorflow as tf

    x0 = np.ascontiguousarray(np.asarray(x0, np.float32).reshape(-1, 28, 28, 1))
    B = len(x0)
    if isinstance(objectives, Objective):
        objectives = [objectives] * B
    if len(objectives) != B:
        raise ValueError(f"{len(objectives)} objectives for {B} images")
    if steps < 0:
        raise ValueError("steps must be >= 0")
    heads = list(dict.fromkeys(h for o in objectives for h in o.heads))
    engine = Engine.get(loaded, heads)
    chunk = max(1, min(chunk, B))
    n_chunks = -(-B // chunk)
    record = sorted(set(np.linspace(0, max(steps - 1, 0), min(history_points, max(steps, 1)))
                        .round().astype(int)))
    out = x0.copy()
    start = np.zeros(B, np.float32)
    final = np.zeros(B, np.float32)
    hist = np.zeros((len(record), B), np.float32)
    done_steps = steps
    interrupted = False
    for c in range(n_chunks):
        lo, hi = c * chunk, min((c + 1) * chunk, B)
        xc = _pad(x0[lo:hi], chunk)
        objs = list(objectives[lo:hi]) + [objectives[hi - 1]] * (chunk - (hi - lo))
        w_lin, w_max = weight_arrays(objs, heads, engine.shapes)
        w_lin = [tf.constant(w) for w in w_lin]
        w_max = [tf.constant(w) for w in w_max]
        start[lo:hi] = engine.evaluate(xc, w_lin, w_max)[: hi - lo]
        x = tf.constant(xc)
        rows = []
        s = 0
        try:
            while s < steps and not interrupted:
                n = min(BLOCK_STEPS, steps - s)
                x_new, h = engine._run(x, w_lin, w_max, tf.constant(n, tf.int32), tf.constant(lr, tf.float32),
                                       tf.constant(int(jitter), tf.int32),
                                       tf.constant(tv, tf.float32), tf.constant(blur, tf.float32),
                                       tf.constant([seed, s], tf.int32))
                x = x_new
                rows.append(h.numpy()[:, : hi - lo])
                s += n
                if progress:
                    progress(n * (hi - lo))
        except KeyboardInterrupt:
            interrupted = True
        xc = x.numpy()
        out[lo:hi] = xc[: hi - lo]
        final[lo:hi] = engine.evaluate(xc, w_lin, w_max)[: hi - lo]
        full = np.concatenate(rows) if rows else np.zeros((0, hi - lo), np.float32)
        done_steps = min(done_steps, s)
        for t, r in enumerate(record):
            hist[t, lo:hi] = full[r] if r < len(full) else final[lo:hi]
        if interrupted:
            # images of chunks never started keep their init; their values are measured too
            for c2 in range(c + 1, n_chunks):
                lo2, hi2 = c2 * chunk, min((c2 + 1) * chunk, B)
                xc2 = _pad(x0[lo2:hi2], chunk)
                objs2 = list(objectives[lo2:hi2]) + [objectives[hi2 - 1]] * (chunk - (hi2 - lo2))
                wl2, wm2 = weight_arrays(objs2, heads, engine.shapes)
                v = engine.evaluate(xc2, [tf.constant(w) for w in wl2], [tf.constant(w) for w in wm2])
                start[lo2:hi2] = final[lo2:hi2] = hist[:, lo2:hi2] = v[: hi2 - lo2]
            done_steps = 0 if c == 0 and s == 0 else done_steps
            break
    return AscentResult(out, start, final, hist, np.asarray(record), done_steps, interrupted)


def evaluate(loaded, x: np.ndarray, objectives: list[Objective] | Objective,
             chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Objective values of images ``x`` (engine space) without changing them."""
    return ascend(loaded, x, objectives, steps=0, chunk=chunk).final


def _pad(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) == n:
        return x
    return np.concatenate([x, np.repeat(x[-1:], n - len(x), axis=0)])
