"""Precursor grid search: enumerate coarse patterns, screen them, refine the best.

For maps that random (short-scale) fluctuations never wake, the articles test every
g×g pattern of V grey values (3×3 squares × {0.2, 0.5, 0.8} = 19,683 patterns),
upsampled bicubically and standardized, with a short ascent (10 steps), and then
optimize the best 8 for 1,200 steps.

* Patterns are enumerated by index (base-V digits, :func:`oipviz.inits.pattern_digits`),
  so any slice is built alone: the screen works in chunks and keeps only one float32
  loss per pattern, whatever the grid size.
* Screens: ``exhaustive`` (the articles' ``test_epochs`` ascent steps on every pattern,
  the default), ``forward`` (the activation of the raw pattern; one forward pass
  ranks all maps of a layer at once) and ``halving`` (successive halving: the forward
  value on all patterns, a few steps on the best part, ``test_epochs`` steps on the
  best of those).
* Every ascent runs through :func:`oipviz.ascent.ascend`.

A ReLU map whose raw pattern gives zero everywhere has a zero gradient, so the ascent
cannot move it: such a pattern's screen loss stays 0 for any number of steps.  That is
why a forward pre-selection loses little on dead maps.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from .ascent import Engine, ascend
from .errors import OipvizError
from .inits import pattern_digits, precursor_patterns

SCREENS = ("exhaustive", "forward", "halving")
DEAD_EPS = 1e-6
#: successive halving: (ascent steps, fraction of the previous round kept before it).
#: Round 0 is the forward value of every pattern; the last round always runs
#: ``test_epochs`` steps, so its losses equal the exhaustive screen's.
HALVING_ROUNDS = ((3, 1 / 8), (None, 1 / 4))
DEFAULT_WAKE = 200  # pre-activation steps for candidates at zero everywhere (0 = the articles)
#: the CLI asks for --yes above this many patterns per map (5 values on 3×3 = 1,953,125)
GUARD_PATTERNS = 1_500_000
#: hard ceiling: one float32 per pattern must stay small
MAX_PATTERNS = 50_000_000
#: budget (floats) for the (patterns × maps) table of a shared forward pass
FORWARD_TABLE_FLOATS = 32_000_000


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
    test_epochs: int
    n_patterns: int
    screen_losses: np.ndarray     # (n_patterns,) float32, NaN where not screened
    screen_steps: np.ndarray      # (n_patterns,) int16: steps behind each loss, -1 if none
    top_indices: np.ndarray       # (top,) pattern indices, best screen loss first
    start_patterns: np.ndarray    # (top,28,28,1)
    images: np.ndarray            # (top,28,28,1) refined
    start: np.ndarray             # (top,) objective of the raw patterns
    final: np.ndarray             # (top,) objective after refinement
    history: np.ndarray           # (T,top)
    history_steps: np.ndarray     # (T,)
    epochs: int = 0
    screen_seconds: float = 0.0
    refine_seconds: float = 0.0
    screen_image_steps: int = 0
    wake: int = 0                 # pre-activation steps given to candidates stuck at zero
    woken: np.ndarray | None = None   # (top,) bool: candidates that got the wake steps
    convention: object = field(repr=False, default=None)

    @property
    def top_losses(self) -> np.ndarray:
        """Screen loss of each candidate."""
        return self.screen_losses[self.top_indices]

    @property
    def n_screened(self) -> int:
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
        return "rescued" if self.best_value > DEAD_EPS else "dead"

    def digits(self) -> np.ndarray:
        """(top, grid, grid) value indices of the candidates' patterns."""
        return pattern_digits(self.top_indices, self.grid, len(self.values))

    def summary(self) -> str:
        """One line: best activation, its candidate and screen rank, all refined values."""
        b = self.best
        refined = ", ".join(f"{v:.3g}" for v in self.final)
        if self.status == "dead":
            pos = int(np.count_nonzero(self.screen_losses > DEAD_EPS))
            return (f"{self.layer} map {self.map}: dead: all {len(self.final)} candidates stay at "
                    f"{self.best_value:.3g} ({pos:,} of {self.n_screened:,} patterns above zero "
                    f"in the {self.screen} screen)")
        woken = int(self.woken.sum()) if self.woken is not None else 0
        return (f"{self.layer} map {self.map}: best {self.best_value:.3g} (candidate {b + 1}, "
                f"screen rank {b + 1} of {self.n_screened:,}, pattern {int(self.top_indices[b])}); "
                f"refined by screen rank: {refined}; {self.status}"
                + (f" ({woken} candidate(s) woken by {self.wake} pre-activation steps)" if woken else ""))


