"""``oipviz.explain``: several attribution methods on the same digits, one result.

    res = oipviz.explain(digits, methods="all", target="predicted")
    res.maps["ig"], res.predicted, res.probability     # (N,28,28), (N,), (N,)
    res                                                # in Jupyter: the grid picture

Class scores are pre-softmax logits; gradients are taken in pixel space [0,1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from oipviz.compute.attribution import METHODS, method_names
from oipviz.compute.attribution.base import Attribution, Method, as_images, n_classes, predict_probs
from oipviz.core import checks
from oipviz.core import precision as precisions
from oipviz.core.errors import OipvizError
from oipviz.core.objectives import Objective

TARGET_MODES = ("predicted", "true")


@dataclass
class ExplainResult:
    """Maps of every method for N images, with the inputs, prediction and targets."""

    images: np.ndarray  # (N,28,28) in [0,1]
    methods: list[str]
    attributions: dict[str, Attribution]
    probs: np.ndarray  # (N,classes)
    targets: list  # per image: a class index or an objective name
    target_mode: str  # predicted | true | class | objective
    labels: np.ndarray | None = None
    sources: list[str] = field(default_factory=list)
    model_name: str = ""
    sanity: object = None  # a SanityResult with sanity=True

    @property
    def maps(self) -> dict[str, np.ndarray]:
        return {m: self.attributions[m].maps for m in self.methods}

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def probability(self) -> np.ndarray:
        return self.probs.max(axis=1)

    def params(self) -> dict:
        return {m: self.attributions[m].params for m in self.methods}

    @property
    def precision(self) -> dict[str, str]:
        """The precision each method's gradients were computed in (float32 or bfloat16)."""
        return {m: self.attributions[m].precision for m in self.methods}

    def figure(self, rows: int = 16):
        """The grid picture (PIL): input, prediction, one heatmap per method."""
        from oipviz.render.explain import grid_figure

        return grid_figure(self, rows)

    def _repr_html_(self) -> str:
        from oipviz.render.notebook import card

        facts = {
            "model": self.model_name,
            "images": len(self.images),
            "methods": ", ".join(self.methods),
            "target": self.target_mode,
            "predicted": " ".join(map(str, self.predicted[:16].tolist())),
        }
        if self.sanity is not None:
            facts.update(self.sanity.summary())
        return card("oipviz.explain", facts, self.figure(rows=8))


def build_methods(
    names: Sequence[str],
    layer: str | None = None,
    samples: int = 50,
    noise: float = 0.2,
    steps: int = 64,
    baseline="black",
    patch: int = 4,
    stride: int = 2,
    occlusion_value: float = 0.0,
    seed: int = 0,
) -> dict[str, Method]:
    """Method objects for ``names`` with the given settings."""
    make = {
        "saliency": lambda: METHODS["saliency"](),
        "gradinput": lambda: METHODS["gradinput"](),
        "smoothgrad": lambda: METHODS["smoothgrad"](samples, noise, seed),
        "ig": lambda: METHODS["ig"](steps, baseline),
        "gradcam": lambda: METHODS["gradcam"](layer),
        "gradcampp": lambda: METHODS["gradcampp"](layer),
        "occlusion": lambda: METHODS["occlusion"](patch, stride, occlusion_value),
    }
    return {n: make[n]() for n in method_names(names)}


def resolve_targets(loaded, target, probs: np.ndarray, labels) -> tuple[list, str]:
    """Per-image targets from ``predicted``, ``true`` (needs labels), a class index, an
    Objective, or a list of class indices/objectives; and the mode's name."""
    n = len(probs)
    if isinstance(target, str):
        t = target.strip().lower()
        if t == "predicted":
            return probs.argmax(axis=1).tolist(), "predicted"
        if t == "true":
            if labels is None:
                raise OipvizError(
                    "target 'true' needs labels; give labels= (or use --samples "
                    "digits from the data sources)"
                )
            return [int(v) for v in np.asarray(labels).reshape(-1)], "true"
        try:
            target = int(t)
        except ValueError:
            raise OipvizError(
                f"bad target {target!r}; use predicted, true or a class 0–{n_classes(loaded) - 1}"
            ) from None
    if isinstance(target, Objective):
        return [target] * n, "objective"
    if isinstance(target, (int, np.integer)):
        k = n_classes(loaded)
        if not 0 <= int(target) < k:
            raise OipvizError(f"target {int(target)} is outside the classes 0–{k - 1}")
        return [int(target)] * n, "class"
    items = list(target)
    if len(items) != n:
        raise OipvizError(f"{len(items)} targets for {n} images")
    return items, "list"


