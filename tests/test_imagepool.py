"""The gallery's PNG pool (oipviz.core.imagepool): the same files as save_image, a page's
figures on disk before the page, and a failed write reported, not lost; the thread that
computes the feature spaces beside the pages (oipviz.core.beside)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def _pictures(n: int):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)) for _ in range(n)]


def test_pool_writes_the_bytes_save_image_writes(tmp_path):
    from oipviz.core.imagepool import ImagePool
    from oipviz.core.outputs import save_image

    pics = _pictures(6)
    with ImagePool() as pool:
        for i, im in enumerate(pics):
            pool.save(tmp_path / f"p{i}.png", im, i % 2 == 0)
        mark = pool.submitted
        pool.wait(mark)
        assert all((tmp_path / f"p{i}.png").exists() for i in range(6))
    for i, im in enumerate(pics):
        ref = save_image(tmp_path / f"ref{i}.png", im, i % 2 == 0)
        assert (tmp_path / f"p{i}.png").read_bytes() == ref.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_a_failed_write_is_raised_by_wait(tmp_path):
    from oipviz.core.imagepool import ImagePool

    pool = ImagePool()
    try:
        pool.save(tmp_path / "fine.png", _pictures(1)[0])
        mark = pool.submitted
        pool.save(tmp_path / "no_such_folder" / "x.png", _pictures(1)[0])
        pool.wait(mark)  # the files before the mark are fine
        assert (tmp_path / "fine.png").exists()
        with pytest.raises(OSError):
            pool.wait()
    finally:
        pool.close()
    with pytest.raises(OSError), ImagePool() as pool:  # and by leaving the block
        pool.save(tmp_path / "no_such_folder" / "y.png", _pictures(1)[0])


def test_work_beside_returns_its_value_or_raises_its_error():
    """core.beside: the feature spaces' thread hands back their result or their error."""
    from oipviz.core.beside import Beside
    from oipviz.core.errors import OipvizError

    job = Beside(sorted, [3, 1, 2], reverse=True)
    assert job.result() == [3, 2, 1] and job.seconds >= 0

    def fails():
        raise OipvizError("no digits")

    with pytest.raises(OipvizError, match="no digits"):
        Beside(fails).result()


def test_work_beside_stops_at_its_next_progress_report():
    """After an error or Ctrl-C the site stops the computation instead of waiting for it."""
    import threading

    from oipviz.core.beside import Beside, Stopped

    started = threading.Event()

    def endless(progress):
        n = 0
        while True:
            started.set()
            progress("t-SNE", 1, 10**9)
            n += 1

    job = Beside(endless, progress=True)
    started.wait(5)
    job.stop()  # returns once the thread ended
    with pytest.raises(Stopped):
        job.result()
