"""Measure a model at one training point: the tracked maps' OIPs (warm-started from the
previous point's), the probe inputs' activations, one attribution method on a few probes,
the first conv layer's kernels and the metrics.  Compute only: it returns
:class:`~oipviz.timeline.point.TimelinePoint` results and writes nothing.

Everything goes through the engine of :mod:`oipviz.core.ascent` on one
:class:`~oipviz.core.loader.LoadedModel` that wraps the model being trained: the
compiled engines read the layers' live variables, so they are built once and reused at
every point.
"""

from __future__ import annotations

import re
import time

import numpy as np

from oipviz.core import checks
from oipviz.core.errors import DataError, OipvizError
from oipviz.timeline.point import Position, TimelinePoint
from oipviz.timeline.spec import TrackSpec

MAX_PROBES = 256
_TWIN = re.compile(r"^(?P<name>.+)_preact(_\d+)?$")


def probe_images(
    probes=8, dataset: str = "mnist", seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """The probe inputs (P, 28, 28, 1) in [0, 1] and their labels (None if unknown).

    ``probes``: an array of images in [0, 1] ((P,28,28) or (P,28,28,1)), or a count: that
    many held-out images of ``dataset``, one class after the other (0, 1, 2, ...), the
    first of each class in the held-out split (the offline split of ``seed``).
    """
    if isinstance(probes, (int, np.integer)) and not isinstance(probes, bool):
        n = checks.integer("probes", probes, 1, MAX_PROBES)
        from oipviz.data.inputs import real_images

        x, y, _ = real_images(dataset, None, seed, "test")
        order = _one_per_class(y, n)
        return x[order].astype(np.float32), y[order].astype(np.int64)
    x = checks.finite_array("probes", probes)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1) or not 1 <= len(x) <= MAX_PROBES:
        raise DataError(
            f"probes must be 1 to {MAX_PROBES} images shaped (P,28,28) or (P,28,28,1), "
            f"got {x.shape}"
        )
    if x.min() < 0.0 or x.max() > 1.0:
        raise DataError("probe pixels must be in [0, 1] (divide uint8 images by 255)")
    return np.ascontiguousarray(x), None


