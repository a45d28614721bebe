"""How :func:`oipviz.core.ascent.ascend` runs a batch: chunk by chunk, each chunk in
compiled blocks of steps; Ctrl-C, progress, the ``on_block`` hook and the plateau stop act
between blocks.

The plateau stop (``plateau`` > 0): an image whose value has risen by less than
``plateau`` × its value over the last :data:`PLATEAU_WINDOW` steps (each end averaged over
:data:`PLATEAU_SMOOTH` steps, so the random transforms' noise does not stop it) stops there
and keeps its image; the rest of the chunk goes on as a smaller batch.  An image at zero
(still waking through its fallback) never stops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oipviz.core.engine import Engine
from oipviz.core.objectives import Objective
from oipviz.core.status import DEAD_EPS

#: the plateau stop compares the value now with the value this many steps before
PLATEAU_WINDOW = 50
#: steps averaged at each end of the window
PLATEAU_SMOOTH = 10


@dataclass
class AscentResult:
    """Final images (engine space), losses at start and end, and the loss history."""

    images: np.ndarray  # (B, H, W, C) float32, engine space
    start: np.ndarray  # (B,) objective value of the initial images
    final: np.ndarray  # (B,) objective value of the final images
    history: np.ndarray  # (T, B) objective values, before steps history_steps[t]
    history_steps: np.ndarray  # (T,)
    steps_done: int
    interrupted: bool = False
    pruned: int = 0  # images skipped because their gradient was exactly zero
    precision: str = "float32"  # of the steps' conv chain (values are always float32)
    steps_each: np.ndarray | None = None  # (B,) steps each image took (plateau stop)


@dataclass
class Block:
    """What ``on_block`` sees after each compiled block of a chunk: the chunk's images
    (engine space) and their values before the block's last step."""

    offset: int  # index of the chunk's first image in the batch
    images: np.ndarray  # (n, H, W, C)
    values: np.ndarray  # (n,)
    steps: int  # steps done so far in this chunk


@dataclass
class Plan:
    """What every chunk of one ascent shares."""

    engine: Engine
    objectives: list[Objective]
    steps: int
    lr: float
    seed: int
    chunk: int
    block: int
    record: list[int]
    progress: Callable[[int], None] | None = None
    on_block: Callable[[Block], None] | None = None
    measure_start: bool = True
    plateau: float = 0.0
    interrupted: bool = field(default=False)


def record_points(steps: int, history_points: int) -> list[int]:
    """The steps whose loss the history keeps (evenly spread, at most ``history_points``)."""
    pts = np.linspace(0, max(steps - 1, 0), min(history_points, max(steps, 1)))
    return sorted(set(pts.round().astype(int).tolist()))