def read_inputs(images) -> tuple[np.ndarray, list[str]]:
    """Arrays as they are; image files (paths) converted with ``mnist_style``."""
    if isinstance(images, (str, Path)) or (
        isinstance(images, (list, tuple)) and images and isinstance(images[0], (str, Path))
    ):
        from oipviz.compute.activations import load_inputs

        inputs = load_inputs([images] if isinstance(images, (str, Path)) else list(images))
        return np.stack([i.x01 for i in inputs]).astype(np.float32), [i.source for i in inputs]
    x = as_images(images)[..., 0]
    return x, [f"image #{i}" for i in range(len(x))]


def explain(
    images,
    methods: str | Sequence[str] = "all",
    target="predicted",
    model=None,
    labels=None,
    layer: str | None = None,
    samples: int = 50,
    noise: float = 0.2,
    steps: int = 64,
    baseline="black",
    patch: int = 4,
    stride: int = 2,
    occlusion_value: float = 0.0,
    seed: int = 0,
    sanity: bool = False,
    chunk: int = 1024,
    progress: Callable[[str, int, int], None] | bool | None = False,
    sources: list[str] | None = None,
    data=None,
    precision: str = "float32",
) -> ExplainResult:
    """Attribution maps of ``methods`` for ``images``.

    images: (N,28,28[,1]) in [0,1], or image file path(s) (converted to MNIST style).
    methods: ``"all"``, ``"saliency,ig"`` or a list (saliency, gradinput, smoothgrad, ig,
    gradcam, gradcampp, occlusion).  target: ``"predicted"``, ``"true"`` (needs
    ``labels``), a class index, an :class:`~oipviz.core.objectives.Objective`, or one per image.
    Class scores are the pre-softmax logits; gradients are in pixel space [0,1].
    ``sanity=True`` adds model randomization, the random-weight comparison and
    deletion/insertion (:func:`oipviz.compute.attribution.sanity.sanity`; ``data`` is where the
    random-features model's head is trained).  ``progress(stage, n, total)``.
    ``precision``: of the gradients of saliency, gradinput, SmoothGrad and IG (float32,
    bfloat16 or auto, :mod:`oipviz.core.precision`); scores and probabilities stay float32, and
    ``res.precision`` says what each method used (the sanity checks run in float32).
    """
    from oipviz.core.loader import as_loaded
    from oipviz.core.progress import Stages

    precisions.check(precision)
    x, found = read_inputs(images)
    labels = None if labels is None else np.asarray(labels).reshape(-1)
    if labels is not None and len(labels) != len(x):
        raise OipvizError(f"{len(labels)} labels for {len(x)} images")
    chunk = checks.integer("chunk", chunk, 1)
    table = build_methods(
        method_names(methods),
        layer,
        samples,
        noise,
        steps,
        baseline,
        patch,
        stride,
        occlusion_value,
        seed,
    )
    loaded = as_loaded(model)
    probs = predict_probs(loaded, x)
    targets, mode = resolve_targets(loaded, target, probs, labels)
    stages = Stages(progress)
    attrs = {}
    for name, m in table.items():
        attrs[name] = m(
            loaded, x, targets, chunk=chunk, progress=stages.tick(name, len(x)), precision=precision
        )
    stages.close()
    shown = [t.name if isinstance(t, Objective) else int(t) for t in targets]
    res = ExplainResult(
        x, list(table), attrs, probs, shown, mode, labels, sources or found, loaded.name
    )
    if sanity:
        from oipviz.compute.attribution.sanity import sanity as run_sanity

        res.sanity = run_sanity(
            loaded, x, targets, table, res.maps, seed=seed, data=data, progress=progress
        )
    return res


def gradcam_maps(
    model, images, layer: str | None = None, target="predicted", plus: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the gallery: Grad-CAM (``plus``: Grad-CAM++) of ``images`` (N,28,28[,1] in
    [0,1]) on conv ``layer`` (default: the last).  Returns (maps (N,28,28) upsampled,
    cams (N,h,w) at the layer's resolution, class probabilities (N,classes))."""
    res = explain(images, ["gradcampp" if plus else "gradcam"], target, model, layer=layer)
    a = next(iter(res.attributions.values()))
    return a.maps, a.extras["cam"], a.probs
