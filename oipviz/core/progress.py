"""Progress for the Python API: a callback, a notebook/terminal bar (tqdm.auto), or nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm.auto import tqdm

Progress = Callable[[int], None]
#: progress over named stages: ``f(stage, n, total)``, False (silent) or None/True (bars)
StageProgress = Callable[[str, int, int], None] | bool | None


@contextmanager
def reporter(progress, total: int, desc: str) -> Iterator[Progress | None]:
    """``progress``: a callable (used as is), ``False`` (silent) or ``None``/``True``
    (a tqdm.auto bar of ``total`` image-steps, closed at the end)."""
    if progress is False:
        yield None
    elif callable(progress):
        yield progress
    else:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(total), desc=desc, unit="img-step", unit_scale=True, leave=False)
        try:
            yield bar.update
        finally:
            bar.close()


class Stages:
    """Progress over named stages: ``self(stage, n, total)``.  ``progress`` is a callable
    with that signature, ``False`` (silent) or None (one tqdm.auto bar per stage)."""

    def __init__(self, progress: StageProgress = None):
        self.progress = progress
        self.bar: tqdm | None = None
        self.stage: str | None = None

    def __call__(self, stage: str, n: int, total: int) -> None:
        if self.progress is False:
            return
        if callable(self.progress):
            self.progress(stage, n, total)
            return
        if stage != self.stage or self.bar is None:
            self.close()
            from tqdm.auto import tqdm

            self.stage = stage
            self.bar = tqdm(
                total=int(total), desc=stage, unit="img-step", unit_scale=True, leave=False
            )
        self.bar.update(n)

    def tick(self, stage: str, total: int) -> Progress:
        """A plain ``f(n)`` callback for one stage."""
        return lambda n: self(stage, int(n), int(total))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
