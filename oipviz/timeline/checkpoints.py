"""A timeline from saved checkpoints (``oipviz track --checkpoints DIR``): the same
points as during training, one per checkpoint, in the order of the epoch number in their
file names (``epoch_03.weights.h5``, ``model.05.keras``, ...).

Each checkpoint's weights are loaded into one model (its variables are assigned, so the
engines compiled at the first point serve every point).  Every checkpoint is loaded once
before the first point is measured, so a file that does not fit the model is a one-line
error before any work.  Points already kept in the folder (``--resume``) are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from oipviz.core.errors import DataError, ModelError, OutputError
from oipviz.timeline.point import Position
from oipviz.timeline.session import TrackSession

SUFFIXES = (".weights.h5", ".keras", ".h5", ".hdf5")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file, the epoch its name gives (None: no number) and its label."""

    path: Path
    epoch: int | None
    label: str


def find_checkpoints(folder) -> list[Checkpoint]:
    """The checkpoint files in ``folder``, ordered by the first number in their names
    (then by name); labelled ``epoch N`` when every name has a distinct number."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"--checkpoints {folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(SUFFIXES))
    if not files:
        raise DataError(f"no checkpoints in {folder}: expected *.weights.h5, *.keras or *.h5 files")
    numbers = [_NUMBER.search(p.name) for p in files]
    epochs = [int(m.group()) if m else None for m in numbers]
    numbered = None not in epochs and len(set(epochs)) == len(epochs)
    order = sorted(
        range(len(files)), key=lambda i: (epochs[i] is None, epochs[i] or 0, files[i].name)
    )
    return [
        Checkpoint(files[i], epochs[i], f"epoch {epochs[i]}" if numbered else files[i].name)
        for i in order
    ]


def load_checkpoint(model, ckpt: Checkpoint) -> None:
    """Assign the checkpoint's weights to ``model``; a one-line error if they do not fit."""
    try:
        model.load_weights(ckpt.path)
    except Exception as exc:  # Keras raises many types for files that do not fit
        text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"cannot load checkpoint {ckpt.path.name} into the model: {text}"
        ) from None


def track_checkpoints(
    session: TrackSession,
    loaded,
    checkpoints: list[Checkpoint],
    progress: Callable[[int, str], None] | None = None,
):
    """Measure ``loaded`` with each checkpoint's weights and keep the points; returns the
    finished folder.  ``progress(t, label)`` after each point."""
    for ckpt in checkpoints:  # all of them fit, or nothing is computed
        load_checkpoint(loaded.model, ckpt)
    kept = session.start(loaded, f"checkpoints: {checkpoints[0].path.parent.name}")
    for t, ckpt in enumerate(checkpoints):
        if t < len(kept):
            if kept.points[t].position.label != ckpt.label:
                raise OutputError(
                    f"--resume: point {t} was {kept.points[t].position.label!r}, the "
                    f"checkpoint now is {ckpt.label!r}; use --force to start over"
                )
            continue
        load_checkpoint(loaded.model, ckpt)
        epoch = float(ckpt.epoch if ckpt.epoch is not None else t)
        try:
            session.record(Position(t, epoch, 0, ckpt.label))
        except KeyboardInterrupt:
            if len(session.timeline):
                session.finish(interrupted=True)
            raise
        if progress:
            progress(t, ckpt.label)
    return session.finish()
