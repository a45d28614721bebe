"""DeepDream on photos, as in the articles, plus the usual extensions (tiles, octaves,
colour): :func:`dream` takes a picture, runs the rounds of :mod:`oipviz.compute.dreamer`
and returns a :class:`DreamResult` of the picture's own size and mode.

A grey model (an MNIST CNN) dreams on the luminance and a colour photo keeps its chroma
(YCrCb), as in the articles.  A colour model dreams on the RGB picture itself (real
DeepDream); a grey photo given to it is repeated over R, G and B.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oipviz.compute.dreamer import DEFAULT_STEPS, DEFAULT_TILE_STEPS, DreamRound, dream_planes
from oipviz.compute.scales import DEFAULT_OCTAVE_SCALE, plan, total_image_steps
from oipviz.core import checks
from oipviz.core.errors import LayerError, OipvizError
from oipviz.core.images import ImagePlanes, compose, output_mode, planes_from_array, to_array
from oipviz.core.progress import reporter

__all__ = ["DEFAULT_STEPS", "DEFAULT_TILE_STEPS", "DreamResult", "DreamRound", "dream",
           "make_objective"]  # fmt: skip


@dataclass
class DreamResult:
    """Result of :func:`dream`: ``image`` has the input's shape and dtype family."""

    image: np.ndarray
    dreamt: np.ndarray  # the final dreamt picture in [0,1]: (H,W) luminance, or (H,W,3)
    rounds: list[DreamRound]
    objective: str
    mode: str  # the PIL mode the picture is written in
    params: dict = field(default_factory=dict)
    engine_seconds: float = 0.0  # time spent inside ascend()
    total_seconds: float = 0.0
    image_steps: int = 0
    interrupted: bool = False

    def _repr_png_(self) -> bytes:
        from oipviz.core.images import from_float
        from oipviz.render.notebook import png_bytes

        return png_bytes(from_float(self.image, self.mode))


def make_objective(
    loaded, layer: str = "conv3", map: int | str | None = 56, maps=None, weights=None
):
    """The dream's objective: one map (mean), a weighted mix of ``maps``, or ``map='all'``."""
    from oipviz.compute.oip import objective_for
    from oipviz.core import objectives as O

    info = loaded.unit_layer(layer)
    if isinstance(map, str) and map.strip().lower() == "all":
        maps = list(range(info.units))
    elif maps is None:
        if map is None:
            raise LayerError("give map= or maps=")
        maps = [map]
    maps = loaded.check_maps(info.name, list(np.atleast_1d(maps)))
    if weights is not None:
        weights = [float(w) for w in np.atleast_1d(weights)]
        if len(weights) != len(maps):
            raise OipvizError(f"{len(weights)} weights for {len(maps)} maps")
        if not any(weights):
            raise OipvizError("the weights are all zero")
    if len(maps) == 1 and weights is None:
        return objective_for(loaded, info.name, maps[0], "mean")
    return O.layer_mix(info.name, info.units, weights=weights, maps=maps)


def model_picture(planes: ImagePlanes, channels: int, gray: bool = False) -> np.ndarray:
    """What the model dreams on: the luminance (H, W) for a grey model (or ``gray``), the
    RGB picture (H, W, 3) for a colour one (a grey photo repeated over R, G and B)."""
    if channels == 1 or gray:
        return planes.luma
    if planes.rgb is None:
        return np.repeat(planes.luma[..., None], 3, axis=2)
    return planes.rgb


def output_picture(planes: ImagePlanes, dreamt: np.ndarray, gray: bool) -> tuple[np.ndarray, str]:
    """(the picture to write, its mode): the dreamt luminance with the photo's chroma (a
    grey model), or the dreamt RGB (a colour model); the photo's alpha kept."""
    if dreamt.ndim == 2:
        return compose(planes, dreamt, gray), output_mode(planes, gray)
    out = np.clip(dreamt, 0.0, 1.0)
    if planes.alpha is not None:
        return np.concatenate([out, planes.alpha[..., None]], axis=-1), "RGBA"
    return out, "RGB"


