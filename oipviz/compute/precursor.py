"""Precursor grid search: enumerate coarse patterns, screen them, refine the best.

For maps that random (short-scale) fluctuations never wake, the articles test every
g×g pattern of V grey values (3×3 squares × {0.2, 0.5, 0.8} = 19,683 patterns),
upsampled bicubically and standardized, with a short ascent (10 steps), and then
optimize the best 8 for 1,200 steps.  The default screen, ``halving``, gives those 10
steps only to the patterns that the raw activation and a 3-step ascent rank best.
Patterns are enumerated by index (:func:`oipviz.core.inits.pattern_digits`); the screens
are in :mod:`oipviz.compute.screens`, the settings in
:mod:`oipviz.compute.precursor_settings`.

**Wake.** A ReLU map that is zero everywhere has no gradient, so the ascent cannot move
it.  With ``wake`` > 0 (the default), candidates at zero first climb the map's
pre-activation for ``wake`` steps, and a screen with fewer than ``top`` patterns above
zero is topped up with the patterns nearest to firing.  ``wake=0`` is the articles'
method.  This module computes; :mod:`oipviz.writers.precursor` writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from oipviz.compute.oip import map_objective, plane
from oipviz.compute.precursor_settings import PrecursorSettings, settings_of
from oipviz.compute.screens import (
    Screened,
    candidates,
    forward_group,
    forward_table,
    pattern_indices,
    patterns,
    range_transforms,
    screen_map,
    with_forward_time,
    work,
)
from oipviz.core import checks
from oipviz.core import objectives as O
from oipviz.core.ascent import Block, ascend, evaluate
from oipviz.core.errors import OipvizError
from oipviz.core.inits import pattern_digits
from oipviz.core.precision import check as check_precision
from oipviz.core.progress import reporter
from oipviz.core.status import above_zero_or_dead, fires


@dataclass
class PrecursorResult:
    """Screen and refine of one map.  Images are in engine space (standardized pixels).

    Candidates are in screen order: candidate ``i`` (0-based) is the pattern of screen
    rank ``i + 1``.
    """

    layer: str
    map: int
    grid: int
    values: tuple
    screen: str
    test_steps: int
    n_patterns: int
    screen_losses: np.ndarray  # (n_patterns,) float32, NaN where not screened
    screen_steps: np.ndarray  # (n_patterns,) int16: steps behind each loss, -1 if none
    top_indices: np.ndarray  # (top,) pattern indices, best screen loss first
    start_patterns: np.ndarray  # (top,28,28,1)
    images: np.ndarray  # (top,28,28,1) refined
    start: np.ndarray  # (top,) objective of the raw patterns
    final: np.ndarray  # (top,) objective after refinement
    history: np.ndarray  # (T,top)
    history_steps: np.ndarray  # (T,)
    steps: int = 0
    screen_seconds: float = 0.0
    refine_seconds: float = 0.0
    screen_image_steps: int = 0
    wake: int = 0  # pre-activation steps given to candidates stuck at zero
    woken: np.ndarray | None = None  # (top,) bool: candidates that got the wake steps
    convention: object = field(repr=False, default=None)
    note: str = ""  # why fewer than ``top`` candidates were refined, if so
    counts: dict | None = None  # sharded screens: patterns screened / zero / pruned
    precision: str = "float32"  # of the ascent steps (values are float32)
    range_mode: str = "free"  # free: standardized patterns, no bounds; valid: real pixels

    def sheet(self):
        """Contact sheet (PIL): start patterns (top row) and refined OIPs (bottom row)."""
        from oipviz.render.images import contact_sheet, normalize

        top = len(self.final)
        imgs = [normalize(z) for z in plane(self.start_patterns)] + [
            normalize(z) for z in plane(self.images)
        ]
        labels = [f"#{i + 1} s={v:.2g}" for i, v in enumerate(self.top_losses)] + [
            f"{v:.3g}" + (" best" if i == self.best else "") for i, v in enumerate(self.final)
        ]
        status = [None] * top + [("live" if fires(v) else "dead") for v in self.final]
        return contact_sheet(
            imgs,
            labels,
            cols=top,
            status=status,
            title=f"{self.layer} map {self.map}: start patterns, refined OIPs",
        )

    def _repr_html_(self) -> str:
        from oipviz.render.notebook import card

        return card(
            f"Precursor: {self.layer} map {self.map}",
            {
                "status": self.status,
                "best activation": f"{self.best_value:.4g}",
                "patterns": f"{self.n_screened:,} of {self.n_patterns:,} ({self.screen} screen)",
                "refined": f"{len(self.final)} × {self.steps} steps",
                "wake": self.wake,
                "note": self.note or "-",
            },
            self.sheet(),
        )

    @property
    def top_losses(self) -> np.ndarray:
        """Screen loss of each candidate."""
        return self.screen_losses[self.top_indices]

    @property
    def n_screened(self) -> int:
        if self.counts:
            return int(self.counts["screened"])
        return int(np.count_nonzero(~np.isnan(self.screen_losses)))

    @property
    def best(self) -> int:
        """Index (0-based) of the candidate with the highest refined activation."""
        return int(np.argmax(self.final))

    @property
    def best_image(self) -> np.ndarray:
        """(H, W) refined image of the best candidate ((H, W, 3) for colour), engine space."""
        return plane(self.images[self.best])

    @property
    def best_value(self) -> float:
        return float(self.final[self.best])

    @property
    def status(self) -> str:
        """'rescued' when the best refined activation is above zero, else 'dead'."""
        return above_zero_or_dead(self.best_value)

    def digits(self) -> np.ndarray:
        """(top, grid, grid) value indices of the candidates' patterns."""
        return pattern_digits(self.top_indices, self.grid, len(self.values))

    def summary(self) -> str:
        """One line: best activation, its candidate and screen rank, all refined values."""
        b = self.best
        refined = ", ".join(f"{v:.3g}" for v in self.final)
        if self.status == "dead":
            pos = (
                self.n_screened - int(self.counts["zero"])
                if self.counts
                else int(np.count_nonzero(fires(self.screen_losses)))
            )
            return (
                f"{self.layer} map {self.map}: dead: all {len(self.final)} candidates stay at "
                f"{self.best_value:.3g} ({pos:,} of {self.n_screened:,} patterns above zero "
                f"in the {self.screen} screen)"
            )
        woken = int(self.woken.sum()) if self.woken is not None else 0
        return (
            f"{self.layer} map {self.map}: best {self.best_value:.3g} (candidate {b + 1}, "
            f"screen rank {b + 1} of {self.n_screened:,}, pattern {int(self.top_indices[b])}); "
            f"refined by screen rank: {refined}; above zero"
            + (
                f" ({woken} candidate(s) woken by {self.wake} pre-activation steps)"
                if woken
                else ""
            )
        )


