"""THE batched gradient-ascent engine.  Every feature (OIPs, precursor, dream, galleries)
runs through :func:`ascend`.

One ``tf.function`` runs a block of steps over a batch ``x`` (B,28,28,1) in engine space
(standardized pixels).  Each image has its own objective, encoded as weight tensors, so
128 maps × 8 inits is a single batch.  Per step and image: the gradient of the image's
loss, divided by its RMS (+1e-5), times ``lr`` is added to the image.  Shapes are fixed
per engine (chunks are padded), so repeated calls don't retrace.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import checks, fastpath
from . import precision as precisions
from .status import DEAD_EPS
from .objectives import Objective, customs_of, weight_arrays
from .transforms import STAGES, check as check_transforms

DEFAULT_CHUNK = 1024
#: image-steps per compiled call (Ctrl-C and progress act between calls): 25 steps for a
#: batch of 1,024, more steps per call for small batches (less per-call overhead)
BLOCK_IMAGE_STEPS = 25 * 1024
BLOCK_RANGE = (25, 400)


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
    pruned: int = 0             # images skipped because their gradient was exactly zero
    precision: str = "float32"  # of the steps' conv chain (values are always float32)


class Engine:
    """Compiled ascent for one model, a fixed set of output heads (layer, pre-activation),
    user objective functions, a transform list, whether objectives have fallbacks and the
    steps' precision.  Built once per model and key: the cache lives on the loaded model,
    so it goes away with it.  The heads come from :mod:`oipviz.fastpath` when it covers
    the model and passes its check against the Keras model, else from the Keras model
    (always float32: ``bfloat16`` steps need the fast path)."""

    def __init__(self, loaded, heads: list[tuple[str, bool]], customs: tuple = (),
                 transforms: tuple = (), fallback: bool = False, precision: str = "float32"):
        import tensorflow as tf

        self.loaded = loaded
        self.heads = list(heads)
        self.customs = tuple(customs)
        self.transforms = tuple(transforms)
        self.fallback = bool(fallback)
        self.param = next((t for t in self.transforms if t.stage == "param"), None)
        self.model = loaded.engine_model([h[0] for h in self.heads], [h[1] for h in self.heads])
        self.fast = fastpath.for_heads(loaded, self.heads, self.model)
        low = precision == "bfloat16" and self.fast is not None
        self.precision = "bfloat16" if low else "float32"
        self.low = tf.bfloat16 if low else None
        self.shapes = [tuple(int(d) for d in o.shape[1:]) for o in self.model.outputs]
        self.traces = 0
        w_spec = ([tf.TensorSpec((None,) + s, tf.float32) for s in self.shapes],
                  [tf.TensorSpec((None, s[-1] if len(s) == 3 else 1), tf.float32) for s in self.shapes],
                  tf.TensorSpec((None, max(1, len(self.customs))), tf.float32))
        fb_spec = (w_spec + (tf.TensorSpec((None,), tf.float32),)) if self.fallback else ()
        x_spec = tf.TensorSpec((None, 28, 28, 1), tf.float32)
        scalar = tf.TensorSpec((), tf.float32)
        # the graphs are plain TF (no Python control flow on tensors): no AutoGraph, which
        # costs more to trace than the short runs it serves; users' objective functions
        # (customs) may need it
        fn = functools.partial(tf.function, jit_compile=False, autograph=bool(self.customs))
        self._run = fn(self._run_py, input_signature=[
            x_spec, w_spec, fb_spec, tf.TensorSpec((), tf.int32), scalar,
            tf.TensorSpec((2,), tf.int32)])
        self._eval = fn(lambda x, w: self._value(self._acts(x), w),
                        input_signature=[x_spec, w_spec])
        self._gmax = fn(self._gmax_py, input_signature=[x_spec, w_spec, fb_spec])
        self._forward = fn(self._acts, input_signature=[x_spec])

    @classmethod
    def get(cls, loaded, heads, customs: tuple = (), transforms: tuple = (),
            fallback: bool = False, precision: str = "float32") -> "Engine":
        """The engine for ``loaded`` and this key (built on first use)."""
        key = (tuple(heads), tuple(customs), tuple(transforms), bool(fallback), fastpath.enabled(),
               precision)
        cache = loaded.cache.setdefault("engines", {})
        if key not in cache:
            cache[key] = cls(loaded, heads, customs, transforms, fallback, precision)
        return cache[key]

    def _acts(self, x, low: bool = False):
        """The heads' outputs (float32); ``low``: the steps' precision."""
        if self.fast is not None:
            return self.fast(x, self.low if low else None)
        acts = self.model(x, training=False)
        return list(acts) if isinstance(acts, (list, tuple)) else [acts]

    def _value(self, acts, w):
        """loss_b = Σ W_lin·A + Σ W_max·max_hw(A) + Σ W_c·f_c(A)."""
        import tensorflow as tf

        w_lin, w_max, w_c = w
        loss = 0.0
        for a, wl, wm, s in zip(acts, w_lin, w_max, self.shapes):
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

        loss = self._value(acts, w)
        if not self.fallback:
            return loss, loss, 1.0
        stuck = tf.logical_and(fb[3] > 0, loss <= DEAD_EPS)
        return (loss, tf.where(stuck, self._value(acts, fb[:3]), loss),
                1.0 - tf.cast(stuck, tf.float32))

    def _gmax_py(self, x, w, fb):
        """Largest |gradient| per image of the plain step (no transforms)."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(self._climb(self._acts(x), w, fb)[1])
        return tf.reduce_max(tf.abs(tape.gradient(total, x)), axis=[1, 2, 3])

    def _run_py(self, x, w, fb, n_steps, lr, seed):
        """``n_steps`` steps as one ``tf.while_loop`` (written out, so tracing needs no
        AutoGraph conversion: about 1.5 s less per engine)."""
        import tensorflow as tf

        self.traces += 1  # runs only while tracing
        by_stage = {st: [t for t in self.transforms if t.stage == st] for st in STAGES}

        def step(i, x, hist):
            step_seed = tf.stack([seed[0], seed[1] + i])
            with tf.GradientTape() as tape:
                tape.watch(x)
                img = self.param.tf_forward(x) if self.param else x
                xt = img
                for t in by_stage["input"]:
                    xt = t(xt, step_seed)
                loss, climb, gate = self._climb(self._acts(xt, low=True), w, fb)
                objective = tf.reduce_sum(climb)
                level = tf.stop_gradient(tf.maximum(loss, 0.0))
                for t in by_stage["penalty"]:
                    scale = gate * level if getattr(t, "relative", False) else gate
                    objective -= tf.reduce_sum(scale * t(img, step_seed))
            g = tape.gradient(objective, x)
            for t in by_stage["gradient"]:
                g = t(g, step_seed)
            rms = tf.sqrt(tf.reduce_mean(tf.square(g), axis=[1, 2, 3], keepdims=True))
            x = x + lr * g / (rms + 1e-5)
            for t in by_stage["project"]:
                x = t(x, step_seed)
            return i + 1, x, hist.write(i, loss)

        _, x, hist = tf.while_loop(lambda i, x, hist: i < n_steps, step,
                                   (tf.constant(0), x, tf.TensorArray(tf.float32, size=n_steps)))
        return x, hist.stack()

    def evaluate(self, x: np.ndarray, w) -> np.ndarray:
        return self._eval(x, w).numpy()

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """The heads' outputs for engine-space images (B,28,28,1)."""
        return [a.numpy() for a in self._forward(np.asarray(x, np.float32))]