def dream(
    image, map: int | str | None = 56, layer: str = "conv3", maps=None, weights=None,
    iters: int = 4, steps: int | None = None, lr: float | None = None, tile: int | None = None,
    octaves: int = 1, octave_scale: float = DEFAULT_OCTAVE_SCALE, gray: bool = False,
    seed: int = 0, model=None, objective=None, progress: Callable[[int], None] | bool | None = None,
    on_round: Callable[[DreamRound], None] | None = None,
) -> DreamResult:  # fmt: skip
    """DeepDream on an image with one map (default conv3 map 56) or a mix of maps.

    Parameters
    ----------
    image : ndarray or ImagePlanes
        An (H, W), (H, W, 3) or (H, W, 4) array of uint8, uint16 or floats in [0, 1], at least
        the model's size; or :class:`~oipviz.core.images.ImagePlanes` read from a file.
    map : int, "all" or None
        One map of ``layer``; ``"all"``: the whole layer; None with ``maps``.
    layer : str
        The layer whose maps dream.
    maps, weights : list, optional
        A mix of maps (with ``map=None``) and their weights (default: equal).
    iters : int
        Rounds per scale.
    steps, lr : int and float, optional
        Ascent steps per round (default 20; 5 with tiles/octaves) and their size in
        standardized pixels (default 0.05).
    tile : int, optional
        Tiles of that many px, dreamt as one batch and randomly rolled each round.
    octaves : int
        Scales from coarse to fine.
    octave_scale : float
        The size ratio between two octaves.
    gray : bool
        A gray dream even for a colour image (grey models only dream in grey anyway).
    seed : int
        Seeds the tile rolls.
    model : str, Path, LoadedModel or None
        The model (None: the bundled seed CNN).
    objective : Objective, optional
        Any :mod:`oipviz.core.objectives` objective instead of ``map``/``maps``.
    progress, on_round : callable, optional
        ``progress(image_steps)`` (False: silence; None: a progress bar);
        ``on_round(DreamRound)`` after each round (e.g. to stream it).

    Returns
    -------
    DreamResult
        Its ``image`` has the input's size and dtype family (float for planes).
    """
    from oipviz.core.loader import as_loaded

    t0 = time.perf_counter()
    planes, family = (
        (image, "float") if isinstance(image, ImagePlanes) else planes_from_array(image)
    )
    iters, seed = checks.integer("iters", iters, 0, 10_000), checks.seed(seed)
    steps = None if steps is None else checks.steps(steps, 0)
    lr = None if lr is None else checks.lr(lr)
    checks.number("octave scale", octave_scale, 1.0, 100.0, min_open=True)
    loaded = as_loaded(model)
    W, H = planes.size
    scales = plan(W, H, tile, octaves, octave_scale, max(loaded.geometry.shape[:2]))
    objective = objective or make_objective(loaded, layer, map, maps, weights)
    n_steps = steps if steps is not None else (
        DEFAULT_STEPS if tile is None and octaves == 1 else DEFAULT_TILE_STEPS)  # fmt: skip
    pic = model_picture(planes, loaded.geometry.channels, gray)
    with reporter(progress, total_image_steps(scales, iters, n_steps), "dream") as tick:
        dreamt, rounds, stats = dream_planes(
            pic, loaded, objective, iters, steps, lr, tile, octaves, octave_scale, seed, tick,
            on_round=on_round,
        )  # fmt: skip
    out, mode = output_picture(planes, dreamt, gray)
    params = dict(
        layer=loaded.layer(layer).name, objective=objective.name, iters=iters, steps=stats.steps,
        lr=stats.lr, tile=tile, octaves=octaves, octave_scale=octave_scale, gray=gray, seed=seed,
        channels=int(pic.shape[2]) if pic.ndim == 3 else 1,
    )  # fmt: skip
    return DreamResult(
        to_array(out, family), dreamt, rounds, objective.name, mode, params,
        stats.engine_seconds, time.perf_counter() - t0, stats.image_steps, stats.interrupted,
    )  # fmt: skip
