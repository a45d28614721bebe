"""Precursor grid search: enumerate coarse patterns, screen them, refine the best.

For maps that random (short-scale) fluctuations never wake, the articles test every
g×g pattern of V grey values (3×3 squares × {0.2, 0.5, 0.8} = 19,683 patterns),
upsampled bicubically and standardized, with a short ascent (10 steps), and then
optimize the best 8 for 1,200 steps.  The default screen, ``halving``, gives those 10 steps
only to the patterns that the raw activation and a 3-step ascent rank best.  Patterns are enumerated by index
(:func:`oipviz.core.inits.pattern_digits`); the screens are in :mod:`oipviz.compute.screens`.

**Wake.** A ReLU map that is zero everywhere has no gradient, so the ascent cannot move
it.  With ``wake`` > 0 (the default), candidates at zero first climb the map's
pre-activation for ``wake`` steps, and a screen with fewer than ``top`` patterns above
zero is topped up with the patterns nearest to firing.  ``wake=0`` is the articles'
method.  This module computes; :mod:`oipviz.writers.precursor` writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from oipviz.compute.screens import (
    DEFAULT_SCREEN,
    HALVING_ROUNDS,
    SCREENS,
    _all_indices,
    _candidates,
    ascent_screen,
    forward_group,
    forward_table,
    halving_plan,
    halving_screen,
    work,
)
from oipviz.core import checks
from oipviz.core.ascent import ascend, evaluate
from oipviz.core.errors import OipvizError
from oipviz.core.inits import pattern_digits, precursor_patterns
from oipviz.core.precision import check as check_precision
from oipviz.core.progress import reporter
from oipviz.core.status import fires, rescued_or_dead

DEFAULT_WAKE = 200  # pre-activation steps for candidates at zero everywhere (0 = the articles)
#: the CLI asks for --yes above this many patterns per map (5 values on 3×3 = 1,953,125)
GUARD_PATTERNS = 1_500_000
#: hard ceiling: one float32 per pattern must stay small
MAX_PATTERNS = 50_000_000


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

    def sheet(self):
        """Contact sheet (PIL): start patterns (top row) and refined OIPs (bottom row)."""
        from oipviz.render.images import contact_sheet, normalize

        top = len(self.final)
        imgs = [normalize(z) for z in self.start_patterns[..., 0]] + [
            normalize(z) for z in self.images[..., 0]
        ]
        labels = [f"#{i + 1} s={v:.2g}" for i, v in enumerate(self.top_losses)] + [
            f"{v:.3g}" + (" best" if i == self.best else "") for i, v in enumerate(self.final)
        ]
        status = [None] * top + [("live" if fires(v) else "dead") for v in self.final]
        return contact_sheet(
            imgs,
            labels,
            None,
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
        """(28,28) refined image of the best candidate, engine space."""
        return self.images[self.best, :, :, 0]

    @property
    def best_value(self) -> float:
        return float(self.final[self.best])

    @property
    def status(self) -> str:
        """'rescued' when the best refined activation is above zero, else 'dead'."""
        return rescued_or_dead(self.best_value)

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


# ----------------------------------------------------------------------------- checks


def check_params(
    grid: int, values, top: int, test_steps: int, steps: int, lr: float, screen: str, chunk: int
) -> tuple[tuple[float, ...], int]:
    """Validate precursor parameters; returns (values, pattern count).  Raises OipvizError."""
    if screen not in SCREENS:
        raise OipvizError(f"unknown screen {screen!r}; choose from {', '.join(SCREENS)}")
    grid = checks.integer("grid", grid, 1)
    if grid > 28:
        raise OipvizError(f"grid {grid} is finer than the 28×28 image; use at most 28")
    top, test_steps = checks.integer("top", top), checks.integer("test steps", test_steps)
    steps, chunk = checks.integer("steps", steps), checks.integer("chunk", chunk)
    checks.lr(lr)
    try:
        vals = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise OipvizError(f"bad values {values!r}; give numbers in [0, 1]") from None
    if not vals:
        raise OipvizError("values is empty; give at least one grey value in [0, 1]")
    bad = [v for v in vals if not (0.0 <= v <= 1.0)]
    if bad:
        raise OipvizError(f"value {bad[0]:g} is outside [0, 1]; give grey values in [0, 1]")
    if len(set(vals)) != len(vals):
        raise OipvizError("values must be distinct")
    n = len(vals) ** (grid * grid)  # Python int: no overflow
    if n > MAX_PATTERNS:
        raise OipvizError(
            f"{len(vals)} values on a {grid}×{grid} grid give {n:.3g} patterns; "
            f"at most {MAX_PATTERNS:,} can be screened"
        )
    if not (1 <= top <= n):
        raise OipvizError(f"top must be between 1 and the pattern count {n:,} (got {top})")
    if test_steps < 0:
        raise OipvizError(f"test steps must be >= 0 (got {test_steps})")
    if screen == "halving" and test_steps < 1:
        raise OipvizError(
            "the halving screen needs test steps >= 1; for a screen without "
            "ascent steps use the forward screen"
        )
    if steps < 1:
        raise OipvizError(f"steps must be at least 1 (got {steps})")
    if chunk < 1:
        raise OipvizError(f"chunk must be at least 1 (got {chunk})")
    return vals, int(n)


def _objective(loaded, layer: str, m: int):
    from oipviz.compute.oip import objective_for

    info = loaded.unit_layer(layer)
    loaded.check_maps(info.name, [m])
    return objective_for(loaded, info.name, m, "mean" if info.is_conv else "unit")


# ----------------------------------------------------------------------------- refine


def refine(
    loaded,
    objective,
    patterns: np.ndarray,
    steps: int,
    lr: float,
    seed: int = 0,
    chunk: int = 1024,
    progress=None,
    prune: bool = True,
    precision: str = "float32",
    on_block=None,
):
    """``steps`` ascent steps on the candidates (one engine call)."""
    r = ascend(
        loaded,
        patterns,
        objective,
        steps=steps,
        lr=lr,
        seed=seed,
        chunk=chunk,
        progress=progress,
        prune=prune,
        precision=precision,
        on_block=on_block,
    )
    if r.interrupted:
        raise KeyboardInterrupt
    return r


def _wake_objective(loaded, layer: str, m: int):
    """The map's (or unit's) value before its activation: it has a gradient where the
    map is zero everywhere."""
    from oipviz.core import objectives as O

    info = loaded.layer(layer)
    return O.map_premean(info.name, m) if info.is_conv else O.class_logit(info.name, m)


def _result(
    loaded,
    layer,
    m,
    grid,
    vals,
    screen,
    test_steps,
    n,
    losses,
    steps_of,
    eligible,
    top,
    steps,
    lr,
    seed,
    t_screen,
    screen_units,
    progress,
    chunk=1024,
    wake=0,
    cands=None,
    pool=None,
    precision="float32",
    on_block=None,
) -> PrecursorResult:
    obj = _objective(loaded, layer, m)
    t0 = time.perf_counter()
    top_idx, note = cands or _candidates(
        loaded, layer, m, grid, vals, losses, eligible, top, chunk, wake, pool
    )
    starts = precursor_patterns(top_idx, grid, vals)
    x = starts
    v0 = evaluate(loaded, starts, obj)
    woken = ~fires(v0) if wake else np.zeros(len(starts), bool)
    if woken.any():
        rw = ascend(
            loaded,
            starts[woken],
            _wake_objective(loaded, layer, m),
            steps=wake,
            lr=lr,
            seed=seed,
            precision=precision,
        )
        if rw.interrupted:
            raise KeyboardInterrupt
        x = starts.copy()
        x[woken] = rw.images
    # starts above zero have a gradient: skip the engine's zero-gradient check (same result)
    r = refine(
        loaded,
        obj,
        x,
        steps,
        lr,
        seed,
        progress=progress,
        prune=not bool(fires(v0).all()),
        precision=precision,
        on_block=on_block,
    )
    return PrecursorResult(
        layer=layer,
        map=int(m),
        grid=grid,
        values=vals,
        screen=screen,
        test_steps=test_steps,
        n_patterns=n,
        screen_losses=losses,
        screen_steps=steps_of,
        top_indices=top_idx,
        start_patterns=starts,
        images=r.images,
        start=v0 if wake else r.start,
        final=r.final,
        history=r.history,
        history_steps=r.history_steps,
        steps=steps,
        screen_seconds=t_screen,
        refine_seconds=time.perf_counter() - t0,
        screen_image_steps=screen_units,
        wake=int(wake),
        woken=woken,
        convention=loaded.convention,
        note=note,
        precision=r.precision,
    )


# ----------------------------------------------------------------------------- API


def precursor_maps(
    layer: str,
    maps,
    model=None,
    grid: int = 3,
    values=(0.2, 0.5, 0.8),
    test_steps: int = 10,
    top: int = 8,
    steps: int = 1200,
    lr: float = 0.02,
    seed: int = 0,
    screen: str = DEFAULT_SCREEN,
    chunk: int = 1024,
    progress: Callable[[int], None] | None = None,
    indices=None,
    rounds=HALVING_ROUNDS,
    wake: int = DEFAULT_WAKE,
    precision: str = "float32",
    on_block=None,
) -> Iterator[PrecursorResult]:
    """Run the precursor on several maps; yields each map's result as soon as it is done.

    ``forward`` and ``halving`` share one forward pass over the patterns between maps
    (in groups, so the table stays below ``FORWARD_TABLE_FLOATS`` floats).
    ``wake``, ``precision``: see :func:`precursor`.
    """
    vals, n = check_params(grid, values, top, test_steps, steps, lr, screen, chunk)
    wake, seed = checks.integer("wake", wake, 0), checks.seed(seed)
    check_precision(precision)
    from oipviz.core.loader import as_loaded

    loaded = as_loaded(model)
    info = loaded.layer(layer)
    maps = [int(m) for m in ([maps] if np.isscalar(maps) else maps)]
    for m in maps:
        _objective(loaded, info.name, m)
    idx = _all_indices(n, indices)
    if top > len(idx):
        raise OipvizError(f"top {top} is more than the {len(idx):,} patterns screened")
    group = len(maps) if screen == "exhaustive" else forward_group(len(idx), len(maps))
    for g0 in range(0, len(maps), group):
        gmaps = maps[g0 : g0 + group]
        table = None
        t_fwd = 0.0
        if screen != "exhaustive":
            t = time.perf_counter()
            table = forward_table(loaded, info.name, gmaps, idx, grid, vals, chunk, progress)
            t_fwd = (time.perf_counter() - t) / len(gmaps)
        for j, m in enumerate(gmaps):
            t = time.perf_counter()
            obj = _objective(loaded, info.name, m)
            steps_of = np.full(n, -1, np.int16)
            losses = np.full(n, np.nan, np.float32)
            eligible = idx
            if screen == "exhaustive":
                losses[idx] = ascent_screen(
                    loaded,
                    obj,
                    idx,
                    grid,
                    vals,
                    test_steps,
                    lr,
                    chunk,
                    seed,
                    progress,
                    precision=precision,
                )
                steps_of[idx] = test_steps
                units = len(idx) * test_steps
            elif screen == "forward":
                losses[idx] = table[:, j]
                steps_of[idx] = 0
                units = 0
            else:
                hl, hs, fin = halving_screen(
                    loaded,
                    obj,
                    idx,
                    table[:, j],
                    grid,
                    vals,
                    top,
                    test_steps,
                    lr,
                    chunk,
                    seed,
                    rounds,
                    progress,
                    precision,
                )
                losses[idx], steps_of[idx] = hl, hs
                eligible = idx[fin]
                units = sum(s * k for s, k in halving_plan(len(idx), top, test_steps, rounds))
            t_screen = time.perf_counter() - t + t_fwd
            if table is not None and j == len(gmaps) - 1:
                table = None
            yield _result(
                loaded,
                info.name,
                m,
                grid,
                vals,
                screen,
                test_steps,
                n,
                losses,
                steps_of,
                eligible,
                top,
                steps,
                lr,
                seed,
                t_screen,
                units,
                progress,
                chunk,
                wake,
                pool=None if eligible is idx else idx,
                precision=precision,
                on_block=on_block,
            )


def precursor(
    layer: str,
    map: int,
    model=None,
    grid: int = 3,
    values=(0.2, 0.5, 0.8),
    test_steps: int = 10,
    top: int = 8,
    steps: int = 1200,
    lr: float = 0.02,
    seed: int = 0,
    screen: str = DEFAULT_SCREEN,
    chunk: int = 1024,
    progress: Callable[[int], None] | bool | None = None,
    indices=None,
    wake: int = DEFAULT_WAKE,
    precision: str = "float32",
    on_block=None,
) -> PrecursorResult:
    """Grid search for one map: screen every pattern, refine the ``top`` best.

    ``model``: a path, a :class:`~oipviz.core.loader.LoadedModel` or None (bundled model).
    ``screen``: ``halving`` (the default: forward values, then a few steps on the best part
    and ``test_steps`` steps on the best of those), ``exhaustive`` (``test_steps`` steps
    on every pattern; the articles') or ``forward`` (raw activation).  ``indices`` restricts the screen to
    those pattern indices (a slice of the enumeration); the others stay NaN.
    ``progress``: a callback ``f(units)`` (image-steps; a forward image counts 1),
    ``False`` for silence, or None for a progress bar.
    ``wake`` (default 200; 0 is the articles' method): see the module docstring.
    ``precision``: of the ascent steps (:mod:`oipviz.core.precision`; ``bfloat16`` is about
    1.8× faster on big screens where the CPU has AVX512_BF16; values are float32).
    ``on_block``: called after each compiled block of the refinement
    (:func:`oipviz.core.ascent.ascend`), e.g. to stream its images.
    """
    vals, n = check_params(grid, values, top, test_steps, steps, lr, screen, chunk)
    with reporter(
        progress, work(n, 1, screen, test_steps, top, steps), f"precursor {layer}:{map}"
    ) as tick:
        return next(
            precursor_maps(
                layer,
                [map],
                model,
                grid,
                vals,
                test_steps,
                top,
                steps,
                lr,
                seed,
                screen,
                chunk,
                tick,
                indices,
                wake=wake,
                precision=precision,
                on_block=on_block,
            )
        )