# ----------------------------------------------------------------------------- refine


def wake_objective(loaded, layer: str, m: int) -> O.Objective:
    """The map's (or unit's) value before its activation: it has a gradient where the
    map is zero everywhere."""
    info = loaded.layer(layer)
    return O.map_premean(info.name, m) if info.is_conv else O.class_logit(info.name, m)


def refine_candidates(
    loaded, layer: str, m: int, settings: PrecursorSettings, cands: tuple[np.ndarray, str],
    progress: Callable[[int], None] | None = None, on_block: Callable[[Block], None] | None = None,
) -> PrecursorResult:  # fmt: skip
    """Wake (where needed) and refine the candidate patterns ``cands`` (indices, note) of map
    ``m``; the screen fields stay empty (:func:`with_screen` fills them in)."""
    s = settings
    obj = map_objective(loaded, layer, m)
    t0 = time.perf_counter()
    top_idx, note = cands
    starts = patterns(loaded, top_idx, s)
    transforms = range_transforms(loaded, s)
    v0 = evaluate(loaded, starts, obj)
    woken = ~fires(v0) if s.wake else np.zeros(len(starts), bool)
    x = starts
    if woken.any():
        rw = ascend(
            loaded, starts[woken], wake_objective(loaded, layer, m), steps=s.wake, lr=s.lr,
            transforms=transforms, seed=s.seed, precision=s.precision,
        )  # fmt: skip
        if rw.interrupted:
            raise KeyboardInterrupt
        x = starts.copy()
        x[woken] = rw.images
    # starts above zero have a gradient: skip the engine's zero-gradient check (same result)
    r = ascend(
        loaded, x, obj, steps=s.steps, lr=s.lr, transforms=transforms, seed=s.seed,
        chunk=s.chunk, progress=progress, prune=not bool(fires(v0).all()),
        precision=s.precision, on_block=on_block,
    )  # fmt: skip
    if r.interrupted:
        raise KeyboardInterrupt
    return PrecursorResult(
        layer=layer, map=int(m), grid=s.grid, values=s.values, screen=s.screen,
        test_steps=s.test_steps, n_patterns=s.n_patterns,
        screen_losses=np.empty(0, np.float32), screen_steps=np.empty(0, np.int16),
        top_indices=top_idx, start_patterns=starts, images=r.images,
        start=v0 if s.wake else r.start, final=r.final, history=r.history,
        history_steps=r.history_steps, steps=s.steps, refine_seconds=time.perf_counter() - t0,
        wake=s.wake, woken=woken, convention=loaded.convention, note=note, precision=r.precision,
        range_mode=s.range_mode,
    )  # fmt: skip


def with_screen(res: PrecursorResult, screened: Screened) -> PrecursorResult:
    """``res`` with its map's screen filled in."""
    return replace(
        res, screen_losses=screened.losses, screen_steps=screened.steps_of,
        screen_seconds=screened.seconds, screen_image_steps=screened.units,
    )  # fmt: skip


# ----------------------------------------------------------------------------- API


def _checked_maps(loaded, layer: str, maps, settings: PrecursorSettings) -> tuple[str, list[int]]:
    info = loaded.unit_layer(layer)
    maps = [checks.integer("map", m) for m in np.atleast_1d(maps).tolist()]
    for m in maps:
        map_objective(loaded, info.name, m)
    h, w, c = loaded.geometry.shape
    if settings.colour and c != 3:
        raise OipvizError(f"a colour palette needs a colour model; {loaded.name} takes {c} channel")
    if settings.grid > min(h, w):
        raise OipvizError(
            f"grid {settings.grid} is finer than the {h}×{w} image; use at most {min(h, w)}"
        )
    return info.name, maps


