"""PNG files encoded and written on worker threads, so that a site writer draws its next
picture while the earlier ones are compressed.

Pillow's zlib encoder releases the GIL (measured: two threads encoding a map page's
figures used 1.95 CPU-seconds per second), so the workers run beside the Python thread
that draws.  Each file is written as :func:`oipviz.core.outputs.save_image` writes it
(the same bytes, atomically); :meth:`ImagePool.wait` returns when the files submitted so
far (or up to a mark) are on disk and raises the first error, so a writer can write a page
only once its pictures exist (a page that exists is a finished item).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from oipviz.core.outputs import save_image

WORKERS = 1  # one encoder beside the drawing thread: both cores of a 2-core machine busy


class ImagePool:
    """Saves PIL images as PNG on ``workers`` threads; use it as a context manager.

    Parameters
    ----------
    workers : int
        Encoder threads.
    """

    def __init__(self, workers: int = WORKERS):
        self._pool = ThreadPoolExecutor(max(1, int(workers)), thread_name_prefix="oipviz-png")
        self._pending: list[tuple[int, Future]] = []
        self.submitted = 0  # a mark: the number of images submitted so far

    def save(self, path: str | Path, image, fast: bool = False) -> Path:
        """Queue ``image`` for ``path`` (as :func:`~oipviz.core.outputs.save_image`).

        Parameters
        ----------
        path : str or Path
            The file; its folder must exist.
        image : PIL.Image.Image
            The picture; it must not change afterwards.
        fast : bool
            zlib level 1 instead of 6.

        Returns
        -------
        Path
            ``path`` (the file exists after :meth:`wait`).
        """
        self._pending.append((self.submitted, self._pool.submit(save_image, path, image, fast)))
        self.submitted += 1
        return Path(path)

    def wait(self, mark: int | None = None) -> None:
        """Block until the images submitted before ``mark`` (None: all) are written.

        Parameters
        ----------
        mark : int or None
            A value of :attr:`submitted` taken earlier.

        Raises
        ------
        Exception
            The first error of those writes (an OSError of a full disk, ...).
        """
        upto = self.submitted if mark is None else mark
        done = [(i, f) for i, f in self._pending if i < upto]
        self._pending = [(i, f) for i, f in self._pending if i >= upto]
        for _, f in done:
            f.result()

    def close(self, cancel: bool = False) -> None:
        """Stop the workers after the queued writes (``cancel``: after the running ones;
        queued ones are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> ImagePool:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None:  # an error or Ctrl-C: no new files, the running ones finish
            self.close(cancel=True)
            return
        try:
            self.wait()
        finally:
            self.close()
