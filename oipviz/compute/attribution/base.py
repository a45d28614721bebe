"""The small base every attribution method stands on.

A method takes a :class:`~oipviz.core.loader.LoadedModel`, images in [0, 1] of the model's
geometry (N, H, W, C) and one target per image (a class index, or an
:class:`~oipviz.core.objectives.Objective`) and returns an :class:`Attribution`: one (N, H, W)
map per image plus the prediction.  A method is one file: its settings are its constructor's
arguments, and it registers under its name (:mod:`.registry`).

* A class target ``k`` means the **pre-softmax logit** of class ``k`` at the model's last
  layer (``objectives.class_logit``, its value before the softmax).
* Gradients are taken with respect to the image in **pixel space [0,1]**: the compiled
  function standardizes inside the graph (``z = (x - mean)/std``), so gradient × input
  and Integrated Gradients come out in the user's units.
* Compiled like the engine: one ``tf.function`` per (method, structure, heads,
  precision) with a free batch axis (no retracing), cached on ``loaded.cache``; batches
  are chunked.
* ``precision="bfloat16"`` (opt-in): the pixel gradients of the gradient methods run the
  engine's conv chain in bf16 (:mod:`oipviz.core.precision`, fast path only, else float32);
  the scores and probabilities are still computed in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

from oipviz.core import checks
from oipviz.core import precision as precisions
from oipviz.core.ascent import max_chunk
from oipviz.core.errors import OipvizError
from oipviz.core.layers import class_probabilities, outputs_are_probabilities
from oipviz.core.objectives import Objective, class_logit, customs_of
from oipviz.core.pixels import as_pixels

if TYPE_CHECKING:
    import tensorflow as tf

DEFAULT_CHUNK = 1024


@dataclass
class Attribution:
    """One method's maps for N images, the prediction and the target's value f(x)."""

    method: str
    maps: np.ndarray  # (N, H, W) float32, pixel space
    probs: np.ndarray  # (N,classes) the model's class probabilities
    scores: np.ndarray  # (N,) the target's value at x (a logit for class targets)
    extras: dict = field(default_factory=dict)  # method-specific arrays, e.g. completeness
    params: dict = field(default_factory=dict)
    precision: str = "float32"  # of the pixel gradients (values are always float32)
    title: str = ""  # how pictures name the method (its class's ``title``)
    signed: bool = False  # signed by definition (its class's ``signed``)


def as_images(loaded, x01) -> np.ndarray:
    """Images as float32 (N, H, W, C) in [0, 1] for the model (the API's input contract,
    :func:`oipviz.core.pixels.as_pixels`)."""
    return as_pixels(x01, loaded.geometry)[0]


def channel_map(t, absolute: bool = False):
    """A per-pixel map from a per-channel one (B, H, W, C): the largest magnitude over the
    channels for unsigned maps, the sum for signed ones (one channel: that channel)."""
    import tensorflow as tf

    if absolute:
        return tf.reduce_max(tf.abs(t), axis=-1)
    return tf.reduce_sum(t, axis=-1)


def last_layer(loaded):
    """The model's final layer (its outputs are the classes)."""
    return loaded.layers[-1]


def n_classes(loaded) -> int:
    return int(last_layer(loaded).shape[-1])


def predict_probs(loaded, x01) -> np.ndarray:
    """Class probabilities for images in [0, 1] (:func:`oipviz.core.layers.class_probabilities`),
    through the engine's compiled forward pass."""
    from oipviz.core.ascent import forward

    z = loaded.convention.to_engine(as_images(loaded, x01))
    return class_probabilities(loaded, forward(loaded, [(last_layer(loaded).name, False)], z)[0])


