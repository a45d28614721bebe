"""``oipviz serve``: the live explorer, a local web app over the same compute functions.

A shell like :mod:`oipviz.cli`: FastAPI routes (:mod:`.app`, :mod:`.routes`) validate
requests and hand every piece of TensorFlow work to one worker thread (:mod:`.jobs`),
which calls the public API (:mod:`.quick`, :mod:`.work`).  The page is plain HTML, CSS and
JavaScript in ``static/`` (no build step).  From Python::

    from oipviz.serve import start
    server = start()            # a background thread on a free port of 127.0.0.1
    server.url                  # open it in a browser; server.stop() ends it
"""

from __future__ import annotations


def start(*args, **kwargs):
    """Start the explorer in a background thread; see :func:`oipviz.serve.server.start`."""
    from oipviz.serve.server import start as _start

    return _start(*args, **kwargs)


__all__ = ["start"]
