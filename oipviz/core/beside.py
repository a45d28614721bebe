"""A compute function run on a thread of its own beside the caller's work (a site writer's
pages), its result collected later: compute → result → writer still holds, the writer only
waits for the result.  Numerical libraries that release the GIL (openTSNE's gradients,
scikit-learn's k-means, BLAS) then use a core the drawing thread leaves idle."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class Stopped(Exception):
    """Raised inside a :class:`Beside` computation by its progress callback after
    :meth:`Beside.stop`."""


class Beside:
    """``fn(*args, **kwargs)`` started at once on a (non-daemon) thread.

    Parameters
    ----------
    fn : callable
        A compute function: no files, no progress bars (it runs beside other output).
        If it takes a ``progress(stage, n, total)`` callback, pass ``progress=True``: it gets
        one that ends it (raising :class:`Stopped`) at its next progress report after
        :meth:`stop` (a Ctrl-C of the caller need not wait for it).
    *args, **kwargs
        Its arguments.
    """

    def __init__(self, fn: Callable[..., Any], *args, **kwargs):
        self._value: Any = None
        self._error: BaseException | None = None
        self.seconds = 0.0  # its wall time, once finished
        self._stop = threading.Event()
        if kwargs.get("progress") is True:
            kwargs["progress"] = self._watch
        self._thread = threading.Thread(
            target=self._run, args=(fn, args, kwargs), name="oipviz-beside"
        )
        self._thread.start()

    def _run(self, fn, args, kwargs) -> None:
        t = time.perf_counter()
        try:
            self._value = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc
        finally:
            self.seconds = time.perf_counter() - t

    def _watch(self, stage: str, n: int, total: int) -> None:
        if self._stop.is_set():
            raise Stopped(f"stopped during {stage}")

    def stop(self) -> None:
        """Ask the computation to end at its next progress report (see ``progress``) and
        wait for it."""
        self._stop.set()
        self._thread.join()

    def result(self) -> Any:
        """Wait for ``fn``; its value, or its exception raised here.

        Returns
        -------
        object
            What ``fn`` returned.
        """
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