# ----------------------------------------------------------------------------- checks

def check_params(grid: int, values, top: int, test_epochs: int, epochs: int, lr: float,
                 screen: str, chunk: int) -> tuple[tuple[float, ...], int]:
    """Validate precursor parameters; returns (values, pattern count).  Raises OipvizError."""
    if screen not in SCREENS:
        raise OipvizError(f"unknown screen {screen!r}; choose from {', '.join(SCREENS)}")
    if int(grid) != grid or grid < 1:
        raise OipvizError(f"grid must be at least 1 (got {grid})")
    if grid > 28:
        raise OipvizError(f"grid {grid} is finer than the 28×28 image; use at most 28")
    try:
        vals = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise OipvizError(f"bad values {values!r}; give numbers in [0, 1]") from None
    if not vals:
        raise OipvizError("values is empty; give at least one grey value in [0, 1]")
    bad = [v for v in vals if not (0.0 <= v <= 1.0)]
    if bad:
        raise OipvizError(f"value {bad[0]:g} is outside [0, 1]")
    if len(set(vals)) != len(vals):
        raise OipvizError("values must be distinct")
    n = len(vals) ** (grid * grid)  # Python int: no overflow
    if n > MAX_PATTERNS:
        raise OipvizError(f"{len(vals)} values on a {grid}×{grid} grid give {n:.3g} patterns; "
                          f"at most {MAX_PATTERNS:,} can be screened")
    if not (1 <= top <= n):
        raise OipvizError(f"top must be between 1 and the pattern count {n:,} (got {top})")
    if test_epochs < 0:
        raise OipvizError(f"test epochs must be >= 0 (got {test_epochs})")
    if screen == "halving" and test_epochs < 1:
        raise OipvizError("the halving screen needs test epochs >= 1")
    if epochs < 1:
        raise OipvizError(f"epochs must be at least 1 (got {epochs})")
    if not lr > 0:
        raise OipvizError(f"lr must be > 0 (got {lr})")
    if chunk < 1:
        raise OipvizError(f"chunk must be at least 1 (got {chunk})")
    return vals, int(n)


def _loaded(model):
    from .loader import LoadedModel, load_model

    return model if isinstance(model, LoadedModel) else load_model(model)


def _objective(loaded, layer: str, m: int):
    from .oip import objective_for

    info = loaded.layer(layer)
    if info.units is None:
        raise OipvizError(f"layer {info.name!r} ({info.type}) has no maps or units to optimize")
    loaded.check_maps(info.name, [m])
    return objective_for(loaded, info.name, m, "mean" if info.is_conv else "unit")


# ----------------------------------------------------------------------------- ranking