def as_objectives(loaded, targets, n: int) -> list[Objective]:
    """One objective per image from a class index, an Objective, or a list of either."""
    if isinstance(targets, (Objective, int, np.integer)):
        targets = [targets] * n
    targets = list(targets)
    if len(targets) != n:
        raise OipvizError(f"{len(targets)} targets for {n} images")
    last, k = last_layer(loaded).name, n_classes(loaded)
    out = []
    for t in targets:
        if isinstance(t, Objective):
            out.append(t)
            continue
        c = checks.integer("target", t)
        if not 0 <= c < k:
            raise OipvizError(f"target {c} is outside the classes 0–{k - 1}")
        out.append(class_logit(last, c))
    return out


class Split(Protocol):
    """The model split at a layer (Grad-CAM's :class:`~.gradcam.Tail`): ``a(z)`` is the
    layer's output A for engine-space images, ``split(a, z)`` the heads' outputs from A."""

    def a(self, z: tf.Tensor) -> tf.Tensor: ...

    def __call__(self, a: tf.Tensor, z: tf.Tensor) -> list[tf.Tensor]: ...


class Scorer:
    """The traced pieces every method uses: the target's value and its pixel gradient.

    Wraps the engine's model for ``heads`` (so objectives are weighted exactly as in
    :mod:`oipviz.core.ascent`) with the standardization in front.  ``precision``: of the
    gradients (``bfloat16`` needs the fast path; :attr:`precision` says what is used).
    """

    def __init__(
        self, loaded, heads: list[tuple[str, bool]], customs: tuple, precision: str = "float32"
    ):
        from oipviz.core.ascent import Engine

        self.engine = Engine.get(loaded, heads, customs, precision=precision)
        self.precision = self.engine.precision
        self.low = self.precision != "float32"
        self.heads = list(heads)
        self.shapes = self.engine.shapes
        self.mean, self.std = loaded.convention.mean, loaded.convention.std
        self.prob_head = self.heads.index((last_layer(loaded).name, False))
        self.softmax_out = outputs_are_probabilities(loaded)
        self.tail: Split | None = None  # set by a method's prepare (Grad-CAM's split)

    def acts(self, x, low: bool = False):
        """All heads' outputs (float32) for pixel-space images ``x``; ``low``: computed at
        the gradients' precision."""
        return self.engine.activations((x - self.mean) / self.std, low=low)

    def value(self, acts, w):
        return self.engine.value(acts, w)

    def probs(self, acts):
        import tensorflow as tf

        out = acts[self.prob_head]
        return out if self.softmax_out else tf.nn.softmax(out, axis=-1)

    def score(self, x, w, low: bool = False):
        """(target value (B,), heads' outputs)."""
        acts = self.acts(x, low)
        return self.value(acts, w), acts

    def _taped(self, x, w):
        """(value, d value / d x (B, H, W, C), outputs), all at the gradients' precision."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            s, acts = self.score(x, w, self.low)
        return s, tape.gradient(s, x), acts

    def gradient(self, x, w):
        """d value / d x (B, H, W, C) at the gradients' precision."""
        return self._taped(x, w)[1]

    def grad(self, x, w):
        """(target value (B,), d value / d x (B, H, W, C), heads' outputs); the value and
        outputs are float32 (a separate float32 pass when the gradient is bf16)."""
        s, g, acts = self._taped(x, w)
        if self.low:
            s, acts = self.score(x, w)
        return s, g, acts


