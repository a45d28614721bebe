"""DeepDream on photos with a 28×28 MNIST CNN, as in the articles, plus the usual extensions.

One *round* at one scale: the luminance (whole image, or tiles of ``tile`` px after a
random roll) is downscaled bicubically to 28×28; the engine (:func:`oipviz.core.ascent.ascend`)
runs ``steps`` ascent steps on it for the objective; the result is upscaled bicubically,
the detail the downscale lost (``ref − up(down(ref))``, from the original) is added back,
and the value distribution is rescaled to the original's mean and spread (clipped to
[0,1]).  ``iters`` rounds run at each scale; ``octaves`` > 1 runs them on a pyramid from
coarse to fine, re-injecting the detail lost between scales (keras-io DeepDream).
Colour photos are dreamt on their luminance; the chroma is kept (YCrCb).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oipviz.compute.scales import (
    DEFAULT_OCTAVE_SCALE,
    Octave,
    _adjust,
    _chunk,
    _panel,
    plan,
    resize,
    total_image_steps,
)
from oipviz.core import checks
from oipviz.core.errors import LayerError, OipvizError
from oipviz.core.images import (
    MIN_SIDE,
    ImagePlanes,
    compose,
    output_mode,
    planes_from_array,
    to_array,
)
from oipviz.core.progress import reporter
from oipviz.core.status import fires

DEFAULT_STEPS = 20  # ascent steps per round (single-map mode)
DEFAULT_LR = 0.05  # RMS of one step, in standardized pixels
DEFAULT_TILE_STEPS = 5  # with tiles/octaves: thousands of tiles per round, 20 steps/octave
NUDGE_AMPLITUDES = (0.25, 0.5, 1.0)  # noise (standardized pixels) tried on a map silent at 0
NUDGE_DRAWS = 16


@dataclass
class DreamRound:
    """The article's panels of one round (floats; ``small`` in pixel units, unclipped)."""

    octave: int
    round: int
    small: np.ndarray  # (h,w) the dreamt 28×28 image (or the mosaic of 28×28 tiles)
    upscaled: np.ndarray  # (H,W) the blurry upscaled dream
    with_detail: np.ndarray  # (H,W) upscaled dream + the original's lost detail
    adjusted: np.ndarray  # (H,W) after rescaling to the original's mean/std, in [0,1]
    # (H,W): the scale's size, shrunk to fit PANEL_MAX px for larger images
    activation_start: float  # objective before the round's ascent (mean over tiles)
    activation_end: float  # objective after it
    tiles: int = 1
    live_tiles: int = 1  # tiles on which the objective was above 0 (the others can't move)
    nudged: float = 0.0  # amplitude of the noise that nudged a silent image (0: none)


@dataclass
class DreamResult:
    """Result of :func:`dream`: ``image`` has the input's shape and dtype family."""

    image: np.ndarray
    luma: np.ndarray  # (H,W) final dreamt luminance in [0,1]
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


