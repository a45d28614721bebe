"""``oipviz.explain``: several attribution methods on the same images, one result.

    res = oipviz.explain(digits, methods="all", target="predicted")
    res.maps["ig"], res.predicted, res.probability     # (N, H, W), (N,), (N,)
    res                                                # in Jupyter: the grid picture

Class scores are pre-softmax logits; gradients are taken in pixel space [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from oipviz.compute.attribution.base import Attribution, n_classes, predict_probs
from oipviz.compute.attribution.registry import METHODS, build_methods, method_names
from oipviz.core import checks
from oipviz.core import precision as precisions
from oipviz.core.errors import OipvizError
from oipviz.core.objectives import Objective
from oipviz.core.pixels import as_pixels

if TYPE_CHECKING:
    from oipviz.compute.attribution.sanity import SanityResult

TARGET_MODES = ("predicted", "true")


@dataclass
class ExplainResult:
    """Maps of every method for N images, with the inputs, prediction and targets."""

    images: np.ndarray  # (N, H, W, C) in [0, 1]
    methods: list[str]
    attributions: dict[str, Attribution]
    probs: np.ndarray  # (N,classes)
    targets: list  # per image: a class index or an objective name
    target_mode: str  # predicted | true | class | objective
    labels: np.ndarray | None = None
    sources: list[str] = field(default_factory=list)
    model_name: str = ""
    sanity: SanityResult | None = None  # with sanity=True
    notes: list[str] = field(default_factory=list)  # conversions made, methods skipped

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


def read_inputs(loaded, images) -> tuple[np.ndarray, list[str], list[str]]:
    """(images (N, H, W, C) in [0, 1], their sources, notes): arrays through the API's input
    contract; image files (paths) read and made into model inputs
    (:func:`oipviz.data.inputs.load_inputs`: MNIST-style for digit models)."""
    if isinstance(images, str | Path) or (
        isinstance(images, list | tuple) and images and isinstance(images[0], str | Path)
    ):
        from oipviz.data.inputs import load_inputs

        inputs = load_inputs([images] if isinstance(images, str | Path) else list(images),
                             loaded.geometry)  # fmt: skip
        x = np.stack([i.x01 for i in inputs]).astype(np.float32)
        return x.reshape(-1, *loaded.geometry.shape), [i.source for i in inputs], []
    x, notes = as_pixels(images, loaded.geometry)
    return x, [f"image #{i}" for i in range(len(x))], notes


def applicable(loaded, names: list[str]) -> tuple[list[str], list[str]]:
    """(the methods that apply to the model, notes on those skipped: Grad-CAM needs a conv
    layer)."""
    if loaded.conv_layers():
        return names, []
    skipped = [n for n in names if METHODS[n].needs_conv]
    note = f"skipped {', '.join(skipped)}: {loaded.name} has no conv layer" if skipped else ""
    return [n for n in names if n not in skipped], [note] if note else []


def explain(
    images, methods: str | Sequence[str] = "all", target="predicted", model=None, labels=None,
    *, seed: int = 0, sanity: bool = False, reference=None, chunk: int = 1024,
    progress: Callable[[str, int, int], None] | bool | None = False,
    sources: list[str] | None = None, precision: str = "float32", **settings,
) -> ExplainResult:  # fmt: skip
    """Attribution maps of ``methods`` for ``images``.

    Parameters
    ----------
    images : array or path(s)
        Pixels in [0, 1] (uint8 0–255 is scaled; see :mod:`oipviz.core.pixels`) shaped like
        the model's images, or image files (made into model inputs: MNIST-style for digit
        models).
    methods : str or list
        ``"all"`` (the methods that apply to the model), ``"saliency,ig"`` or a list.
    target :
        ``"predicted"``, ``"true"`` (needs ``labels``), a class index, an
        :class:`~oipviz.core.objectives.Objective`, or one per image.
    model, labels, seed, chunk :
        The model (None: the bundled one), the true classes, the seed, images per call.
    sanity : bool
        Adds model randomization, the random-weight comparison against ``reference`` (a
        model; :func:`oipviz.explain` brings the zoo's random_features) and
        deletion/insertion (:func:`oipviz.compute.attribution.sanity.sanity`).
    progress : callable, False or None
        ``progress(stage, n, total)``.
    precision : str
        Of the gradients of saliency, gradinput, SmoothGrad and IG (float32, bfloat16 or
        auto); scores stay float32, and ``res.precision`` says what each method used.
    **settings :
        The methods' settings: ``samples``, ``noise``, ``absolute`` (SmoothGrad),
        ``ig_steps``, ``baseline`` (IG), ``layer`` (Grad-CAM), ``patch``, ``stride``,
        ``occlusion_value`` (occlusion); a registered method's own settings by name.

    Returns
    -------
    ExplainResult
        Class scores are the pre-softmax logits; gradients are in pixel space [0, 1].
    """
    from oipviz.core.loader import as_loaded
    from oipviz.core.progress import Stages

    precisions.check(precision)
    chunk, seed = checks.integer("chunk", chunk, 1), checks.seed(seed)
    names = method_names(methods)
    loaded = as_loaded(model)
    if isinstance(methods, str) and methods.strip().lower() == "all":
        names, skipped = applicable(loaded, names)
    else:
        skipped = []
    table = build_methods(names, seed=seed, **settings)
    x, found, notes = read_inputs(loaded, images)
    labels = None if labels is None else np.asarray(labels).reshape(-1)
    if labels is not None and len(labels) != len(x):
        raise OipvizError(f"{len(labels)} labels for {len(x)} images")
    probs = predict_probs(loaded, x)
    targets, mode = resolve_targets(loaded, target, probs, labels)
    stages = Stages(progress)
    attrs = {
        name: m(loaded, x, targets, chunk=chunk, progress=stages.tick(name, len(x)),
                precision=precision)
        for name, m in table.items()
    }  # fmt: skip
    stages.close()
    shown = [t.name if isinstance(t, Objective) else int(t) for t in targets]
    res = ExplainResult(x, list(table), attrs, probs, shown, mode, labels, sources or found,
                        loaded.name, notes=notes + skipped)  # fmt: skip
    if sanity:
        from oipviz.compute.attribution.sanity import sanity as run_sanity

        res.sanity = run_sanity(loaded, x, targets, table, res.maps, seed=seed,
                                reference=reference, progress=progress)  # fmt: skip
    return res


def gradcam_maps(
    model, images, layer: str | None = None, target="predicted", plus: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the gallery: Grad-CAM (``plus``: Grad-CAM++) of ``images`` on conv ``layer``
    (default: the last).  Returns (maps (N, H, W) upsampled, cams (N, h, w) at the
    layer's resolution, class probabilities (N, classes))."""
    res = explain(images, ["gradcampp" if plus else "gradcam"], target, model, layer=layer)
    a = next(iter(res.attributions.values()))
    return a.maps, a.extras["cam"], a.probs