def ascend(loaded, x0: np.ndarray, objectives: list[Objective] | Objective, steps: int = 600,
           lr: float = 0.01, transforms=(), seed: int = 0, chunk: int = DEFAULT_CHUNK,
           history_points: int = 100, progress: Callable[[int], None] | None = None,
           prune: bool = True, precision: str = "float32",
           measure_start: bool = True) -> AscentResult:
    """Gradient ascent on ``x0`` (B,28,28,1 in engine space), each image on its own objective.

    ``objectives``: one per image (or one for all).  ``lr`` is the RMS of each step.
    ``transforms``: a list from :mod:`oipviz.transforms` (jitter, scale, rotate, TV,
    gradient blur, clipping; see :func:`oipviz.transforms.from_flags`).
    ``progress(n)`` is called with the number of image-steps just done.
    Ctrl-C returns what has been reached so far (``interrupted=True``).
    ``prune``: the step is gradient / RMS(gradient), so an image whose gradient is exactly
    zero never moves; without random or penalty transforms such images are measured once
    and returned unchanged instead of being stepped (exact: the same result, less work).
    ``precision``: of the steps (:mod:`oipviz.precision`); start, final and history values
    are float32 whatever it is (history: the steps' own forward pass).
    ``measure_start=False``: skip the forward pass that measures the inits (``start`` is
    NaN for images that move), for callers that read only ``final``.
    """
    import tensorflow as tf

    x0 = np.ascontiguousarray(checks.finite_array("x0", x0).reshape(-1, 28, 28, 1))
    B = len(x0)
    if isinstance(objectives, Objective):
        objectives = [objectives] * B
    if len(objectives) != B:
        raise ValueError(f"{len(objectives)} objectives for {B} images")
    steps = checks.integer("steps", steps, 0)
    lr = checks.lr(lr)
    seed = checks.seed(seed)
    transforms = check_transforms(transforms)
    precision = precisions.resolve(precision)
    heads = list(dict.fromkeys(h for o in objectives for h in o.heads))
    customs = customs_of(objectives)
    has_fb = any(o.fallback is not None for o in objectives)
    engine = Engine.get(loaded, heads, customs, transforms, has_fb, precision)
    param = engine.param
    if prune and steps and B and all(t.stage == "gradient" for t in transforms):
        still = _still(engine, x0, objectives, chunk)
        if still.any():
            return _pruned(loaded, x0, objectives, still, steps, lr, transforms, seed, chunk,
                           history_points, progress, engine.precision, measure_start)
    chunk = max(1, min(chunk, B))
    n_chunks = -(-B // chunk)
    block = int(np.clip(BLOCK_IMAGE_STEPS // chunk, *BLOCK_RANGE))
    record = sorted(set(np.linspace(0, max(steps - 1, 0), min(history_points, max(steps, 1)))
                        .round().astype(int)))
    out = x0.copy()
    start = np.zeros(B, np.float32)
    final = np.zeros(B, np.float32)
    hist = np.zeros((len(record), B), np.float32)
    done_steps = steps
    interrupted = False

    def pack(objs):
        return tuple([tf.constant(w) for w in ws] if isinstance(ws, list) else tf.constant(ws)
                     for ws in weight_arrays(objs, heads, engine.shapes, customs))

    def weights(lo, hi):
        objs = list(objectives[lo:hi]) + [objectives[hi - 1]] * (chunk - (hi - lo))
        if not has_fb:
            return pack(objs), ()
        fbs = [o.fallback or Objective(()) for o in objs]
        mask = tf.constant([float(o.fallback is not None) for o in objs])
        return pack(objs), pack(fbs) + (mask,)

    for c in range(n_chunks):
        lo, hi = c * chunk, min((c + 1) * chunk, B)
        xc = _pad(x0[lo:hi], chunk)
        w, fb = weights(lo, hi)
        start[lo:hi] = engine.evaluate(xc, w)[: hi - lo] if measure_start else np.nan
        x = tf.constant(param.inverse(xc) if param else xc)
        rows = []
        s = 0
        try:
            while s < steps and not interrupted:
                n = min(block, steps - s)
                x, h = engine._run(x, w, fb, tf.constant(n, tf.int32), tf.constant(lr, tf.float32),
                                   tf.constant([seed, s], tf.int32))
                rows.append(h.numpy()[:, : hi - lo])
                s += n
                if progress:
                    progress(n * (hi - lo))
        except KeyboardInterrupt:
            interrupted = True
        xc = param.forward(x.numpy()) if param else x.numpy()
        out[lo:hi] = xc[: hi - lo]
        final[lo:hi] = engine.evaluate(xc, w)[: hi - lo]
        full = np.concatenate(rows) if rows else np.zeros((0, hi - lo), np.float32)
        done_steps = min(done_steps, s)
        for t, r in enumerate(record):
            hist[t, lo:hi] = full[r] if r < len(full) else final[lo:hi]
        if interrupted:
            # images of chunks never started keep their init; their values are measured too
            for c2 in range(c + 1, n_chunks):
                lo2, hi2 = c2 * chunk, min((c2 + 1) * chunk, B)
                v = engine.evaluate(_pad(x0[lo2:hi2], chunk), weights(lo2, hi2)[0])
                start[lo2:hi2] = final[lo2:hi2] = hist[:, lo2:hi2] = v[: hi2 - lo2]
            done_steps = 0 if c == 0 and s == 0 else done_steps
            break
    return AscentResult(out, start, final, hist, np.asarray(record), done_steps, interrupted,
                        precision=engine.precision)


def _still(engine, x0, objectives, chunk) -> np.ndarray:
    """True for images whose step gradient is exactly zero everywhere."""
    import tensorflow as tf

    out = np.zeros(len(x0), bool)
    for lo in range(0, len(x0), chunk):
        hi = min(lo + chunk, len(x0))
        objs = list(objectives[lo:hi])
        ws = weight_arrays(objs, engine.heads, engine.shapes, engine.customs)
        w = tuple([tf.constant(a) for a in v] if isinstance(v, list) else tf.constant(v) for v in ws)
        fb = ()
        if engine.fallback:
            fws = weight_arrays([o.fallback or Objective(()) for o in objs], engine.heads,
                                engine.shapes, engine.customs)
            fb = tuple([tf.constant(a) for a in v] if isinstance(v, list) else tf.constant(v)
                       for v in fws) + (tf.constant([float(o.fallback is not None) for o in objs]),)
        out[lo:hi] = engine._gmax(x0[lo:hi], w, fb).numpy() == 0.0
    return out


def _pruned(loaded, x0, objectives, still, steps, lr, transforms, seed, chunk, history_points,
            progress, precision, measure_start) -> AscentResult:
    """Step only the moving images; the still ones come back as they went in."""
    moving = np.flatnonzero(~still)
    v = evaluate(loaded, x0[still], [objectives[i] for i in np.flatnonzero(still)], chunk)
    if progress:
        progress(int(still.sum()) * steps)
    out, start, final = x0.copy(), np.zeros(len(x0), np.float32), np.zeros(len(x0), np.float32)
    start[still] = final[still] = v
    if not len(moving):
        rec = np.asarray(sorted(set(np.linspace(0, steps - 1, min(history_points, steps))
                                    .round().astype(int))))
        return AscentResult(out, start, final, np.broadcast_to(final, (len(rec), len(x0))).copy(),
                            rec, steps, False, int(still.sum()), precision)
    r = ascend(loaded, x0[moving], [objectives[i] for i in moving], steps, lr, transforms, seed,
               chunk, history_points, progress, prune=False, precision=precision,
               measure_start=measure_start)
    out[moving], start[moving], final[moving] = r.images, r.start, r.final
    hist = np.broadcast_to(final, (len(r.history), len(x0))).copy()
    hist[:, moving] = r.history
    return AscentResult(out, start, final, hist, r.history_steps, r.steps_done, r.interrupted,
                        int(still.sum()), r.precision)


def evaluate(loaded, x: np.ndarray, objectives: list[Objective] | Objective,
             chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Objective values of images ``x`` (engine space) without changing them."""
    return ascend(loaded, x, objectives, steps=0, chunk=chunk, measure_start=False).final


def _pad(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) == n:
        return x
    return np.concatenate([x, np.repeat(x[-1:], n - len(x), axis=0)])


def forward(loaded, heads: list[tuple[str, bool]], x: np.ndarray,
            chunk: int = DEFAULT_CHUNK) -> list[np.ndarray]:
    """The outputs of ``heads`` ((layer, pre_activation) pairs) for engine-space images,
    in chunks, through the engine's one compiled forward function."""
    engine = Engine.get(loaded, heads)
    x = np.asarray(x, np.float32).reshape(-1, 28, 28, 1)
    parts = [engine.forward(x[lo:lo + chunk]) for lo in range(0, len(x), chunk)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(heads))]
