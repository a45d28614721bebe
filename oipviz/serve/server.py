"""Running the explorer: the models and gallery checked before anything listens, a socket
bound by us (so a busy port is a one-line error and ``port=0`` picks a free one), uvicorn
in the foreground (``oipviz serve``) or in a background thread (:func:`start`, for
notebooks and tests).

In the foreground, uvicorn catches Ctrl-C, shuts down (open event streams get
``GRACE`` seconds; the worker cancels its job at the next block) and then raises the
signal again, so the command line ends with its usual "interrupted" and status 130.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import sys
import threading
import time
from pathlib import Path

from oipviz.core.errors import ModelError, OipvizError
from oipviz.serve.app import create_app
from oipviz.serve.files import Gallery
from oipviz.serve.jobs import Worker
from oipviz.serve.quick import Served
from oipviz.serve.state import ServerState

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def allowed_hosts(host: str) -> tuple[str, ...] | None:
    """The Host headers a server bound to ``host`` answers: its local names, or any."""
    return LOCAL_HOSTS if host in LOCAL_HOSTS else None


GRACE = 2  # seconds open connections get at shutdown
log = logging.getLogger("oipviz.serve")


def model_hash(loaded) -> str:
    """SHA-256 of the model file, or of the weights of a model built in memory."""
    from oipviz.core.versions import file_sha256

    if Path(loaded.path).is_file():
        return file_sha256(loaded.path)
    h = hashlib.sha256()
    for w in loaded.model.get_weights():
        h.update(w.tobytes())
    return h.hexdigest()


def as_loaded(model):
    """A model already loaded (it has a layer table), or a path/name loaded now."""
    import oipviz

    return (
        model
        if hasattr(model, "layers") and hasattr(model, "convention")
        else (oipviz.load_model(model))
    )


def build_state(model=None, compare=None, gallery=None, max_queue: int = 8) -> ServerState:
    """Load and check everything the server needs (one-line errors before it listens).

    Parameters
    ----------
    model, compare : str, Path, LoadedModel or None
        The model (None: the bundled one) and an optional second model shown beside it.
    gallery : str or Path, optional
        A folder written by ``oipviz gallery`` for ``model``.
    max_queue : int
        Jobs that may wait (beyond the running one) before requests get HTTP 429.

    Returns
    -------
    ServerState
    """
    from oipviz.serve.inputs import input_geometry
    from oipviz.serve.work import OIP_DEFAULTS

    loaded = as_loaded(model)
    models = {"main": Served("main", loaded, model_hash(loaded))}
    if compare is not None:
        other = as_loaded(compare)
        if input_geometry(other) != input_geometry(loaded):
            raise ModelError(
                f"--compare {other.name} takes {other.geometry.describe()} images, "
                f"{loaded.name} takes {loaded.geometry.describe()}; they cannot share a drawing"
            )
        models["compare"] = Served("compare", other, model_hash(other))
    found = None
    if gallery is not None:
        found = Gallery(gallery)
        found.check_model(models["main"].sha256, loaded.name, loaded.convention)
    defaults = dict(OIP_DEFAULTS, **(found.settings() if found else {}))
    return ServerState(models, Worker(max_queue=max_queue), found, defaults)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OipvizError(f"--host {host}: unknown host ({exc.strerror})") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: a response's headers and body go out at once
    # (without it, Nagle + the client's delayed ACK add ~40 ms to every request)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OipvizError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another port with --port (0: any free port)",
        ) from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _server(state: ServerState):
    """A uvicorn server whose shutdown first ends the open event streams (they would
    otherwise keep their connections until the grace period runs out)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            state.worker.close_streams()
            super().handle_exit(sig, frame)

    return Server(_config(create_app(state)))


def _config(app, quiet_uvicorn: bool = True):
    import uvicorn

    return uvicorn.Config(
        app,
        log_level="warning" if quiet_uvicorn else "info",
        access_log=False,  # our Guard writes one line per request
        timeout_graceful_shutdown=GRACE,
        lifespan="on",
        log_config=None,
    )


def run(state: ServerState, sock: socket.socket, on_started=None) -> None:
    """Serve in the foreground until Ctrl-C (then KeyboardInterrupt is raised again after
    a clean shutdown)."""
    server = _server(state)
    if on_started is not None:
        threading.Thread(target=_when_started, args=(server, on_started), daemon=True).start()
    server.run(sockets=[sock])
    if server.started is False and not server.should_exit:
        raise OipvizError("the server did not start (see the messages above)")


def _when_started(server, fn) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.05)
    if server.started:
        fn()


class Background:
    """A server running in a thread of this process (``stop()`` ends it)."""

    def __init__(self, state: ServerState, sock: socket.socket, host: str):
        self.state, self.url = state, url_of(sock, host)
        self.server = _server(state)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="oipviz-serve", daemon=True
        )
        self.sock = sock
        self.thread.start()
        t0 = time.time()
        while not self.server.started:
            if not self.thread.is_alive() or time.time() - t0 > 60:
                raise OipvizError("the server did not start")
            time.sleep(0.02)

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Wait until the worker has warmed up (traced the engine)."""
        return self.state.worker.ready.wait(timeout)

    def stop(self) -> None:
        self.state.worker.close_streams()
        self.server.should_exit = True
        self.thread.join(GRACE + 5)
        self.sock.close()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<oipviz explorer at {self.url}>"


def start(
    model=None, compare=None, gallery=None, host: str = "127.0.0.1", port: int = 0, **kw
) -> Background:
    """Start the explorer in a background thread (e.g. from a notebook); returns a handle
    with ``.url`` and ``.stop()``.

    Parameters
    ----------
    model, compare, gallery, host, port :
        As for ``oipviz serve`` (``port=0``: a free port).
    **kw :
        Passed to :func:`build_state` (``max_queue``).

    Returns
    -------
    Background
    """
    state = build_state(model, compare, gallery, **kw)
    state.allowed_hosts = allowed_hosts(host)
    return Background(state, listen(host, port), host)


def setup_logging(stream=None) -> None:
    """One line per request on stderr (the command line calls this once)."""
    logger = logging.getLogger("oipviz.serve")
    if not logger.handlers:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