def pad(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` padded to ``n`` images with copies of its last one."""
    if len(x) == n:
        return x
    return np.concatenate([x, np.repeat(x[-1:], n - len(x), axis=0)])


def plateaued(values: np.ndarray, rise: float) -> np.ndarray:
    """Which columns of ``values`` (steps × images) have stopped rising: above zero, and
    up by less than ``rise`` × their value over the last :data:`PLATEAU_WINDOW` steps."""
    s = len(values)
    if s < PLATEAU_WINDOW + PLATEAU_SMOOTH:
        return np.zeros(values.shape[1], bool)
    now = values[s - PLATEAU_SMOOTH :].mean(axis=0)
    then = values[s - PLATEAU_WINDOW - PLATEAU_SMOOTH : s - PLATEAU_WINDOW].mean(axis=0)
    return (now > DEAD_EPS) & (now - then < rise * np.abs(now))


def run_chunks(plan: Plan, x0: np.ndarray) -> AscentResult:
    """Every chunk of ``x0`` through ``plan``'s engine (padded chunks: nothing retraces)."""
    B = len(x0)
    out = x0.copy()
    start, final = np.zeros(B, np.float32), np.zeros(B, np.float32)
    hist = np.zeros((len(plan.record), B), np.float32)
    each = np.full(B, plan.steps)
    done_steps = plan.steps
    for lo in range(0, B, plan.chunk):
        hi = min(lo + plan.chunk, B)
        if plan.interrupted:  # chunks never started keep their init; their values are measured
            w = plan.engine.weights(_padded_objectives(plan, lo, hi))
            v = plan.engine.evaluate(pad(x0[lo:hi], plan.chunk), w)[: hi - lo]
            start[lo:hi] = final[lo:hi] = hist[:, lo:hi] = v
            each[lo:hi] = 0
            continue
        c = _Chunk(plan, x0, lo, hi)
        s = c.run()
        out[lo:hi], start[lo:hi], final[lo:hi], each[lo:hi] = c.result(s)
        done_steps = min(done_steps, s)
        for t, r in enumerate(plan.record):
            hist[t, lo:hi] = c.values[r] if r < s else final[lo:hi]
        if plan.interrupted and lo == 0 and s == 0:
            done_steps = 0
    return AscentResult(
        out, start, final, hist, np.asarray(plan.record), done_steps, plan.interrupted,
        precision=plan.engine.precision, steps_each=each,
    )  # fmt: skip


def _padded_objectives(plan: Plan, lo: int, hi: int) -> list[Objective]:
    objs = plan.objectives[lo:hi]
    return objs + [objs[-1]] * (plan.chunk - (hi - lo))


class _Chunk:
    """One chunk's ascent: its variables (the parameterization's space), the values before
    each step, and which images still move."""

    def __init__(self, plan: Plan, x0: np.ndarray, lo: int, hi: int):
        engine, self.n = plan.engine, hi - lo
        self.plan, self.lo = plan, lo
        xc = pad(x0[lo:hi], plan.chunk)
        self.w = engine.weights(_padded_objectives(plan, lo, hi))
        self.fb = engine.fallback_weights(_padded_objectives(plan, lo, hi))
        self.start = (
            engine.evaluate(xc, self.w)[: self.n]
            if plan.measure_start
            else np.full(self.n, np.nan, np.float32)
        )
        self.u = engine.param.inverse(xc) if engine.param else xc.copy()
        self.values = np.zeros((plan.steps, self.n), np.float32)
        self.each = np.full(self.n, plan.steps)
        self.active: np.ndarray | None = None  # None: the whole padded chunk moves

    def run(self) -> int:
        """The steps, block by block; returns the steps done (fewer after Ctrl-C)."""
        import tensorflow as tf

        plan, s = self.plan, 0
        x, w, fb = tf.constant(self.u), self.w, self.fb
        try:
            while s < plan.steps:
                k = min(plan.block, plan.steps - s)
                x, h = plan.engine.run_block(x, w, fb, k, plan.lr, plan.seed, s)
                moving = self._store(x.numpy(), h.numpy(), s, k)
                s += k
                if plan.progress:
                    plan.progress(k * len(moving))
                if plan.on_block:
                    images = self._images()
                    plan.on_block(Block(self.lo, images, self.values[s - 1], s))
                if plan.plateau and s < plan.steps and self._stop(moving, s):
                    if self.active is not None and not len(self.active):
                        return plan.steps  # every image has stopped: the chunk is done
                    x, w, fb = self._subset()
        except KeyboardInterrupt:
            self.plan.interrupted = True
        return s

    def _store(self, u: np.ndarray, h: np.ndarray, s: int, k: int) -> np.ndarray:
        """Keep a block's variables and values; returns the moving images' indices."""
        moving = np.arange(self.n) if self.active is None else self.active
        self.u[moving] = u[: len(moving)]
        self.values[s : s + k, moving] = h[:, : len(moving)]
        return moving

    def _stop(self, moving: np.ndarray, s: int) -> bool:
        """Stop the moving images that have reached a plateau; True if any did."""
        done = plateaued(self.values[:s, moving], self.plan.plateau)
        if not done.any():
            return False
        stopped = moving[done]
        self.each[stopped] = s
        self.values[s:, stopped] = self.values[s - 1, stopped]  # they keep their last value
        if self.plan.progress:
            self.plan.progress(int(done.sum()) * (self.plan.steps - s))
        self.active = moving[~done]
        return True

    def _subset(self):
        """(variables, weights, fallback weights) of the images that still move."""
        import tensorflow as tf

        idx = tf.constant(self.active, tf.int32)
        pick = lambda t: tf.gather(t, idx)  # noqa: E731
        return (
            tf.constant(self.u[self.active]),
            tf.nest.map_structure(pick, self.w),
            tf.nest.map_structure(pick, self.fb),
        )

    def _images(self) -> np.ndarray:
        e = self.plan.engine
        return (e.param.forward(self.u) if e.param else self.u)[: self.n]

    def result(self, s: int):
        """(images, start values, final values, steps each) of the chunk's real images
        after ``s`` steps."""
        images = self._images()
        final = self.plan.engine.evaluate(pad(images, self.plan.chunk), self.w)[: self.n]
        return images, self.start, final, np.minimum(self.each, s)
