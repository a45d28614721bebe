"""The explorer's web app (FastAPI): the page, the gallery's files, errors, limits, logs.

The JSON API lives in :mod:`oipviz.serve.routes`; this module builds the app around it:

* every error is ``{"error": "<one line>", "status": <code>}`` with a 4xx code for bad
  input (413 too large, 415 wrong media type, 422 invalid values, 429 full queue, ...);
  a bug is a 500 with one line, logged with its traceback, and the server lives on;
* :class:`Guard` (pure ASGI) refuses bodies over the upload limit, from the header or while
  they stream in, and writes one log line per request (method, path, status, time);
* files come from the package's ``static/`` folder and the ``--gallery`` folder only
  (:func:`oipviz.serve.files.safe_file`).
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException

from oipviz.core.errors import OipvizError
from oipviz.serve.files import STATIC_DIR, safe_file
from oipviz.serve.inputs import MAX_UPLOAD_BYTES, TooLarge
from oipviz.serve.routes import api_router
from oipviz.serve.state import NotFound, ServerState, status_of

log = logging.getLogger("oipviz.serve")
MB = 1024 * 1024  # sizes in messages are binary megabytes (the limit: 10 MB)


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    line = " ".join(str(message).split())[:500] or "error"
    return JSONResponse({"error": line, "status": status}, status_code=status, headers=headers)


class Guard:
    """ASGI middleware: the upload limit and one log line per request."""

    def __init__(self, app, limit: int = MAX_UPLOAD_BYTES, hosts: tuple[str, ...] | None = None):
        self.app, self.limit, self.hosts = app, limit, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0, status, size = time.perf_counter(), [0], [0]
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = -1
        try:
            if self.hosts is not None and _hostname(headers.get(b"host", b"")) not in self.hosts:
                # a page of another site reaching us through DNS rebinding names its own host
                status[0] = 400
                return await error(400, "bad Host header for a local server")(scope, receive, send)
            if declared < 0 or declared > self.limit:
                code = 413 if declared > self.limit else 400
                msg = (
                    f"the body is {declared / MB:.1f} MB; the limit is {self.limit / MB:g} MB"
                    if code == 413
                    else "bad Content-Length header"
                )
                resp = error(code, msg)
                status[0] = code
                return await resp(scope, receive, send)

            async def limited_receive():
                msg = await receive()
                if msg["type"] == "http.request":
                    size[0] += len(msg.get("body", b""))
                    if size[0] > self.limit:
                        raise TooLarge(f"the body is over the {self.limit / MB:g} MB limit")
                return msg

            async def logged_send(msg):
                if msg["type"] == "http.response.start":
                    status[0] = msg["status"]
                await send(msg)

            await self.app(scope, limited_receive, logged_send)
        finally:
            path = scope.get("path", "")
            q = scope.get("query_string", b"").decode("latin-1")
            client = (scope.get("client") or ("-",))[0]
            log.info(
                "%s %s %s %s %.1f ms",
                client,
                scope.get("method", "-"),
                (path + ("?" + q if q else ""))[:200],
                status[0] or "-",
                (time.perf_counter() - t0) * 1e3,
            )


def _hostname(raw: bytes) -> str:
    """The host name of a Host header (``[::1]:8765`` -> ``::1``, ``localhost:80`` -> ...)."""
    host = raw.decode("latin-1").strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def create_app(state: ServerState) -> FastAPI:
    """The app for ``state`` (its worker starts with the app and stops with it)."""
    from oipviz.serve.work import warm_up

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not state.worker.thread.is_alive() and not state.worker.ready.is_set():
            state.worker.start(warm_up(state.models))
        yield
        state.worker.stop()

    app = FastAPI(
        title="oipviz explorer",
        version=_version(),
        description="Draw a digit, see what every map of the CNN does with it, and watch "
        "any map's optimal input pattern climb. Jobs stream as server-sent events.",
        docs_url=None,  # Swagger UI loads from a CDN: the page must work offline
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.oipviz = state
    _handlers(app)
    app.include_router(api_router)
    _file_routes(app, state)
    return Guard(app, hosts=state.allowed_hosts)  # type: ignore[return-value]


def _version() -> str:
    from oipviz import __version__

    return __version__


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(OipvizError)
    async def oipviz_error(request: Request, exc: OipvizError):
        code = status_of(exc)
        return error(code, str(exc), {"Retry-After": "2"} if code == 429 else None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        msg = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and msg == "Not Found":
            msg = f"not found: {request.url.path}"
        return error(exc.status_code, msg, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        msg = first.get("msg", "invalid request")
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        return error(422, f"{where}: {msg}{more}")

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return error(500, f"internal error {type(exc).__name__}: {first}")


def _file_routes(app: FastAPI, state: ServerState) -> None:
    no_cache = {"Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC_DIR / "index.html", headers=no_cache)

    @app.get("/static/{path:path}", include_in_schema=False)
    async def static(path: str):
        return FileResponse(safe_file(STATIC_DIR, path), headers=no_cache)

    @app.get("/gallery", include_in_schema=False)
    async def gallery_root():
        return RedirectResponse("/gallery/")

    @app.get("/gallery/{path:path}", include_in_schema=False)
    async def gallery(path: str):
        if state.gallery is None:
            raise NotFound("no gallery is served (start the server with --gallery DIR)")
        return FileResponse(safe_file(state.gallery.root, path))
