"""What the explorer's routes share: the served models, the gallery, the worker, and the
request errors with their HTTP status codes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from oipviz.core.errors import ImageError, OipvizError
from oipviz.serve.files import BadPath, Gallery, NoFile
from oipviz.serve.inputs import BadInput, TooLarge
from oipviz.serve.jobs import QueueFull, Worker
from oipviz.serve.quick import Served


class Unsupported(OipvizError):
    """A body of a media type the route does not take (HTTP 415)."""


class NotFound(OipvizError):
    """An unknown job, or something not served (HTTP 404)."""


class Conflict(OipvizError):
    """The request does not fit the resource's state, e.g. cancelling a finished job (409)."""


STATUS = (
    (TooLarge, 413),
    (Unsupported, 415),
    (QueueFull, 429),
    (BadPath, 400),
    (NoFile, 404),
    (NotFound, 404),
    (Conflict, 409),
    (ImageError, 400),
    (BadInput, 422),
)


@dataclass
class ServerState:
    """What the routes share: the served models, the gallery and the worker."""

    models: dict[str, Served]
    worker: Worker
    gallery: Gallery | None = None
    oip_defaults: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    #: Host headers answered (None: any); a local server answers its own names only
    allowed_hosts: tuple[str, ...] | None = None

    def served(self, role: str) -> Served:
        if role not in self.models:
            raise NotFound("no --compare model is served (start the server with --compare PATH)")
        return self.models[role]


def status_of(exc: OipvizError) -> int:
    """The HTTP status of a user error (422 unless listed in :data:`STATUS`)."""
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 422)