# ---------------------------------------------------------------------------- one round
class _Dreamer:
    """Runs rounds through the engine; keeps time and step counts."""

    def __init__(
        self,
        loaded,
        objective,
        steps: int,
        lr: float,
        seed: int,
        progress: Callable[[int], None] | None,
    ):
        self.loaded = loaded
        self.objective = objective
        self.steps = steps
        self.lr = lr
        self.seed = seed
        self.progress = progress
        self.engine_seconds = 0.0
        self.image_steps = 0
        self.interrupted = False
        self.calls = 0
        self.nudge_silent = True
        self.nudged = 0.0

    def nudge(self, z0: np.ndarray) -> tuple[np.ndarray, float]:
        """Nudge a single image on which the objective is exactly 0 (no gradient: ReLU).

        Adds the weakest multi-scale fluctuation (seeded) that makes it respond: 16 draws
        at amplitudes 0.25, 0.5 and 1 standardized pixels, the best one kept.
        """
        from oipviz.core.ascent import evaluate
        from oipviz.core.inits import fluctuations

        noise = fluctuations([0], NUDGE_DRAWS, (self.seed + 104729 * self.calls) % checks.SEED_MAX)
        for amp in NUDGE_AMPLITUDES:
            cand = z0 + amp * noise
            v = evaluate(self.loaded, cand, self.objective)
            if fires(v.max()):
                return cand[int(v.argmax())][None], amp
        return z0, 0.0

    def ascend(self, x01: np.ndarray) -> tuple[np.ndarray, float, float, int]:
        """Ascent on (B,28,28) images in [0,1]: (images in pixel units, unclipped; mean
        objective before and after; number of images that responded).

        An image whose objective is exactly 0 has a zero gradient and would not change:
        a lone image is nudged with a little noise (:meth:`nudge`), silent tiles are left
        out of the batch (same result, less work).
        """
        from oipviz.core.ascent import ascend, evaluate

        conv = self.loaded.convention
        z0 = conv.to_engine(x01[..., None])
        B = len(z0)
        self.nudged = 0.0
        t0 = time.perf_counter()
        before = evaluate(self.loaded, z0, self.objective, chunk=_chunk(B))
        live = fires(before) & (self.steps > 0)
        if B == 1 and not live[0] and self.nudge_silent and self.steps > 0:
            z0, self.nudged = self.nudge(z0)
            live[:] = self.nudged > 0
        out = z0.copy()
        after = before.astype(np.float32).copy()
        idx = np.flatnonzero(live)
        if self.progress and B - len(idx):
            self.progress((B - len(idx)) * self.steps)  # silent tiles: nothing to do
        if len(idx):
            r = ascend(
                self.loaded,
                z0[idx],
                self.objective,
                steps=self.steps,
                lr=self.lr,
                seed=(self.seed + 7919 * self.calls) % checks.SEED_MAX,
                chunk=_chunk(len(idx)),
                progress=self.progress,
            )
            out[idx] = r.images
            after[idx] = r.final
            self.image_steps += len(idx) * r.steps_done
            self.interrupted = self.interrupted or r.interrupted
        self.engine_seconds += time.perf_counter() - t0
        self.calls += 1
        pixels = conv.from_engine(out[..., 0])
        if len(idx) < B:  # untouched images come back exactly as they went in
            pixels[~live] = x01[~live]
        return pixels, float(before.mean()), float(after.mean()), int(len(idx))

    def round(
        self,
        cur: np.ndarray,
        ref: np.ndarray,
        scale: Octave,
        rng: np.random.Generator,
        octave: int,
        k: int,
        roll: bool = True,
    ) -> tuple[np.ndarray, DreamRound]:
        """One round at one scale: (roll,) down, ascend, up, + detail, adjust (, unroll).

        Returns the adjusted image (the next round's input) and the round's panels.
        """
        H, W = cur.shape
        if scale.tile is None:
            small = resize(cur, (MIN_SIDE, MIN_SIDE))
            dreamt, a0, a1, n_live = self.ascend(small[None])
            dreamt = dreamt[0]
            up = resize(dreamt, (W, H))
            detail = ref - resize(resize(ref, (MIN_SIDE, MIN_SIDE)), (W, H))
            with_detail = up + detail
            adjusted = _adjust(with_detail, ref)
            return adjusted, DreamRound(
                octave,
                k,
                dreamt,
                _panel(up),
                _panel(with_detail),
                _panel(adjusted),
                a0,
                a1,
                live_tiles=n_live,
                nudged=self.nudged,
            )
        t = scale.tile
        nx, ny = scale.grid()
        dy, dx = (int(rng.integers(0, t)), int(rng.integers(0, t))) if roll else (0, 0)
        pad = ((0, ny * t - H), (0, nx * t - W))
        c = np.pad(np.roll(cur, (dy, dx), axis=(0, 1)), pad, mode="symmetric")
        r = np.pad(np.roll(ref, (dy, dx), axis=(0, 1)), pad, mode="symmetric")
        S = MIN_SIDE
        mosaic = resize(c, (nx * S, ny * S))
        tiles = mosaic.reshape(ny, S, nx, S).transpose(0, 2, 1, 3).reshape(-1, S, S)
        dreamt, a0, a1, n_live = self.ascend(tiles)
        dreamt = dreamt.reshape(ny, nx, S, S).transpose(0, 2, 1, 3).reshape(ny * S, nx * S)
        up = resize(dreamt, (nx * t, ny * t))
        detail = r - resize(resize(r, (nx * S, ny * S)), (nx * t, ny * t))
        with_detail = up + detail

        def back(a):
            return np.roll(a[:H, :W], (-dy, -dx), axis=(0, 1))

        up, with_detail = back(up), back(with_detail)
        adjusted = _adjust(with_detail, ref)
        return adjusted, DreamRound(
            octave,
            k,
            dreamt,
            _panel(up),
            _panel(with_detail),
            _panel(adjusted),
            a0,
            a1,
            tiles=len(tiles),
            live_tiles=n_live,
        )


