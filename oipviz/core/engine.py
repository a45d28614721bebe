"""The compiled engine behind :func:`oipviz.core.ascent.ascend`: one model, a fixed set of
output heads, user objective functions, a transform list, fallbacks and a precision.

One ``tf.function`` runs a block of steps over a batch ``x`` (B, H, W, C) in engine space
(standardized pixels of the model's own geometry).  Each image has its own objective,
encoded as weight tensors (:meth:`Engine.weights`), so 128 maps × 8 inits is a single batch.
Per step and image: the gradient of the image's loss, divided by its RMS (+1e-5), times
``lr`` is added to the image.  Input signatures have a free batch axis and callers pad their
chunks, so repeated calls never retrace.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from oipviz.core import fastpath
from oipviz.core.objectives import Objective, weight_arrays
from oipviz.core.status import DEAD_EPS
from oipviz.core.transforms import STAGES, apply_inputs

#: an objective's weights as tensors: (linear per head, spatial max per head, user functions)
Weights = tuple[Any, ...]


class Engine:
    """Compiled ascent for one model and key (heads, user functions, transforms, fallback,
    precision).  Built once per model and key: the cache lives on the loaded model, so it
    goes away with it.  The heads come from :mod:`oipviz.core.fastpath` when it covers the
    model and passes its check against the Keras model, else from the Keras model (always
    float32: ``bfloat16`` steps need the fast path)."""

    def __init__(
        self,
        loaded,
        heads: list[tuple[str, bool]],
        customs: tuple = (),
        transforms: tuple = (),
        fallback: bool = False,
        precision: str = "float32",
    ):
        import tensorflow as tf

        self.loaded = loaded
        self.heads = list(heads)
        self.customs = tuple(customs)
        self.transforms = tuple(transforms)
        self.fallback = bool(fallback)
        self.param = next((t for t in self.transforms if t.stage == "param"), None)
        self.model = loaded.heads(self.heads)
        self.heads = self.model.heads  # the layers' full paths
        self.fast = fastpath.for_heads(loaded, self.heads, self.model)
        low = precision == "bfloat16" and self.fast is not None
        self.precision = "bfloat16" if low else "float32"
        self.low = tf.bfloat16 if low else None
        self.shapes = self.model.shapes
        self.image_shape = tuple(loaded.geometry.shape)
        self.traces = 0
        self._compile()

    def weight_specs(self) -> tuple:
        """The input signature of an objective's weights (see :meth:`weights`)."""
        import tensorflow as tf

        return (
            [tf.TensorSpec((None, *s), tf.float32) for s in self.shapes],
            [tf.TensorSpec((None, s[-1] if len(s) == 3 else 1), tf.float32) for s in self.shapes],
            tf.TensorSpec((None, max(1, len(self.customs))), tf.float32),
        )

    def image_spec(self):
        """The input signature of a batch of engine-space images."""
        import tensorflow as tf

        return tf.TensorSpec((None, *self.image_shape), tf.float32)

    def _compile(self) -> None:
        import tensorflow as tf

        w_spec = self.weight_specs()
        fb_spec = (*w_spec, tf.TensorSpec((None,), tf.float32)) if self.fallback else ()
        x_spec = self.image_spec()
        # plain TF graphs (no Python control flow on tensors): no AutoGraph, which costs more
        # to trace than the short runs it serves; users' objective functions may need it
        fn = functools.partial(tf.function, jit_compile=False, autograph=bool(self.customs))
        i32, f32 = tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.float32)
        # the steps run on the parameterization's variable (its own shape, e.g. a spectrum)
        var_shape = getattr(self.param, "var_shape", lambda s: s)(self.image_shape)
        u_spec = tf.TensorSpec((None, *var_shape), tf.float32)
        # the step is its own graph, not inlined into the loop: oneDNN's layout pass then
        # sees an acyclic graph in topological order and always pairs each MaxPoolGrad with
        # its oneDNN MaxPool.  Inlined into the loop's cycle, that pairing depended on the
        # traversal order, so about half the processes got Eigen's MaxPoolGrad, ~10x slower
        # (a third of a step's time).
        self._step = tf.function(
            self._step_py,
            autograph=bool(self.customs),
            jit_compile=False,
            experimental_attributes={"_noinline": True},
            input_signature=[u_spec, w_spec, fb_spec, i32, f32, tf.TensorSpec((2,), tf.int32)],
        )
        self._run = fn(
            self._run_py,
            input_signature=[u_spec, w_spec, fb_spec, i32, f32, tf.TensorSpec((2,), tf.int32)],
        )
        self._eval = fn(
            lambda x, w: self.value(self.activations(x), w), input_signature=[x_spec, w_spec]
        )
        self._gmax = fn(self._gmax_py, input_signature=[x_spec, w_spec, fb_spec])
        self._forward = fn(self.activations, input_signature=[x_spec])

    @classmethod
    def get(
        cls,
        loaded,
        heads,
        customs: tuple = (),
        transforms: tuple = (),
        fallback: bool = False,
        precision: str = "float32",
    ) -> Engine:
        """The engine for ``loaded`` and this key (built on first use)."""
        key = (
            tuple(heads),
            tuple(customs),
            tuple(transforms),
            bool(fallback),
            fastpath.enabled(),
            precision,
        )
        cache = loaded.cache.setdefault("engines", {})
        if key not in cache:
            cache[key] = cls(loaded, heads, customs, transforms, fallback, precision)
        return cache[key]

    # -- weights
    def weights(self, objectives: list[Objective]) -> Weights:
        """The objectives' weight tensors (see :func:`oipviz.core.objectives.weight_arrays`)."""
        import tensorflow as tf

        lin, mx, wc = weight_arrays(objectives, self.heads, self.shapes, self.customs)
        return ([tf.constant(a) for a in lin], [tf.constant(a) for a in mx], tf.constant(wc))

    def fallback_weights(self, objectives: list[Objective]) -> Weights:
        """The fallbacks' weights plus a mask of the images that have one (``()`` for an
        engine without fallbacks)."""
        import tensorflow as tf

        if not self.fallback:
            return ()
        fbs = [o.fallback or Objective(()) for o in objectives]
        mask = tf.constant([float(o.fallback is not None) for o in objectives])
        return (*self.weights(fbs), mask)

    # -- traced pieces (also used by the attribution methods)
    def activations(self, x, low: bool = False) -> list:
        """The heads' outputs (float32) for engine-space images; ``low``: computed at the
        steps' precision."""
        if self.fast is not None:
            return self.fast(x, self.low if low else None)
        return self.model(x)

    def value(self, acts, w):
        """loss_b = Σ W_lin·A + Σ W_max·max_hw(A) + Σ W_c·f_c(A)."""
        import tensorflow as tf

        w_lin, w_max, w_c = w
        loss = 0.0
        for a, wl, wm, s in zip(acts, w_lin, w_max, self.shapes, strict=True):
            loss += tf.reduce_sum(a * wl, axis=list(range(1, len(s) + 1)))
            if len(s) == 3:
                loss += tf.reduce_sum(tf.reduce_max(a, axis=[1, 2]) * wm, axis=1)
        for j, c in enumerate(self.customs):
            args = [acts[self.heads.index((name, False))] for name in c.layers]
            loss += w_c[:, j] * tf.reshape(c.fn(*args), [-1])
        return loss

    def _climb(self, acts, w, fb):
        """(reported value, what the step climbs, 1 where penalties apply): an image whose
        value is zero climbs its fallback instead, with no penalty (nothing to smooth yet)."""
        import tensorflow as tf

        loss = self.value(acts, w)
        if not self.fallback:
            return loss, loss, 1.0
        stuck = tf.logical_and(fb[3] > 0, loss <= DEAD_EPS)
        return (
            loss,
            tf.where(stuck, self.value(acts, fb[:3]), loss),
            1.0 - tf.cast(stuck, tf.float32),
        )

    def _gmax_py(self, x, w, fb):
        """Largest |gradient| per image of the plain step (no transforms)."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(self._climb(self.activations(x), w, fb)[1])
        return tf.reduce_max(tf.abs(tape.gradient(total, x)), axis=[1, 2, 3])

    def _step_py(self, x, w, fb, i, lr, seed):
        """One step of every image: (the new ``x``, the values before the step)."""
        import tensorflow as tf

        by_stage = {st: [t for t in self.transforms if t.stage == st] for st in STAGES}
        step_seed = tf.stack([seed[0], seed[1] + i])
        with tf.GradientTape() as tape:
            tape.watch(x)
            img = self.param.tf_forward(x) if self.param else x
            xt = apply_inputs(by_stage["input"], img, step_seed)
            loss, climb, gate = self._climb(self.activations(xt, low=True), w, fb)
            objective = tf.reduce_sum(climb)
            level = tf.stop_gradient(tf.maximum(loss, 0.0))
            for t in by_stage["penalty"]:
                scale = gate * level if getattr(t, "relative", False) else gate
                objective -= tf.reduce_sum(scale * t(img, step_seed))
        g = tape.gradient(objective, x)
        for t in by_stage["gradient"]:
            g = t(g, step_seed)
        axes = list(range(1, len(g.shape)))
        rms = tf.sqrt(tf.reduce_mean(tf.square(g), axis=axes, keepdims=True))
        x = x + lr * g / (rms + 1e-5)
        for t in by_stage["project"]:
            x = t(x, step_seed)
        return x, loss

    def _run_py(self, x, w, fb, n_steps, lr, seed):
        """``n_steps`` steps as one ``tf.while_loop`` (written out, so tracing needs no
        AutoGraph conversion) around the compiled step."""
        import tensorflow as tf

        self.traces += 1  # runs only while tracing

        def step(i, x, hist):
            x, loss = self._step(x, w, fb, i, lr, seed)
            return i + 1, x, hist.write(i, loss)

        _, x, hist = tf.while_loop(
            lambda i, x, hist: i < n_steps,
            step,
            (tf.constant(0), x, tf.TensorArray(tf.float32, size=n_steps)),
        )
        return x, hist.stack()

    # -- calls
    def run_block(self, x, w: Weights, fb: Weights, n: int, lr: float, seed: int, offset: int):
        """``n`` steps from ``x`` (a tensor in the parameterization's space); returns the
        new ``x`` and the (n, B) values before each step."""
        import tensorflow as tf

        return self._run(
            x,
            w,
            fb,
            tf.constant(n, tf.int32),
            tf.constant(lr, tf.float32),
            tf.constant([seed, offset], tf.int32),
        )

    def evaluate(self, x: np.ndarray, w: Weights) -> np.ndarray:
        """Objective values of engine-space images (no steps)."""
        return self._eval(x, w).numpy()

    def still(self, x: np.ndarray, w: Weights, fb: Weights) -> np.ndarray:
        """True for images whose plain-step gradient is exactly zero everywhere."""
        return self._gmax(x, w, fb).numpy() == 0.0

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """The heads' outputs for engine-space images (B, H, W, C)."""
        return [a.numpy() for a in self._forward(np.asarray(x, np.float32))]
