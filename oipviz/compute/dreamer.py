"""The rounds of a DeepDream, on images of the model's channels.

One *round* at one scale: the picture (whole, or tiles of ``tile`` px after a random roll)
is downscaled bicubically to the model's input size; the engine
(:func:`oipviz.core.ascent.ascend`) runs ``steps`` ascent steps on it for the objective; the
result is upscaled bicubically, the detail the downscale lost (``ref − up(down(ref))``, from
the original) is added back, and each channel's value distribution is rescaled to the
original's mean and spread (clipped to [0, 1]).  ``iters`` rounds run at each scale; several
octaves run them on a pyramid from coarse to fine, re-injecting the detail lost between
scales (keras-io DeepDream).  A grey model dreams on the luminance; a colour model dreams on
the RGB picture itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from oipviz.compute.scales import Octave, display_copy, equal_chunk, match_contrast, plan, resize
from oipviz.core import checks
from oipviz.core.status import fires

DEFAULT_STEPS = 20  # ascent steps per round (single-map mode)
DEFAULT_LR = 0.05  # RMS of one step, in standardized pixels
DEFAULT_TILE_STEPS = 5  # with tiles/octaves: thousands of tiles per round, 20 steps/octave
NUDGE_AMPLITUDES = (0.25, 0.5, 1.0)  # noise (standardized pixels) tried on a map silent at 0
NUDGE_DRAWS = 16


def picture(a: np.ndarray) -> np.ndarray:
    """(H, W, C) as a picture: (H, W) for one channel, (H, W, 3) for colour."""
    return a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a


@dataclass
class DreamRound:
    """The article's panels of one round (floats; ``small`` in pixel units, unclipped;
    (h, w) for a grey model, (h, w, 3) for a colour one)."""

    octave: int
    round: int
    small: np.ndarray  # the dreamt model-size image (or the mosaic of model-size tiles)
    upscaled: np.ndarray  # the blurry upscaled dream
    with_detail: np.ndarray  # upscaled dream + the original's lost detail
    adjusted: np.ndarray  # after rescaling to the original's mean/std, in [0,1]
    # (panels: the scale's size, shrunk to fit PANEL_MAX px for larger images)
    activation_start: float  # objective before the round's ascent (mean over tiles)
    activation_end: float  # objective after it
    tiles: int = 1
    live_tiles: int = 1  # tiles on which the objective was above 0 (the others can't move)
    nudged: float = 0.0  # amplitude of the noise that nudged a silent image (0: none)
    model_size: tuple[int, int] = (28, 28)  # (h, w) of one model input (a tile)


class Dreamer:
    """Runs rounds through the engine; keeps time and step counts."""

    def __init__(self, loaded, objective, steps: int, lr: float, seed: int, progress=None):
        self.loaded, self.objective = loaded, objective
        self.steps, self.lr, self.seed, self.progress = steps, lr, seed, progress
        self.side = (loaded.geometry.width, loaded.geometry.height)  # (w, h) of a model input
        self.engine_seconds, self.image_steps, self.calls = 0.0, 0, 0
        self.interrupted, self.nudge_silent, self.nudged = False, True, 0.0

    def nudge(self, z0: np.ndarray) -> tuple[np.ndarray, float]:
        """Nudge a single image on which the objective is exactly 0 (no gradient: ReLU).

        Adds the weakest multi-scale fluctuation (seeded) that makes it respond: 16 draws
        at amplitudes 0.25, 0.5 and 1 standardized pixels, the best one kept.
        """
        from oipviz.core.ascent import evaluate
        from oipviz.core.inits import fluctuations

        seed = (self.seed + 104729 * self.calls) % checks.SEED_MAX
        noise = fluctuations([0], NUDGE_DRAWS, seed, shape=self.loaded.geometry.shape)
        for amp in NUDGE_AMPLITUDES:
            cand = z0 + amp * noise
            v = evaluate(self.loaded, cand, self.objective)
            if fires(v.max()):
                return cand[int(v.argmax())][None], amp
        return z0, 0.0

    def ascend(self, x01: np.ndarray) -> tuple[np.ndarray, float, float, int]:
        """Ascent on model-size images (B, h, w, C) in [0, 1]: (images in pixel units,
        unclipped; mean objective before and after; number of images that responded).

        An image whose objective is exactly 0 has a zero gradient and would not change:
        a lone image is nudged with a little noise (:meth:`nudge`), silent tiles are left
        out of the batch (same result, less work).
        """
        from oipviz.core.ascent import ascend, evaluate

        conv, B, t0 = self.loaded.convention, len(x01), time.perf_counter()
        z0 = conv.to_engine(x01)
        before = evaluate(self.loaded, z0, self.objective, chunk=equal_chunk(B))
        live = fires(before) & (self.steps > 0)
        self.nudged = 0.0
        if B == 1 and not live[0] and self.nudge_silent and self.steps > 0:
            z0, self.nudged = self.nudge(z0)
            live[:] = self.nudged > 0
        out, after, idx = z0.copy(), before.astype(np.float32).copy(), np.flatnonzero(live)
        if self.progress and B - len(idx):
            self.progress((B - len(idx)) * self.steps)  # silent tiles: nothing to do
        if len(idx):
            r = ascend(
                self.loaded, z0[idx], self.objective, steps=self.steps, lr=self.lr,
                seed=(self.seed + 7919 * self.calls) % checks.SEED_MAX,
                chunk=equal_chunk(len(idx)), progress=self.progress,
            )  # fmt: skip
            out[idx], after[idx] = r.images, r.final
            self.image_steps += len(idx) * r.steps_done
            self.interrupted = self.interrupted or r.interrupted
        self.engine_seconds += time.perf_counter() - t0
        self.calls += 1
        pixels = conv.from_engine(out)
        if len(idx) < B:  # untouched images come back exactly as they went in
            pixels[~live] = x01[~live]
        return pixels, float(before.mean()), float(after.mean()), int(len(idx))

    def whole(self, cur: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, dict]:
        """One round on the whole picture (H, W, C): (adjusted, the round's panels)."""
        H, W = cur.shape[:2]
        dreamt, a0, a1, n_live = self.ascend(resize(cur, self.side)[None])
        up = resize(dreamt[0], (W, H))
        with_detail = up + (ref - resize(resize(ref, self.side), (W, H)))
        adjusted = match_contrast(with_detail, ref)
        return adjusted, dict(small=dreamt[0], up=up, with_detail=with_detail, adjusted=adjusted,
                              a0=a0, a1=a1, tiles=1, live=n_live, nudged=self.nudged)  # fmt: skip

    def tiled(self, cur, ref, t: int, grid, rng, roll: bool) -> tuple[np.ndarray, dict]:
        """One round on tiles of ``t`` px (rolled at random, so no seams show)."""
        (H, W, C), (nx, ny), (sw, sh) = cur.shape, grid, self.side
        dy, dx = (int(rng.integers(0, t)), int(rng.integers(0, t))) if roll else (0, 0)
        pad = ((0, ny * t - H), (0, nx * t - W), (0, 0))
        c = np.pad(np.roll(cur, (dy, dx), axis=(0, 1)), pad, mode="symmetric")
        r = np.pad(np.roll(ref, (dy, dx), axis=(0, 1)), pad, mode="symmetric")
        mosaic = resize(c, (nx * sw, ny * sh))
        tiles = mosaic.reshape(ny, sh, nx, sw, C).transpose(0, 2, 1, 3, 4).reshape(-1, sh, sw, C)
        dreamt, a0, a1, n_live = self.ascend(tiles)
        dreamt = dreamt.reshape(ny, nx, sh, sw, C).transpose(0, 2, 1, 3, 4)
        dreamt = dreamt.reshape(ny * sh, nx * sw, C)
        up = resize(dreamt, (nx * t, ny * t))
        with_detail = up + (r - resize(resize(r, (nx * sw, ny * sh)), (nx * t, ny * t)))

        def back(a):
            return np.roll(a[:H, :W], (-dy, -dx), axis=(0, 1))

        up, with_detail = back(up), back(with_detail)
        adjusted = match_contrast(with_detail, ref)
        return adjusted, dict(small=dreamt, up=up, with_detail=with_detail, adjusted=adjusted,
                              a0=a0, a1=a1, tiles=len(tiles), live=n_live, nudged=0.0)  # fmt: skip

    def round(self, cur, ref, scale: Octave, rng, octave: int, k: int, roll: bool = True):
        """One round at one scale: (roll,) down, ascend, up, + detail, adjust (, unroll).
        Returns the adjusted picture (the next round's input) and the round's panels."""
        if scale.tile is None:
            adjusted, p = self.whole(cur, ref)
        else:
            adjusted, p = self.tiled(cur, ref, scale.tile, scale.grid(), rng, roll)
        return adjusted, DreamRound(
            octave, k, picture(p["small"]), display_copy(picture(p["up"])),
            display_copy(picture(p["with_detail"])), display_copy(picture(p["adjusted"])),
            p["a0"], p["a1"], tiles=p["tiles"], live_tiles=p["live"], nudged=p["nudged"],
            model_size=(self.side[1], self.side[0]),
        )  # fmt: skip


def dream_planes(
    img: np.ndarray, loaded, objective, iters: int = 4, steps: int | None = None,
    lr: float | None = None, tile: int | None = None, octaves: int = 1,
    octave_scale: float = 1.4, seed: int = 0, progress: Callable[[int], None] | None = None,
    roll: bool = True, on_round: Callable[[DreamRound], None] | None = None,
) -> tuple[np.ndarray, list[DreamRound], Dreamer]:  # fmt: skip
    """Dream on a picture (H, W, C) in [0, 1] with C the model's channels (or a plane
    (H, W) for a grey model); returns (final picture, rounds, stats).

    ``roll=False`` turns off the random roll of the tile grid (only to show the seams).
    """
    img = np.clip(np.asarray(img, np.float32), 0.0, 1.0)
    flat = img.ndim == 2
    img = img[..., None] if flat else img
    H, W = img.shape[:2]
    scales = plan(W, H, tile, octaves, octave_scale, max(loaded.geometry.shape[:2]))
    if steps is None:
        steps = DEFAULT_STEPS if tile is None and octaves == 1 else DEFAULT_TILE_STEPS
    dreamer = Dreamer(loaded, objective, steps, DEFAULT_LR if lr is None else lr, seed, progress)
    rng = np.random.default_rng(seed)
    refs = [resize(img, s.size) for s in scales]
    cur, rounds = refs[0], []
    for o, (scale, ref) in enumerate(zip(scales, refs, strict=True)):
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
    if cur.shape[:2] != (H, W):  # interrupted before the finest scale
        cur = np.clip(resize(cur, (W, H)), 0.0, 1.0)
    return (cur[..., 0] if flat else cur), rounds, dreamer
