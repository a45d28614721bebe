"""An exact fast path for the conv chain of Sequential MNIST CNNs (issue #12, lever 1).

The heads' outputs are computed op by op from the layers' own variables, with the same
TF ops as Keras (conv2d + bias_add + activation, max_pool2d, matmul), but only on the
rows and columns some requested head sees: valid convs and 2×2 pools look only down and
right, so for conv3 of the bundled model the input is cropped to 26×26, conv1 to 24×24
and conv2 to 10×10 (the row and column pool2 drops are never computed).

Measured (bench/fastpath_variants.py, TF 2.21, 2-core EPYC): this crop runs the engine
step at 1.11× the Keras path and gives the same images.  Not kept: a 1-channel conv and
its max-pool fused into one stride-2 "taps" conv plus ``tf.maximum`` over the 4 offsets
(0.41× Keras), 2×2 pools as reshape + ``tf.maximum`` (0.32×), and only each image's own
conv3 filter (0.81×).  With ``TF_ENABLE_ONEDNN_OPTS=0`` some of them beat Keras run the
same way, but Keras itself is then about 2× slower, so all are slower than the default.

:func:`for_heads` builds the path for a set of heads once per loaded model, checks it
against the Keras model (forward values and input gradients, on random and constant
images) and returns None (use Keras) for models it does not cover or where the check
fails.  ``OIPVIZ_FASTPATH=0`` in the environment forces the Keras path.
"""

from __future__ import annotations

import os

import numpy as np

from oipviz.core.tfenv import import_keras

#: the self-check: |fast - keras| <= ATOL + RTOL·max|keras| per head and for the gradient
RTOL, ATOL = 1e-4, 1e-5
_ACTS = ("relu", "linear")


def enabled() -> bool:
    """False when ``OIPVIZ_FASTPATH=0`` (the switch tests and benches use)."""
    return os.environ.get("OIPVIZ_FASTPATH", "1").strip() not in ("0", "off", "false", "no")


class Unsupported(Exception):
    """The model has something the fast path does not cover."""


def _act(layer) -> str:
    return getattr(getattr(layer, "activation", None), "__name__", "linear")


def _ops(loaded) -> list[tuple]:
    """The model as a chain of (kind, layer) ops; Unsupported for anything else."""
    keras = import_keras()
    model = loaded.model
    if (
        loaded.geometry.flat
        or len(loaded.geometry.model_shape) != 3
        or not isinstance(model, keras.Sequential)
    ):
        raise Unsupported("not a Sequential model on (height, width, channels) images")
    ops, flat = [], False
    for ly in model.layers:
        kind, cfg = ly.__class__.__name__, ly.get_config()
        if kind == "Conv2D" and not flat:
            if (
                tuple(cfg["strides"]) != (1, 1)
                or cfg["padding"] != "valid"
                or tuple(cfg["dilation_rate"]) != (1, 1)
                or cfg.get("groups", 1) != 1
                or cfg.get("data_format", "channels_last") != "channels_last"
                or _act(ly) not in _ACTS
            ):
                raise Unsupported(
                    f"conv {ly.name}: strides {cfg['strides']}, padding "
                    f"{cfg['padding']}, activation {_act(ly)}"
                )
            ops.append(("conv", ly))
        elif kind == "MaxPooling2D" and not flat:
            if (
                tuple(cfg["pool_size"]) != (2, 2)
                or tuple(cfg["strides"] or (2, 2)) != (2, 2)
                or cfg["padding"] != "valid"
            ):
                raise Unsupported(f"pool {ly.name}")
            ops.append(("pool", ly))
        elif kind == "Flatten":
            flat = True
            ops.append(("flatten", ly))
        elif kind == "Dense" and flat and _act(ly) in _ACTS + ("softmax",):
            ops.append(("dense", ly))
        elif kind == "Dropout":
            ops.append(("identity", ly))
        else:
            raise Unsupported(f"layer {ly.name} ({kind})")
    return ops


