"""THE batched gradient-ascent engine.  Every feature (OIPs, precursor, dream, galleries,
the live explorer, the training tracker) runs through :func:`ascend`.

:func:`ascend` checks its inputs, prunes images that cannot move, cuts the batch into
chunks and runs each chunk through the compiled :class:`~oipviz.core.engine.Engine` in
blocks of steps (:mod:`oipviz.core.chunks`); Ctrl-C, progress, the ``on_block`` hook and
the plateau stop act between blocks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from oipviz.core import checks
from oipviz.core import precision as precisions
from oipviz.core.chunks import AscentResult, Block, Plan, record_points, run_chunks
from oipviz.core.engine import Engine
from oipviz.core.errors import OipvizError
from oipviz.core.objectives import Objective, customs_of
from oipviz.core.transforms import check as check_transforms

__all__ = ["AscentResult", "Block", "Engine", "ascend", "evaluate", "forward", "max_chunk"]

DEFAULT_CHUNK = 1024
#: input floats per compiled call: 1,024 images of 28×28×1 (MNIST) are far below it; a
#: 224×224×3 model gets chunks of 21 images, so its activations fit in memory
CHUNK_FLOATS = 4 * 1024 * 28 * 28


def max_chunk(loaded) -> int:
    """The most images per compiled call for the model's image size (memory bound)."""
    return max(1, CHUNK_FLOATS // int(np.prod(loaded.geometry.shape)))


#: image-steps per compiled call (Ctrl-C and progress act between calls): 25 steps for a
#: batch of 1,024, more steps per call for small batches (less per-call overhead)
BLOCK_IMAGE_STEPS = 25 * 1024
BLOCK_RANGE = (25, 400)


def ascend(
    loaded, x0: np.ndarray, objectives: list[Objective] | Objective, steps: int = 600,
    lr: float = 0.01, transforms=(), seed: int = 0, chunk: int = DEFAULT_CHUNK,
    history_points: int = 100, progress: Callable[[int], None] | None = None,
    prune: bool = True, precision: str = "float32", measure_start: bool = True,
    on_block: Callable[[Block], None] | None = None, block_steps: int | None = None,
    plateau: float = 0.0,
) -> AscentResult:  # fmt: skip
    """Gradient ascent on ``x0``, each image on its own objective.

    Parameters
    ----------
    loaded : LoadedModel
        The model.
    x0 : ndarray
        The start images in engine space (B, H, W, C).
    objectives : Objective or list of Objective
        One per image, or one for all.
    steps : int
        Ascent steps.
    lr : float
        The RMS of each step.
    seed : int
        Seeds every random transform.
    transforms : sequence
        From :mod:`oipviz.core.transforms` (jitter, scale, rotate, TV, blur, clipping).
    chunk : int
        Images per compiled call (padded: nothing retraces).
    history_points : int
        Points of the loss history.
    progress : callable, optional
        ``progress(n)``: image-steps just done.  An exception it raises propagates.
    prune : bool
        Without random or penalty transforms, an image whose gradient is exactly zero
        cannot move (the step is gradient/RMS): measured once, returned as it is.
    precision : str
        Of the steps (:mod:`oipviz.core.precision`); every reported value is float32.
    measure_start : bool
        False skips measuring the inits (``start`` is NaN for images that move).
    on_block, block_steps : optional
        ``on_block(Block)`` after every compiled block of ``block_steps`` steps.
    plateau : float
        > 0: an image whose value rose by less than this fraction of it over the last 50
        steps stops there (:mod:`oipviz.core.chunks`; ``steps_each`` says when); 0: every
        image takes every step.

    Returns
    -------
    AscentResult
        Ctrl-C returns what has been reached so far (``interrupted=True``).
    """
    x0, objectives = _images(loaded, x0), _per_image(objectives, len(x0))
    steps, lr, seed = checks.integer("steps", steps, 0), checks.lr(lr), checks.seed(seed)
    chunk = min(checks.integer("chunk", chunk, 1), max_chunk(loaded))
    if block_steps is not None:
        block_steps = checks.integer("block steps", block_steps, 1)
    transforms = check_transforms(transforms)
    plateau = checks.number("plateau", plateau, 0.0, 1.0)
    engine = _engine(loaded, objectives, transforms, precision)
    if prune and steps and len(x0) and all(t.stage == "gradient" for t in transforms):
        still = _still(engine, x0, objectives, chunk)
        if still.any():
            settings = dict(
                steps=steps, lr=lr, transforms=transforms, seed=seed, chunk=chunk,
                history_points=history_points, progress=progress, precision=engine.precision,
                measure_start=measure_start, on_block=on_block, block_steps=block_steps,
                plateau=plateau,
            )  # fmt: skip
            return _pruned(loaded, engine, x0, objectives, still, settings)
    chunk = max(1, min(chunk, len(x0)))
    plan = Plan(
        engine, objectives, steps, lr, seed, chunk,
        block_steps or int(np.clip(BLOCK_IMAGE_STEPS // chunk, *BLOCK_RANGE)),
        record_points(steps, history_points), progress, on_block, measure_start, plateau,
    )  # fmt: skip
    return run_chunks(plan, x0)


def _per_image(objectives, n: int) -> list[Objective]:
    out = [objectives] * n if isinstance(objectives, Objective) else list(objectives)
    if len(out) != n:
        raise OipvizError(f"{len(out)} objectives for {n} images")
    return out


def _engine(loaded, objectives: list[Objective], transforms: tuple, precision: str) -> Engine:
    """The compiled engine for these objectives (their heads, user functions, fallbacks)."""
    return Engine.get(
        loaded,
        list(dict.fromkeys(h for o in objectives for h in o.heads)),
        customs_of(objectives),
        transforms,
        any(o.fallback is not None for o in objectives),
        precisions.resolve(precision),
    )


def _images(loaded, x0) -> np.ndarray:
    """``x0`` as a contiguous float32 batch of the model's image shape (finite)."""
    x = checks.finite_array("x0", x0)
    shape = tuple(loaded.geometry.shape)
    if x.shape[1:] != shape:
        if x.size % int(np.prod(shape)):
            raise OipvizError(f"x0 has shape {x.shape}; the model takes images {shape}")
        x = x.reshape((-1, *shape))
    return np.ascontiguousarray(x)


def _still(engine: Engine, x0: np.ndarray, objectives: list[Objective], chunk: int) -> np.ndarray:
    """True for images whose step gradient is exactly zero everywhere."""
    out = np.zeros(len(x0), bool)
    for lo in range(0, len(x0), chunk):
        objs = objectives[lo : lo + chunk]
        w, fb = engine.weights(objs), engine.fallback_weights(objs)
        out[lo : lo + chunk] = engine.still(x0[lo : lo + chunk], w, fb)
    return out


def _pruned(loaded, engine, x0, objectives, still, settings: dict) -> AscentResult:
    """Step only the moving images; the still ones come back as they went in."""
    moving = np.flatnonzero(~still)
    steps, progress = settings["steps"], settings["progress"]
    v = evaluate(
        loaded, x0[still], [objectives[i] for i in np.flatnonzero(still)], settings["chunk"]
    )
    if progress:
        progress(int(still.sum()) * steps)
    out, start, final = x0.copy(), np.zeros(len(x0), np.float32), np.zeros(len(x0), np.float32)
    start[still] = final[still] = v
    if not len(moving):
        rec = np.asarray(record_points(steps, settings["history_points"]))
        hist = np.broadcast_to(final, (len(rec), len(x0))).copy()
        return AscentResult(
            out, start, final, hist, rec, steps, False, int(still.sum()), engine.precision
        )
    r = ascend(loaded, x0[moving], [objectives[i] for i in moving], prune=False, **settings)
    out[moving], start[moving], final[moving] = r.images, r.start, r.final
    hist = np.broadcast_to(final, (len(r.history), len(x0))).copy()
    hist[:, moving] = r.history
    each = np.zeros(len(x0), int)
    each[moving] = r.steps_each if r.steps_each is not None else r.steps_done
    return AscentResult(
        out, start, final, hist, r.history_steps, r.steps_done, r.interrupted,
        int(still.sum()), r.precision, each,
    )  # fmt: skip


def evaluate(
    loaded, x: np.ndarray, objectives: list[Objective] | Objective, chunk: int = DEFAULT_CHUNK
) -> np.ndarray:
    """Objective values of images ``x`` (engine space) without changing them."""
    return ascend(loaded, x, objectives, steps=0, chunk=chunk, measure_start=False).final


def forward(
    loaded, heads: list[tuple[str, bool]], x: np.ndarray, chunk: int = DEFAULT_CHUNK
) -> list[np.ndarray]:
    """The outputs of ``heads`` ((layer, pre_activation) pairs) for engine-space images,
    in chunks, through the engine's one compiled forward function."""
    engine = Engine.get(loaded, heads)
    x = _images(loaded, np.asarray(x, np.float32))
    chunk = min(chunk, max_chunk(loaded))
    parts = [engine.forward(x[lo : lo + chunk]) for lo in range(0, len(x), chunk)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(heads))]
