"""One job of the explorer's worker: its state, events and the context it runs with."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from oipviz.core.errors import OipvizError

log = logging.getLogger("oipviz.serve")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
TERMINAL = (DONE, FAILED, CANCELLED)
MAX_EVENTS = 64  # events kept per job (a late stream starts at the oldest kept)
MAX_JOBS = 256  # finished jobs kept for GET /api/jobs/{id}
MAX_FILE_JOBS = 8  # of which this many keep their files (a dream's picture) for download
CACHE_BYTES = 64 * 2**20  # the results cache's budget for files


class JobCancelled(Exception):
    """Raised inside a job (from its progress hooks) when it was cancelled."""


class QueueFull(OipvizError):
    """The job (or quick-call) queue is at its bound; the client should retry later."""


@dataclass
class Job:
    """One long computation and everything a client can see of it."""

    id: str
    kind: str
    params: dict
    run: Callable[[JobContext], dict] = field(repr=False)
    key: tuple | None = None  # results-cache key (None: not cached)
    internal: bool = False  # started by the server itself (not counted in the queue bound)
    state: str = QUEUED
    progress: dict = field(default_factory=lambda: {"fraction": 0.0})
    result: dict | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    files: dict = field(default_factory=dict, repr=False)  # name -> (bytes, media type)
    events: deque = field(default_factory=lambda: deque(maxlen=MAX_EVENTS), repr=False)
    seq: int = 0
    cancel_flag: threading.Event = field(default_factory=threading.Event, repr=False)
    waiters: list = field(default_factory=list, repr=False)  # (loop, asyncio.Event)
    streams: int = 0  # open event streams
    cancel_reason: str = "cancelled"

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def snapshot(self) -> dict:
        """What ``GET /api/jobs/{id}`` returns."""
        took = (self.finished or time.time()) - self.started if self.started else None
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "params": self.params,
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
            "seconds": None if took is None else round(took, 3),
        }


class Runner(Protocol):
    """What a job's context needs of the worker (:class:`oipviz.serve.jobs.Worker`)."""

    stopping: bool

    def serve_quick(self) -> None: ...

    def run_users_jobs(self) -> None: ...

    def publish(self, job: Job, name: str, data: dict) -> None: ...


class JobContext:
    """What a running job uses: ``check()`` between blocks, ``progress``, ``emit``."""

    def __init__(self, worker: Runner, job: Job):
        self.worker, self.job = worker, job
        self.last_progress = 0.0

    def check(self) -> None:
        """Serve waiting quick calls (and, in the server's own background work, users'
        jobs); raise :class:`JobCancelled` if the job was cancelled."""
        self.worker.serve_quick()
        if self.job.internal:
            self.worker.run_users_jobs()
        if self.job.cancel_flag.is_set() or self.worker.stopping:
            raise JobCancelled()

    def set_progress(self, fraction: float, **info) -> None:
        """Record progress (0–1); an event at most every 2% (and at the end)."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        self.job.progress = {"fraction": round(fraction, 4), **info}
        if fraction - self.last_progress >= 0.02 or fraction >= 1.0:
            self.last_progress = fraction
            self.worker.publish(self.job, "progress", self.job.progress)

    def emit(self, name: str, data: dict) -> None:
        self.worker.publish(self.job, name, data)