class FastChain:
    """The heads' outputs for engine-space images, computed op by op from the layers'
    own variables (so weights set later are seen)."""

    def __init__(self, loaded, heads: list[tuple[str, bool]]):
        self.heads = list(heads)
        self.ops = _ops(loaded)
        self.affine = loaded.convention.affine()
        self.bgr = loaded.convention.bgr
        names = [ly.name for _, ly in self.ops]
        for name, _ in self.heads:
            if name not in names:
                raise Unsupported(f"head {name}")
        self.last = max(names.index(n) for n, _ in self.heads)
        self.crop = self._crops(names)

    def _crops(self, names) -> list[int | None]:
        """[input rows, output rows of op 0, op 1, ...] that must be computed (rows = cols;
        None: not spatial).  Valid convs and pools only look down and right, so each op
        needs the top-left corner of its input that its consumers need."""
        want = {names.index(n) for n, _ in self.heads}
        need: list[int | None] = [None] * (self.last + 2)
        for i in range(self.last, -1, -1):
            kind, ly = self.ops[i]
            if kind not in ("conv", "pool", "identity") or len(ly.output.shape) != 4:
                continue
            full = int(ly.output.shape[1])
            after = need[i + 1] if i < self.last else None
            n = full if (i in want or after is None) else min(full, after)
            need[i + 1] = n
            need[i] = (
                n + int(ly.kernel.shape[0]) - 1
                if kind == "conv"
                else 2 * n
                if kind == "pool"
                else n
            )
        return need

    def __call__(self, z, dtype=None) -> list:
        """The heads' outputs (float32) for images ``z``; ``dtype`` (e.g. tf.bfloat16):
        compute the chain in that type, with the weights cast to it."""
        import tensorflow as tf

        a, b = self.affine
        h = z if (np.isscalar(a) and (a, b) == (1.0, 0.0)) else z * a + b
        if self.bgr:
            h = tf.reverse(h, axis=[-1])
        h = _corner(h, self.crop[0])
        cast = (lambda t: t) if dtype is None else (lambda t: tf.cast(t, dtype))
        h = cast(h)
        out: dict = {}
        for i in range(self.last + 1):
            kind, ly = self.ops[i]
            pre = None
            if kind == "conv":
                pre = _bias(tf.nn.conv2d(h, cast(ly.kernel), 1, "VALID"), ly, cast)
            elif kind == "pool":
                h = tf.nn.max_pool2d(h, 2, 2, "VALID")
            elif kind == "flatten":
                h = tf.reshape(h, [-1, int(np.prod(ly.output.shape[1:]))])
            elif kind == "dense":
                pre = _bias(tf.matmul(h, cast(ly.kernel)), ly, cast)
            n = self.crop[i + 1]
            if pre is not None:
                pre = _corner(pre, n) if kind == "conv" else pre
                h = _activate(pre, ly)
            elif kind == "pool":
                h = _corner(h, n)
            out[(ly.name, False)] = h
            out[(ly.name, True)] = h if pre is None else pre
        if dtype is None:
            return [out[k] for k in self.heads]
        return [tf.cast(out[k], tf.float32) for k in self.heads]


def _corner(t, n: int | None):
    """The top-left n×n of t (B,H,W,C); shapes unknown at trace time are sliced too.
    A ``tf.slice`` whose gradient is a zero-pad with static paddings where the shape is
    known: the strided slice ``t[:, :n, :n]`` has a gradient several times slower on CPU,
    and the slice's own (a Pad with computed paddings) loses the static shape."""
    import tensorflow as tf

    if n is None or (t.shape[1] is not None and t.shape[1] <= n and t.shape[2] <= n):
        return t
    shape = t.shape

    @tf.custom_gradient
    def corner(x):
        def grad(g):
            h = shape[1] if shape[1] is not None else tf.shape(x)[1]
            w = shape[2] if shape[2] is not None else tf.shape(x)[2]
            out = tf.pad(g, [[0, 0], [0, h - n], [0, w - n], [0, 0]])
            out.set_shape(shape)
            return out

        out = tf.slice(x, [0, 0, 0, 0], [-1, n, n, -1])
        out.set_shape([shape[0], n, n, shape[3]])
        return out, grad

    return corner(t)


def _bias(t, layer, cast=lambda b: b):
    import tensorflow as tf

    return tf.nn.bias_add(t, cast(layer.bias)) if layer.use_bias else t


def _activate(pre, layer):
    import tensorflow as tf

    return {"relu": tf.nn.relu, "softmax": tf.nn.softmax}.get(_act(layer), tf.identity)(pre)


def check(loaded, fast: FastChain, keras_model) -> str | None:
    """None if ``fast`` matches ``keras_model`` (forward values of every head and the input
    gradient of a random weighting of them) on random and constant images, else why not."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    shape = loaded.geometry.shape
    black = loaded.convention.to_engine(np.zeros((1, *shape)))
    x = np.concatenate([rng.normal(size=(4, *shape)), black, np.full((1, *shape), 1.5)])
    x = tf.constant(x.astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        want = list(keras_model(x))
        got = fast(x)
        r = [
            tf.constant(rng.normal(size=(6,) + tuple(w.shape[1:])).astype(np.float32)) for w in want
        ]
        lw = sum(tf.reduce_sum(w * q) for w, q in zip(want, r))
        lg = sum(tf.reduce_sum(g * q) for g, q in zip(got, r))
    pairs = list(zip(got, want)) + [(tape.gradient(lg, x), tape.gradient(lw, x))]
    for k, (g, w) in enumerate(pairs):
        g, w = np.asarray(g), np.asarray(w)
        err = np.abs(g - w).max() if g.shape == w.shape else np.inf
        if not err <= ATOL + RTOL * np.abs(w).max():
            what = "input gradient" if k == len(got) else f"head {fast.heads[k]}"
            return f"{what} differs by {err:.3g}"
    return None


def for_heads(loaded, heads: list[tuple[str, bool]], keras_model):
    """The checked fast path for ``heads`` of ``loaded`` (cached on the model), or None:
    switched off, not covered, or the check against ``keras_model`` failed."""
    if not enabled():
        return None
    cache = loaded.cache.setdefault("fastpath", {})
    key = tuple(heads)
    if key not in cache:
        try:
            fast = FastChain(loaded, heads)
            why = check(loaded, fast, keras_model)
        except Exception as exc:  # not covered (Unsupported) or a failure: use Keras
            fast, why = None, f"{type(exc).__name__}: {exc}"
        cache[key] = None if why else fast
        loaded.cache.setdefault("fastpath_refused", {})[key] = why
    return cache[key]