def dream_luma(
    luma: np.ndarray,
    loaded,
    objective,
    iters: int = 4,
    steps: int | None = None,
    lr: float | None = None,
    tile: int | None = None,
    octaves: int = 1,
    octave_scale: float = DEFAULT_OCTAVE_SCALE,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    roll: bool = True,
    on_round: Callable[[DreamRound], None] | None = None,
) -> tuple[np.ndarray, list[DreamRound], _Dreamer]:
    """Dream on a luminance plane (H,W) in [0,1]; returns (final luminance, rounds, stats).

    ``roll=False`` turns off the random roll of the tile grid (only to show the seams).
    """
    luma = np.clip(np.asarray(luma, np.float32), 0.0, 1.0)
    H, W = luma.shape
    scales = plan(W, H, tile, octaves, octave_scale)
    simple = tile is None and octaves == 1
    if steps is None:
        steps = DEFAULT_STEPS if simple else DEFAULT_TILE_STEPS
    lr = DEFAULT_LR if lr is None else lr
    if iters < 0 or steps < 0:
        raise OipvizError("--iters and --steps must be >= 0")
    dreamer = _Dreamer(loaded, objective, steps, lr, seed, progress)
    rng = np.random.default_rng(seed)
    refs = [resize(luma, s.size) for s in scales]
    cur = refs[0]
    rounds: list[DreamRound] = []
    for o, (scale, ref) in enumerate(zip(scales, refs)):
        if o > 0:  # upscale the dream, re-inject the detail lost between the two scales
            cur = resize(cur, scale.size) + (ref - resize(refs[o - 1], scale.size))
            cur = np.clip(cur, 0.0, 1.0)
        for k in range(iters):
            cur, rd = dreamer.round(cur, ref, scale, rng, o + 1, k + 1, roll=roll)
            rounds.append(rd)
            if on_round:
                on_round(rd)
            if dreamer.interrupted:
                break
        if dreamer.interrupted:
            break
    if cur.shape != luma.shape:  # interrupted before the finest scale
        cur = np.clip(resize(cur, (W, H)), 0.0, 1.0)
    return cur, rounds, dreamer


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


def dream(
    image,
    map: int | str | None = 56,
    layer: str = "conv3",
    maps=None,
    weights=None,
    iters: int = 4,
    steps: int | None = None,
    lr: float | None = None,
    tile: int | None = None,
    octaves: int = 1,
    octave_scale: float = DEFAULT_OCTAVE_SCALE,
    gray: bool = False,
    seed: int = 0,
    model=None,
    objective=None,
    progress: Callable[[int], None] | bool | None = None,
    on_round: Callable[[DreamRound], None] | None = None,
) -> DreamResult:
    """DeepDream on an image with one map (default conv3 map 56) or a mix of maps.

    ``image``: an array (H,W), (H,W,3) or (H,W,4) of uint8, uint16 or float in [0,1], at
    least 28×28; or :class:`~oipviz.core.images.ImagePlanes` read from a file.
    ``maps``/``weights``: a weighted layer mix instead of one map; ``map='all'``: the whole
    layer; ``objective``: any :mod:`oipviz.core.objectives` objective instead.  ``steps``:
    ascent steps per round (default 20; 5 with tiles/octaves); ``lr``: step size in
    standardized pixels (default 0.05).  ``tile``: tiles of that many px, dreamt as one
    batch, randomly rolled each round.  ``octaves``: scales from coarse to fine (factor
    ``octave_scale``).  ``gray``: a gray dream even for a colour image.  ``model``: a
    path, a LoadedModel or None (bundled).  ``progress``: a callback ``f(image_steps)``,
    ``False``, or None for a progress bar.  ``on_round(DreamRound)``: called after each
    round (e.g. to stream it).

    Returns a :class:`DreamResult` whose ``image`` has the input's shape (gray: without
    the colour channels) and dtype family (float for planes); ``rounds`` holds each
    round's panels.
    """
    from oipviz.core.loader import as_loaded

    t0 = time.perf_counter()
    if isinstance(image, ImagePlanes):
        planes, family = image, "float"
    else:
        planes, family = planes_from_array(image)
    iters, seed = checks.integer("iters", iters, 0, 10_000), checks.seed(seed)
    if steps is not None:
        steps = checks.integer("steps", steps, 0)
    if lr is not None:
        lr = checks.lr(lr)
    checks.number("octave scale", octave_scale, 1.0, 100.0, min_open=True)
    H, W = planes.luma.shape
    scales = plan(W, H, tile, octaves, octave_scale)  # validate before loading the model
    loaded = as_loaded(model)
    objective = objective or make_objective(loaded, layer, map, maps, weights)
    n_epochs = (
        steps
        if steps is not None
        else (DEFAULT_STEPS if tile is None and octaves == 1 else DEFAULT_TILE_STEPS)
    )
    with reporter(progress, total_image_steps(scales, iters, n_epochs), "dream") as tick:
        luma, rounds, stats = dream_luma(
            planes.luma,
            loaded,
            objective,
            iters,
            steps,
            lr,
            tile,
            octaves,
            octave_scale,
            seed,
            tick,
            on_round=on_round,
        )
    out = to_array(compose(planes, luma, gray), family)
    params = dict(
        layer=loaded.layer(layer).name,
        objective=objective.name,
        iters=iters,
        steps=stats.steps,
        lr=stats.lr,
        tile=tile,
        octaves=octaves,
        octave_scale=octave_scale,
        gray=gray,
        seed=seed,
    )
    return DreamResult(
        out,
        luma,
        rounds,
        objective.name,
        output_mode(planes, gray),
        params,
        stats.engine_seconds,
        time.perf_counter() - t0,
        stats.image_steps,
        stats.interrupted,
    )