def precursor_maps(
    layer: str, maps, model=None, settings: PrecursorSettings | None = None, *,
    progress: Callable[[int], None] | None = None, indices=None,
    on_block: Callable[[Block], None] | None = None, **kw,
) -> Iterator[PrecursorResult]:  # fmt: skip
    """The precursor on several maps; yields each map's result as soon as it is done.

    ``settings`` (or its fields as keywords, e.g. ``grid=3, top=8``): see
    :class:`~oipviz.compute.precursor_settings.PrecursorSettings`.  ``forward`` and
    ``halving`` share one forward pass over the patterns between maps (in groups, so the
    table stays below ``FORWARD_TABLE_FLOATS`` floats).  ``indices``, ``progress``,
    ``on_block``: see :func:`precursor`.
    """
    from oipviz.core.loader import as_loaded

    s = settings_of(settings, kw)
    loaded = as_loaded(model)
    layer, maps = _checked_maps(loaded, layer, maps, s)
    idx = pattern_indices(s.n_patterns, indices)
    if s.top > len(idx):
        raise OipvizError(f"top {s.top} is more than the {len(idx):,} patterns screened")
    group = len(maps) if s.screen == "exhaustive" else forward_group(len(idx), len(maps))
    for g0 in range(0, len(maps), group):
        gmaps = maps[g0 : g0 + group]
        table, t_fwd = None, 0.0
        if s.screen != "exhaustive":
            t = time.perf_counter()
            table = forward_table(loaded, layer, gmaps, idx, s, progress)
            t_fwd = (time.perf_counter() - t) / len(gmaps)
        for j, m in enumerate(gmaps):
            col = None if table is None else table[:, j]
            screened = with_forward_time(screen_map(loaded, layer, m, idx, col, s, progress), t_fwd)
            cands = candidates(loaded, layer, m, screened, s)
            res = refine_candidates(loaded, layer, m, s, cands, progress, on_block)
            yield with_screen(res, screened)


def precursor(
    layer: str, map: int, model=None, grid: int = 3, values=(0.2, 0.5, 0.8),
    test_steps: int = 10, top: int = 8, steps: int = 1200, lr: float = 0.02, seed: int = 0,
    screen: str = "halving", chunk: int = 1024,
    progress: Callable[[int], None] | bool | None = None, indices=None, wake: int = 200,
    precision: str = "float32", on_block: Callable[[Block], None] | None = None,
) -> PrecursorResult:  # fmt: skip
    """Grid search for one map: screen every pattern, refine the ``top`` best.

    Parameters
    ----------
    layer : str
        A conv layer (or Dense layer).
    map : int
        The map (or Dense unit).
    model : str, Path, LoadedModel or None
        The model (None: the bundled seed CNN).
    grid : int
        ``grid``×``grid`` squares per pattern.
    values : sequence of float
        The grey values (in [0, 1]) of the squares: V ** (grid²) patterns.
    test_steps : int
        Ascent steps of the screen.
    top : int
        Candidates refined.
    steps : int
        Refinement steps.
    lr : float
        Step size (RMS in engine space).
    seed : int
        The seed.
    screen : str
        ``halving`` (the default: forward values, then a few steps on the best part and
        ``test_steps`` steps on the best of those), ``exhaustive`` (``test_steps`` steps on
        every pattern; the articles') or ``forward`` (the raw activation).
    chunk : int
        Patterns per engine call.
    progress : callable, False or None
        ``f(units)`` (image-steps; a forward image counts 1), False for silence, None for a
        progress bar.
    indices : array of int, optional
        Screen only these pattern indices (a slice of the enumeration; the others stay NaN).
    wake : int
        Pre-activation steps for candidates stuck at zero (0: the articles' method).
    precision : str
        Of the ascent steps (:mod:`oipviz.core.precision`; values are float32); ``auto`` is
        float32 here (bf16 failed the precursor's quality rule).
    on_block : callable, optional
        Called after each compiled block of the refinement (e.g. to stream its images).

    Returns
    -------
    PrecursorResult
    """
    # ``auto`` stays float32 here: bf16 failed the precursor's quality rule (bench/precision.py:
    # dead and sparse maps' best activations 3-44 % off after the wake); bfloat16 if asked
    precision = "float32" if check_precision(precision) == "auto" else precision
    s = PrecursorSettings.checked(
        grid=grid, values=values, test_steps=test_steps, top=top, steps=steps, lr=lr, seed=seed,
        screen=screen, chunk=chunk, wake=wake, precision=precision,
    )  # fmt: skip
    n = s.n_patterns if indices is None else len(pattern_indices(s.n_patterns, indices))
    with reporter(progress, work(1, s, n), f"precursor {layer}:{map}") as tick:
        return next(
            precursor_maps(
                layer, [map], model, s, progress=tick, indices=indices, on_block=on_block
            )
        )
