"""Optimal input patterns (OIPs): many maps × many inits, one batched ascent."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import objectives as O
from ._callable import make_callable
from .ascent import DEFAULT_CHUNK, ascend
from .errors import LayerError
from .inits import DEFAULT_SCALE_WEIGHTS, fluctuations

DEAD_EPS = 1e-6
OBJECTIVE_KINDS = ("mean", "max", "unit", "logit")


@dataclass
class OIPRun:
    """Result of :func:`oip`: arrays are map-major, images in engine space."""

    layer: str
    kind: str
    maps: list[int]
    images: np.ndarray          # (M, inits, 28, 28, 1)
    start: np.ndarray           # (M, inits) objective value of each init
    final: np.ndarray           # (M, inits) objective value reached
    history: np.ndarray         # (T, M, inits)
    history_steps: np.ndarray   # (T,)
    steps_done: int
    interrupted: bool
    convention: object = field(repr=False, default=None)

    @property
    def best(self) -> np.ndarray:
        """Index of the best init per map."""
        return self.final.argmax(axis=1)

    @property
    def best_images(self) -> np.ndarray:
        """(M,28,28) best OIP per map, engine space."""
        return self.images[np.arange(len(self.maps)), self.best, :, :, 0]

    @property
    def best_values(self) -> np.ndarray:
        return self.final.max(axis=1)

    @property
    def status(self) -> list[str]:
        """'live', or 'dead' when no init moved the map above zero."""
        return ["dead" if v <= DEAD_EPS else "live" for v in self.best_values]

    def pixels(self) -> np.ndarray:
        """Best OIPs mapped back to pixel space (unclipped; 0 = black, 1 = white)."""
        return self.convention.from_engine(self.best_images)


def objective_for(loaded, layer: str, m: int, kind: str = "mean") -> O.Objective:
    """The objective for map/unit ``m`` of ``layer`` (``kind``: mean, max, unit, logit)."""
    info = loaded.layer(layer)
    if kind not in OBJECTIVE_KINDS:
        raise LayerError(f"unknown objective {kind!r}; choose from {', '.join(OBJECTIVE_KINDS)}")
    if info.is_conv:
        if kind not in ("mean", "max"):
            raise LayerError(f"objective {kind!r} needs a dense layer; {info.name} is a conv layer")
        return (O.map_mean if kind == "mean" else O.map_max)(info.name, m)
    if kind == "logit":
        return O.class_logit(info.name, m)
    if kind == "max":
        raise LayerError(f"objective 'max' needs a conv layer; {info.name} is dense")
    return O.dense_unit(info.name, m)


def oip(layer: str, maps=None, model=None, inits: int = 8, epochs: int = 600, lr: float = 0.02,
        seed: int = 0, kind: str = "mean", scale_weights=DEFAULT_SCALE_WEIGHTS, jitter: int = 0,
        tv: float = 0.0, blur: float = 0.0, chunk: int = DEFAULT_CHUNK,
        progress: Callable[[int], None] | None = None) -> OIPRun:
    """Optimize ``inits`` multi-scale fluctuation inits per map of ``layer`` in one batch.

    ``maps``: an int, a list, or None for every map.  ``model``: a path, a
    :class:`~oipviz.loader.LoadedModel`, or None for the bundled model.
    """
    from .loader import LoadedModel, load_model

    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    info = loaded.layer(layer)
    if info.units is None:
        raise LayerError(f"layer {info.name!r} ({info.type}) has no maps or units to optimize")
    if maps is None:
        maps = list(range(info.units))
    maps = loaded.check_maps(info.name, [maps] if np.isscalar(maps) else list(maps))
    if inits < 1:
        raise LayerError("--inits must be at least 1")
    x0 = fluctuations(maps, inits, seed, scale_weights)
    objs = [objective_for(loaded, info.name, m, kind) for m in maps for _ in range(inits)]
    r = ascend(loaded, x0, objs, steps=epochs, lr=lr, jitter=jitter, tv=tv, blur=blur,
               seed=seed, chunk=chunk, progress=progress)
    M = len(maps)
    return OIPRun(info.name, kind, maps, r.images.reshape(M, inits, 28, 28, 1),
                  r.start.reshape(M, inits), r.final.reshape(M, inits),
                  r.history.reshape(len(r.history), M, inits), r.history_steps, r.steps_done,
                  r.interrupted, loaded.convention)


make_callable(__name__, oip)