class Method:
    """Base of the attribution methods: subclasses set ``name``/``title``, take their
    settings as constructor arguments, implement :meth:`graph` (traced once) and register
    with :func:`oipviz.compute.attribution.registry.register`; runtime numbers travel as
    tensors in :meth:`args`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: the method needs a conv layer (Grad-CAM): skipped on models without one
    needs_conv: ClassVar[bool] = False
    #: where the method comes in "all" (lower first)
    order: ClassVar[int] = 100
    signed: bool = False  # maps can be negative (shown with a diverging map)
    layer: str | None = None
    #: its gradients go through the engine (``bfloat16`` applies); else always float32
    low_precision: ClassVar[bool] = True
    #: :meth:`graph` loops over tensors (``for i in tf.range(n)``), which needs AutoGraph;
    #: plain graphs are traced without it (its conversion costs about 0.6 s per trace,
    #: e.g. at every training point of a timeline), as the engine's are
    autograph: ClassVar[bool] = False

    # -- what subclasses define
    def graph(self, f: Scorer, x, w, *args) -> dict:
        """Traced: returns {"map": (B, H, W), "score": (B,), "probs": (B, classes), ...}."""
        raise NotImplementedError

    def args(self, loaded, lo: int) -> tuple:
        """Runtime tensors for the chunk starting at image ``lo`` (numbers, masks, seeds)."""
        return ()

    def arg_specs(self, loaded) -> tuple:
        """The input signature of :meth:`args`."""
        return ()

    def extra_heads(self, loaded) -> list[tuple[str, bool]]:
        return []

    def prepare(self, loaded, f: Scorer) -> None:
        """Build what :meth:`graph` needs besides ``f`` (Keras objects: not while tracing)."""

    def params(self) -> dict:
        """The settings, for manifests and result tables."""
        return {}

    # -- shared machinery
    def key(self) -> tuple:
        return (type(self).__name__, self.layer)

    def _compiled(self, loaded, heads, customs, precision: str = "float32"):
        """(the compiled function, its :class:`Scorer`), built once per model and key."""
        import tensorflow as tf

        from oipviz.core import fastpath

        cache = loaded.cache.setdefault("attribution", {})
        key = (self.key(), tuple(heads), customs, fastpath.enabled(), precision)
        if key not in cache:
            f = Scorer(loaded, heads, customs, precision)
            self.prepare(loaded, f)
            specs = [f.engine.image_spec(), f.engine.weight_specs(), *self.arg_specs(loaded)]
            fn = tf.function(
                lambda x, w, *a: self.graph(f, x, w, *a),
                input_signature=specs,
                jit_compile=False,
                autograph=self.autograph or bool(customs),  # users' objectives: as the engine
            )
            cache[key] = (fn, f)
        return cache[key]

    def bind(self, loaded) -> None:
        """Settle settings that depend on the model (its conv layer, patch sizes) before a
        call; nothing by default."""

    def __call__(
        self,
        loaded,
        images,
        targets,
        chunk: int = DEFAULT_CHUNK,
        progress: Callable[[int], None] | None = None,
        precision: str = "float32",
    ) -> Attribution:
        """Maps for ``images`` ((N, H, W, C) in [0, 1], or any shape the input contract
        accepts) and ``targets`` (one per image or one
        for all), in chunks of ``chunk`` images (one compiled call each).  ``precision``
        of the gradients: float32, bfloat16 or auto (:mod:`oipviz.core.precision`); the result
        records the one used."""
        import tensorflow as tf

        precision = precisions.resolve(precision)  # one-line error if unknown
        precision = precision if self.low_precision else "float32"
        self.bind(loaded)
        x = as_images(loaded, images)
        objs = as_objectives(loaded, targets, len(x))
        last = last_layer(loaded).name
        heads = list(
            dict.fromkeys(
                [h for o in objs for h in o.heads] + [(last, False)] + self.extra_heads(loaded)
            )
        )
        customs = customs_of(objs)
        fn, f = self._compiled(loaded, heads, customs, precision)
        chunk = min(checks.integer("chunk", chunk, 1), max_chunk(loaded))
        parts: list[dict] = []
        for lo in range(0, len(x), chunk):
            hi = min(lo + chunk, len(x))
            w = f.engine.weights(objs[lo:hi])
            out = fn(tf.constant(x[lo:hi]), w, *self.args(loaded, lo))
            parts.append({k: v.numpy() for k, v in out.items()})
            if progress:
                progress(hi - lo)
        cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        maps, probs, scores = cat.pop("map"), cat.pop("probs"), cat.pop("score")
        return Attribution(
            self.name,
            maps.astype(np.float32),
            probs.astype(np.float32),
            scores.astype(np.float32),
            cat,
            dict(self.params(), precision=f.precision),
            f.precision,
            self.title or self.name,
            bool(self.signed),
        )