def _one_per_class(y: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` images taking the classes in turn (the first unused of each)."""
    queues = {int(c): list(np.flatnonzero(y == c)) for c in np.unique(y)}
    out: list[int] = []
    while len(out) < min(n, len(y)):
        for c in sorted(queues):
            if queues[c] and len(out) < n:
                out.append(int(queues[c].pop(0)))
    return np.asarray(out, np.int64)


class Recorder:
    """Measures ``loaded`` (a wrapper of the model being trained) at training points.

    Parameters
    ----------
    loaded : LoadedModel
        The model (:func:`oipviz.core.loader.wrap_model`); its engines are reused.
    spec : TrackSpec
        What to track; its layers and maps are checked against ``loaded`` here.
    probes : ndarray
        (P, 28, 28, 1) probe inputs in [0, 1] (:func:`probe_images`).
    validation : tuple, optional
        (images (N,28,28[,1]) in [0, 1], labels): ``heldout_accuracy`` and
        ``heldout_loss`` (cross-entropy) at every point.
    previous : TimelinePoint, optional
        The last point already recorded (resume: the next OIPs start from its images).
    """

    def __init__(self, loaded, spec: TrackSpec, probes: np.ndarray, validation=None, previous=None):
        self.loaded, self.spec = loaded, spec
        self.maps = spec.resolve(loaded)
        convs = loaded.conv_layers()
        self.kernel_layer = convs[0].name if convs else ""
        self.probes = probes
        self.validation = _check_validation(validation, int(loaded.layers[-1].shape[-1]))
        self.previous: TimelinePoint | None = previous
        if previous is not None and previous.layers != list(self.maps):
            raise OipvizError("the recorded points track other layers; use a new output folder")

    def record(self, position: Position, logs: dict | None = None) -> TimelinePoint:
        """Measure the model now; the point becomes the next one's warm start.  Ctrl-C
        during its ascent raises KeyboardInterrupt (no half-measured point)."""
        t0 = time.perf_counter()
        runs = {}
        for layer, maps in self.maps.items():
            before = self.previous.runs[layer].images if self.previous is not None else None
            steps = self.spec.steps if before is not None else self.spec.first_steps
            runs[layer] = self._oips(layer, maps, steps, before)
        attribution, predicted, probability = self._attribution()
        point = TimelinePoint(
            position,
            runs,
            self._probe_activations(),
            attribution,
            predicted,
            probability,
            self._kernels(),
            self.kernel_layer,
            dict(_scalars(logs), **self._heldout()),
        )
        point.seconds = time.perf_counter() - t0
        self.previous = point
        return point

    def _oips(self, layer: str, maps: list[int], steps: int, init_images=None):
        from oipviz.compute.oip import oip

        run = oip(
            layer, maps, self.loaded, inits=self.spec.inits, steps=steps, lr=self.spec.lr,
            seed=self.spec.seed, range_mode=self.spec.range_mode, style=self.spec.style,
            progress=False, init_images=init_images,
        )  # fmt: skip
        if run.interrupted:
            raise KeyboardInterrupt
        return run

    def _probe_activations(self) -> dict[str, np.ndarray]:
        from oipviz.core.ascent import forward

        # the heads of the OIPs' engine (valid range: the map and its pre-activation), so
        # the fast path's self-check made for the OIPs serves this forward pass too
        pre = (True,) if self.spec.range_mode == "valid" else ()
        heads = [(layer, p) for layer in self.maps for p in (False, *pre)]
        outs = forward(self.loaded, heads, self.loaded.convention.to_engine(self.probes))
        per_layer = outs[:: 1 + len(pre)]
        return {
            layer: np.ascontiguousarray(a[..., maps])
            for (layer, maps), a in zip(self.maps.items(), per_layer, strict=True)
        }

    def _probabilities(self, x01: np.ndarray) -> np.ndarray:
        """Class probabilities (:func:`oipviz.core.layers.class_probabilities`, the one
        softmax rule), through the engine's forward pass on the last layer's logits and
        outputs: the heads the attribution's engine has, so both share one fast-path check."""
        from oipviz.core.ascent import forward
        from oipviz.core.layers import class_probabilities

        last = self.loaded.layers[-1].name
        z = self.loaded.convention.to_engine(x01)
        _, out = forward(self.loaded, [(last, True), (last, False)], z)
        return class_probabilities(self.loaded, out)

    def _attribution(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The attribution of the predicted class on the first probes."""
        from oipviz.compute.attribution import METHODS

        n = min(self.spec.attribution_probes, len(self.probes))
        if n == 0:
            h, w = self.loaded.geometry.shape[:2]
            return np.zeros((0, h, w), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32)
        x = self.probes[:n]
        probs = self._probabilities(x)
        predicted = probs.argmax(axis=1)
        res = METHODS[self.spec.attribution]()(self.loaded, x, predicted.tolist())
        return res.maps, predicted, probs.max(axis=1)

    def _kernels(self) -> np.ndarray:
        if not self.kernel_layer:
            return np.zeros((0, 0, 0, 0), np.float32)
        from oipviz.compute.space.weights import layer_pictures

        return np.asarray(layer_pictures(self.loaded, self.kernel_layer)[1], np.float32)

    def _heldout(self) -> dict[str, float]:
        if self.validation is None:
            return {}
        x, y = self.validation
        p = self._probabilities(x)
        picked = np.clip(p[np.arange(len(y)), y], 1e-7, 1.0)
        return {
            "heldout_accuracy": float((p.argmax(axis=1) == y).mean()),
            "heldout_loss": float(-np.log(picked).mean()),
        }


def _check_validation(validation, classes: int):
    if validation is None:
        return None
    try:
        x, y = validation
    except (TypeError, ValueError):
        raise DataError("validation must be a pair (images in [0, 1], labels)") from None
    x = checks.finite_array("validation images", x)
    if x.ndim == 3:
        x = x[..., None]
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1) or len(x) != len(y) or not len(y):
        raise DataError(
            f"validation images {x.shape} and labels {y.shape} do not match; "
            "give (N,28,28) images in [0, 1] and N labels"
        )
    if y.min() < 0 or y.max() >= classes:
        raise DataError(f"validation labels must be classes 0–{classes - 1}")
    return np.ascontiguousarray(x), y


def _scalars(logs: dict | None) -> dict[str, float]:
    """Keras' logs as plain floats (tensors and numpy scalars; non-scalars dropped)."""
    out = {}
    for k, v in (logs or {}).items():
        try:
            a = np.asarray(v, np.float64)
        except (TypeError, ValueError):
            continue
        if a.size == 1:
            out[str(k)] = float(a.reshape(()))
    return out