def rank(losses: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest losses (ties: lower index first); NaNs never win."""
    v = np.where(np.isnan(losses), -np.inf, losses).astype(np.float64)
    k = min(k, len(v))
    if k < len(v):
        part = np.argpartition(-v, k - 1)[:k]
        # every index tied with the k-th value may belong in the top k: take them all
        kth = v[part].min()
        cand = np.flatnonzero(v >= kth)
    else:
        cand = np.arange(len(v))
    order = np.lexsort((cand, -v[cand]))
    return cand[order[:k]].astype(np.int64)


# ----------------------------------------------------------------------------- screens

def _chunks(indices: np.ndarray, chunk: int) -> Iterator[np.ndarray]:
    for lo in range(0, len(indices), chunk):
        yield indices[lo:lo + chunk]


def _all_indices(n: int, indices) -> np.ndarray:
    if indices is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(indices, np.int64).ravel()
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise OipvizError(f"pattern indices must be in 0…{n - 1}")
    return idx


def ascent_screen(loaded, objective, indices: np.ndarray, grid: int, values, steps: int,
                  lr: float, chunk: int, seed: int = 0,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Objective after ``steps`` ascent steps from each pattern of ``indices`` (float32).

    Patterns are built chunk by chunk, so memory stays bounded for any grid.
    """
    out = np.empty(len(indices), np.float32)
    pos = 0
    for idx in _chunks(indices, chunk):
        x = precursor_patterns(idx, grid, values)
        r = ascend(loaded, x, objective, steps=steps, lr=lr, seed=seed, chunk=chunk,
                   history_points=1, progress=progress)
        if r.interrupted:
            raise KeyboardInterrupt
        out[pos:pos + len(idx)] = r.final
        pos += len(idx)
        if steps == 0 and progress:
            progress(len(idx))
    return out


_FORWARD: dict = {}


def _forward_fn(loaded, layer: str, pre: bool = False):
    """A compiled map-means function (B,28,28,1) -> (B,C) on the engine's own model
    (``pre``: before the layer's activation)."""
    import tensorflow as tf

    engine = Engine.get(loaded, [(layer, pre)])
    key = id(engine)
    if key not in _FORWARD:
        model = engine.model

        @tf.function(input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
        def fwd(x):
            a = model(x, training=False)
            if isinstance(a, (list, tuple)):
                a = a[0]
            return tf.reduce_mean(a, axis=[1, 2]) if len(a.shape) == 4 else a

        _FORWARD[key] = fwd
    return _FORWARD[key]


def forward_table(loaded, layer: str, maps: list[int], indices: np.ndarray, grid: int, values,
                  chunk: int, progress: Callable[[int], None] | None = None,
                  pre: bool = False) -> np.ndarray:
    """(len(indices), len(maps)) float32: each map's objective on each raw pattern.

    One forward pass per chunk gives every map of the layer (the same values as
    ``ascend(..., steps=0).final`` with ``map_mean``/``dense_unit`` objectives; with
    ``pre``, the values before the layer's activation).
    """
    info = loaded.layer(layer)
    fwd = _forward_fn(loaded, info.name, pre)
    cols = np.asarray(maps, np.int64)
    out = np.empty((len(indices), len(cols)), np.float32)
    pos = 0
    for idx in _chunks(indices, chunk):
        x = precursor_patterns(idx, grid, values)
        out[pos:pos + len(idx)] = fwd(x).numpy()[:, cols]
        pos += len(idx)
        if progress:
            progress(len(idx))
    return out


def halving_plan(n: int, top: int, test_epochs: int, rounds=HALVING_ROUNDS) -> list[tuple[int, int]]:
    """[(steps, patterns)] of the ascent rounds of a halving screen over ``n`` patterns.

    Each round keeps ``fraction`` of the previous one (at least 4·top, or top in the
    last round) and runs ``steps`` ascent steps on them (``test_epochs`` in the last).
    """
    plan = []
    alive = n
    for k, (steps, frac) in enumerate(rounds):
        last = k == len(rounds) - 1
        steps = test_epochs if (last or steps is None) else min(int(steps), test_epochs)
        keep = min(alive, max(int(math.ceil(alive * frac)), top if last else 4 * top))
        plan.append((steps, keep))
        alive = keep
    return plan


def forward_group(n: int, n_maps: int) -> int:
    """How many maps share one forward pass over ``n`` patterns (bounded table)."""
    return max(1, min(n_maps, FORWARD_TABLE_FLOATS // max(n, 1)))


def screen_work(n: int, n_maps: int, screen: str, test_epochs: int, top: int,
                rounds=HALVING_ROUNDS) -> int:
    """Progress units of the screen of ``n_maps`` maps: image-steps (one per forward image)."""
    if screen == "exhaustive":
        return n * test_epochs * n_maps if test_epochs else n * n_maps
    passes = -(-n_maps // forward_group(n, n_maps))
    if screen == "forward":
        return n * passes
    return n * passes + n_maps * sum(s * k for s, k in halving_plan(n, top, test_epochs, rounds))


def halving_screen(loaded, objective, indices: np.ndarray, forward: np.ndarray, grid: int,
                   values, top: int, test_epochs: int, lr: float, chunk: int, seed: int = 0,
                   rounds=HALVING_ROUNDS, progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Successive halving from forward values: (losses, steps, finalists) over ``indices``.

    Each round restarts from the raw patterns (memory stays bounded), so the last
    round's losses are exactly the exhaustive screen's for the patterns that reach it.
    """
    losses = forward.astype(np.float32).copy()
    steps_of = np.zeros(len(indices), np.int16)
    alive = np.arange(len(indices))
    for steps, keep in halving_plan(len(indices), top, test_epochs, rounds):
        alive = alive[rank(losses[alive], keep)]
        losses[alive] = ascent_screen(loaded, objective, indices[alive], grid, values, steps,
                                      lr, chunk, seed, progress)
        steps_of[alive] = steps
    return losses, steps_of, alive


# ----------------------------------------------------------------------------- refine

def refine(loaded, objective, patterns: np.ndarray, epochs: int, lr: float, seed: int = 0,
           chunk: int = 1024, progress=None):
    """``epochs`` ascent steps on the candidates (one engine call)."""
    r = ascend(loaded, patterns, objective, steps=epochs, lr=lr, seed=seed, chunk=chunk,
               progress=progress)
    if r.interrupted:
        raise KeyboardInterrupt
    return r


def _wake_objective(loaded, layer: str, m: int):
    """The map's (or unit's) value before its activation: it has a gradient where the
    map is zero everywhere."""
    from . import objectives as O

    info = loaded.layer(layer)
    return O.map_premean(info.name, m) if info.is_conv else O.class_logit(info.name, m)


def _candidates(loaded, layer, m, grid, vals, losses, eligible, top, chunk, wake) -> np.ndarray:
    """Top ``top`` pattern indices by screen loss.  With ``wake``, when fewer than ``top``
    patterns are above zero, the rest are the zero-loss patterns nearest to firing
    (highest pre-activation)."""
    top_idx = eligible[rank(losses[eligible], top)]
    alive = losses[top_idx] > DEAD_EPS
    if not wake or alive.all():
        return top_idx
    keep = top_idx[alive]
    zero = eligible[~(losses[eligible] > DEAD_EPS)]
    pre = forward_table(loaded, layer, [m], zero, grid, vals, chunk, pre=True)[:, 0]
    need = top - len(keep)
    fill = zero[rank(pre, need + len(vals))]
    # the V one-value patterns are all the same flat image: keep one of them
    d = pattern_digits(fill, grid, len(vals)).reshape(len(fill), -1)
    flat = (d == d[:, :1]).all(axis=1)
    fill = fill[~flat | (np.cumsum(flat) == 1)][:need]
    return np.concatenate([keep, fill])


def _result(loaded, layer, m, grid, vals, screen, test_epochs, n, losses, steps_of, eligible, top,
            epochs, lr, seed, t_screen, screen_units, progress, chunk=1024,
            wake=0) -> PrecursorResult:
    from .ascent import evaluate

    obj = _objective(loaded, layer, m)
    t0 = time.perf_counter()
    top_idx = _candidates(loaded, layer, m, grid, vals, losses, eligible, top, chunk, wake)
    starts = precursor_patterns(top_idx, grid, vals)
    x = starts
    woken = np.zeros(len(starts), bool)
    v0 = None
    if wake:
        v0 = evaluate(loaded, starts, obj)
        woken = v0 <= DEAD_EPS
        if woken.any():
            rw = ascend(loaded, starts[woken], _wake_objective(loaded, layer, m), steps=wake,
                        lr=lr, seed=seed)
            if rw.interrupted:
                raise KeyboardInterrupt
            x = starts.copy()
            x[woken] = rw.images
    r = refine(loaded, obj, x, epochs, lr, seed, progress=progress)
    return PrecursorResult(
        layer=layer, map=int(m), grid=grid, values=vals, screen=screen, test_epochs=test_epochs,
        n_patterns=n, screen_losses=losses, screen_steps=steps_of, top_indices=top_idx,
        start_patterns=starts, images=r.images, start=r.start if v0 is None else v0,
        final=r.final, history=r.history, history_steps=r.history_steps, epochs=epochs,
        screen_seconds=t_screen, refine_seconds=time.perf_counter() - t0,
        screen_image_steps=screen_units, wake=int(wake), woken=woken,
        convention=loaded.convention)


# ----------------------------------------------------------------------------- API

def precursor_maps(layer: str, maps, model=None, grid: int = 3, values=(0.2, 0.5, 0.8),
                   test_epochs: int = 10, top: int = 8, epochs: int = 1200, lr: float = 0.02,
                   seed: int = 0, screen: str = "exhaustive", chunk: int = 1024,
                   progress: Callable[[int], None] | None = None, indices=None,
                   rounds=HALVING_ROUNDS, wake: int = DEFAULT_WAKE) -> Iterator[PrecursorResult]:
    """Run the precursor on several maps; yields each map's result as soon as it is done.

    ``forward`` and ``halving`` share one forward pass over the patterns between maps
    (in groups, so the table stays below ``FORWARD_TABLE_FLOATS`` floats).
    ``wake``: see :func:`precursor`.
    """
    vals, n = check_params(grid, values, top, test_epochs, epochs, lr, screen, chunk)
    if wake < 0:
        raise OipvizError(f"wake must be >= 0 (got {wake})")
    loaded = _loaded(model)
    info = loaded.layer(layer)
    maps = [int(m) for m in ([maps] if np.isscalar(maps) else maps)]
    for m in maps:
        _objective(loaded, info.name, m)
    idx = _all_indices(n, indices)
    if top > len(idx):
        raise OipvizError(f"top {top} is more than the {len(idx):,} patterns screened")
    group = len(maps) if screen == "exhaustive" else forward_group(len(idx), len(maps))
    for g0 in range(0, len(maps), group):
        gmaps = maps[g0:g0 + group]
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
                losses[idx] = ascent_screen(loaded, obj, idx, grid, vals, test_epochs, lr, chunk,
                                            seed, progress)
                steps_of[idx] = test_epochs
                units = len(idx) * test_epochs
            elif screen == "forward":
                losses[idx] = table[:, j]
                steps_of[idx] = 0
                units = 0
            else:
                hl, hs, fin = halving_screen(loaded, obj, idx, table[:, j], grid, vals, top,
                                             test_epochs, lr, chunk, seed, rounds, progress)
                losses[idx], steps_of[idx] = hl, hs
                eligible = idx[fin]
                units = sum(s * k for s, k in halving_plan(len(idx), top, test_epochs, rounds))
            t_screen = time.perf_counter() - t + t_fwd
            if table is not None and j == len(gmaps) - 1:
                table = None
            yield _result(loaded, info.name, m, grid, vals, screen, test_epochs, n, losses,
                          steps_of, eligible, top, epochs, lr, seed, t_screen, units, progress,
                          chunk, wake)


def precursor(layer: str, map: int, model=None, grid: int = 3, values=(0.2, 0.5, 0.8),
              test_epochs: int = 10, top: int = 8, epochs: int = 1200, lr: float = 0.02,
              seed: int = 0, screen: str = "exhaustive", chunk: int = 1024,
              progress: Callable[[int], None] | None = None, indices=None,
              wake: int = DEFAULT_WAKE) -> PrecursorResult:
    """Grid search for one map: screen every pattern, refine the ``top`` best.

    ``model``: a path, a :class:`~oipviz.loader.LoadedModel` or None (bundled model).
    ``screen``: ``exhaustive`` (``test_epochs`` steps on every pattern; the articles'),
    ``forward`` (raw activation) or ``halving``.  ``indices`` restricts the screen to
    those pattern indices (a slice of the enumeration); the others stay NaN.
    ``progress(n)`` gets work units done (image-steps; a forward image counts 1).
    ``wake`` (default 0, the articles' method): a ReLU map that is zero everywhere has
    no gradient, so a candidate at zero can't move.  With ``wake`` > 0, such candidates
    are first pushed ``wake`` steps up the map's pre-activation (its mean before the
    ReLU), and a screen with fewer than ``top`` patterns above zero is topped up with the
    patterns nearest to firing.
    """
    return next(precursor_maps(layer, [map], model, grid, values, test_epochs, top, epochs, lr,
                               seed, screen, chunk, progress, indices, wake=wake))


def work(n: int, n_maps: int, screen: str, test_epochs: int, top: int, epochs: int) -> int:
    """Total progress units (screen + refine) of a run over ``n_maps`` maps."""
    return screen_work(n, n_maps, screen, test_epochs, top) + n_maps * top * epochs


def estimate_seconds(loaded, layer: str, map: int, screen: str, n: int, n_maps: int,
                     test_epochs: int, top: int, epochs: int, lr: float = 0.02,
                     chunk: int = 1024) -> float:
    """Wall time of a run, from a short measured calibration of the engine on patterns."""
    obj = _objective(loaded, layer, map)
    vals = (0.2, 0.5, 0.8)
    idx = np.arange(min(chunk, 1024), dtype=np.int64)
    ascent_screen(loaded, obj, idx[:8], 3, vals, 1, lr, chunk)          # trace once
    t = time.perf_counter()
    ascent_screen(loaded, obj, idx, 3, vals, 2, lr, chunk)
    rate = 2 * len(idx) / max(time.perf_counter() - t, 1e-6)            # image-steps/s
    forward_table(loaded, layer, [map], idx[:8], 3, vals, chunk)        # trace once
    t = time.perf_counter()
    forward_table(loaded, layer, [map], idx, 3, vals, chunk)
    frate = len(idx) / max(time.perf_counter() - t, 1e-6)               # images/s
    fwd_units = 0 if screen == "exhaustive" else n * -(-n_maps // forward_group(n, n_maps))
    steps = work(n, n_maps, screen, test_epochs, top, epochs) - fwd_units
    return steps / rate + fwd_units / frate


# ----------------------------------------------------------------------------- output

def _figure(w: float = 6.4, h: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_screen_histogram(res: PrecursorResult, path) -> None:
    """Histogram of the screen losses (log counts), the top-k cut marked."""
    fig = _figure()
    ax = fig.add_subplot(111)
    ok = ~np.isnan(res.screen_losses)
    steps = res.screen_steps[ok]
    vals = res.screen_losses[ok]
    lo, hi = float(vals.min()), float(vals.max())
    flat = hi - lo <= 1e-12
    bins = np.array([lo - 0.004, lo + 0.004]) if flat else np.linspace(lo, hi, 61)
    levels = sorted(set(int(s) for s in np.unique(steps)))
    data = [vals[steps == s] for s in levels]
    labels = [("raw pattern" if s == 0 else f"after {s} steps") + f" ({len(d):,})"
              for s, d in zip(levels, data)]
    ax.hist(data, bins=bins, stacked=True, label=labels, log=True)
    cut = float(res.top_losses.min())
    ax.axvline(cut, color="crimson", ls="--", lw=1, label=f"top {len(res.top_indices)} ≥ {cut:.3g}")
    zeros = int(np.count_nonzero(vals <= DEAD_EPS))
    if flat:
        ax.set_xlim(lo - 0.1, lo + 0.1)
        ax.text(0.27, 0.6, f"all {len(vals):,} patterns\ngive {lo:.3g}: none of\nthem wakes this map",
                transform=ax.transAxes, ha="center", fontsize=11)
    ax.set_xlabel("screen loss (mean activation of the map)")
    ax.set_ylabel("patterns")
    ax.set_title(f"{res.layer} map {res.map}: {res.screen} screen of {len(vals):,} patterns "
                 f"({zeros:,} at zero)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")


def plot_refine_curves(res: PrecursorResult, path) -> None:
    """Objective vs step for every candidate's refinement."""
    fig = _figure()
    ax = fig.add_subplot(111)
    steps = np.append(res.history_steps, res.epochs)
    for i in range(len(res.final)):
        ys = np.append(res.history[:, i], res.final[i])
        ax.plot(steps, ys, lw=2.0 if i == res.best else 1.0,
                label=f"#{i + 1} (pattern {int(res.top_indices[i])}): {res.final[i]:.3g}")
    ax.set_xlabel("step")
    ax.set_ylabel("mean activation of the map")
    ax.set_title(f"{res.layer} map {res.map}: refinement of the top {len(res.final)} "
                 f"({res.epochs} steps)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


def map_entry(res: PrecursorResult) -> dict:
    """The per-map part of a manifest."""
    digits = res.digits()
    return {
        "map": res.map, "status": res.status, "best_activation": res.best_value,
        "best_candidate": res.best + 1, "n_patterns": res.n_patterns, "wake": res.wake,
        "n_screened": res.n_screened, "screen": res.screen,
        "screen_seconds": round(res.screen_seconds, 3),
        "refine_seconds": round(res.refine_seconds, 3),
        "candidates": [
            {"candidate": i + 1, "screen_rank": i + 1, "pattern_index": int(p),
             "digits": digits[i].tolist(),
             "grey_values": [[res.values[d] for d in row] for row in digits[i]],
             "screen_loss": float(res.screen_losses[p]), "screen_steps": int(res.screen_steps[p]),
             "start_activation": float(res.start[i]), "refined_activation": float(res.final[i]),
             "woken": bool(res.woken[i]) if res.woken is not None else False}
            for i, p in enumerate(res.top_indices)],
    }


def write_result(folder, res: PrecursorResult) -> dict:
    """Write one map's PNGs, arrays and plots into ``folder`` (which exists).

    Returns the manifest entry (with the file names).
    """
    from pathlib import Path

    from .render import contact_sheet, normalize, save_oip, save_png

    folder = Path(folder)
    w = len(str(len(res.final)))
    files = []
    for i in range(len(res.final)):
        tag = f"{i + 1:0{w}d}"
        z0 = res.start_patterns[i, :, :, 0]
        files.append(save_png(folder / f"start_{tag}_viridis.png", normalize(z0), "viridis").name)
        files.append(save_png(folder / f"start_{tag}_gray.png", normalize(z0), "gray").name)
        files += [p.name for p in save_oip(folder, f"oip_{tag}", res.images[i])]
    files += [p.name for p in save_oip(folder, "best", res.best_image)]
    np.save(folder / "screen_losses.npy", res.screen_losses)
    np.save(folder / "refine_history.npy", res.history)
    plot_screen_histogram(res, folder / "screen_histogram.png")
    plot_refine_curves(res, folder / "refine_curves.png")
    top = len(res.final)
    imgs = [normalize(z) for z in res.start_patterns[..., 0]] + [normalize(z) for z in res.images[..., 0]]
    woken = res.woken if res.woken is not None else np.zeros(top, bool)
    labels = [f"#{i + 1} s={res.top_losses[i]:.2g}" + (" w" if woken[i] else "") for i in range(top)] + \
             [f"{v:.3g}" + (" best" if i == res.best else "") for i, v in enumerate(res.final)]
    status = [None] * top + ["live" if v > DEAD_EPS else "dead" for v in res.final]
    contact_sheet(imgs, labels, folder / "contact_sheet.png", cols=top, status=status,
                  title=f"{res.layer} map {res.map}: start patterns (top), refined OIPs (bottom)")
    files += ["screen_losses.npy", "refine_history.npy", "screen_histogram.png",
              "refine_curves.png", "contact_sheet.png"]
    entry = map_entry(res)
    entry["files"] = files
    return entry
