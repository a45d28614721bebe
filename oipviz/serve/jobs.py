"""The explorer's one TensorFlow thread: a bounded job queue, quick calls, cancellation,
server-sent events and the results cache.

* :class:`Worker` owns a single thread that runs every piece of TensorFlow work.  Long
  work (OIPs, precursor, dream, dataset statistics) runs as :class:`Job` objects taken
  from a bounded queue; short work (predict, explain) goes through :meth:`Worker.call`,
  which the event loop awaits.  Quick calls run before the next job and *between the
  blocks of a running job* (every job checks in through :meth:`JobContext.check` after
  each compiled block), so a drawing gets its prediction while an OIP climbs.
* Cancelling a job (``DELETE``, or its last event stream going away) sets a flag that the
  job's next check turns into :class:`JobCancelled`; the engine lets that exception
  through, so the job stops after at most one block of steps.
* A job's events (progress, frames) are kept in a short ring with sequence numbers;
  event streams wait on an ``asyncio.Event`` that the thread sets through the loop.
* :class:`LRU` bounds every cache and the table of finished jobs (no unbounded growth).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from oipviz.core.errors import OipvizError
from oipviz.serve.cache import LRU
from oipviz.serve.job import (
    CACHE_BYTES,
    CANCELLED,
    DONE,
    FAILED,
    MAX_FILE_JOBS,
    MAX_JOBS,
    QUEUED,
    RUNNING,
    Job,
    JobCancelled,
    JobContext,
    QueueFull,
    log,
)

__all__ = ["Worker", "Job", "JobContext", "JobCancelled", "QueueFull", "log"]


class Worker:
    """The TensorFlow thread, its queues, the job table and the results cache."""

    def __init__(self, max_queue: int = 8, max_quick: int = 64, cache_size: int = 128):
        self.max_queue, self.max_quick = max_queue, max_quick
        self.jobs_q: deque[Job] = deque()
        self.quick_q: deque = deque()
        self.cv = threading.Condition()
        self.table: OrderedDict[str, Job] = OrderedDict()
        self.cache = LRU(cache_size, CACHE_BYTES)
        self.current: Job | None = None
        self.stopping = False
        self.closing = False  # the server shuts down: event streams end now
        self.ready = threading.Event()
        self.warm_seconds: float | None = None
        self.startup: Callable[[Worker], None] | None = None
        self.thread = threading.Thread(target=self._main, name="oipviz-tensorflow", daemon=True)
        self.tf_thread_id: int | None = None
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ life cycle
    def start(self, startup: Callable[[Worker], None] | None = None) -> None:
        """Start the thread; ``startup(worker)`` runs on it first (warm-up)."""
        self.startup = startup
        self.thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Cancel everything and wait (at most ``timeout`` s) for the thread to end."""
        with self.cv:
            self.stopping = True
            for job in list(self.jobs_q):
                self._finish(job, CANCELLED, error="the server is stopping")
            self.jobs_q.clear()
            while self.quick_q:
                self.quick_q.popleft()[2].cancel()
            self.cv.notify_all()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def close_streams(self) -> None:
        """End every event stream (the server is shutting down); safe in a signal handler."""
        self.closing = True
        for job in list(self.table.values()):
            for loop, ev in list(job.waiters):
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(ev.set)

    def _main(self) -> None:
        self.tf_thread_id = threading.get_ident()
        t = time.perf_counter()
        try:
            if self.startup:
                self.startup(self)
        except Exception:  # the server still answers; the failure is logged
            log.exception("warm-up failed")
        self.warm_seconds = time.perf_counter() - t
        log.info("warm: predict, explain and the OIP engine traced in %.1f s", self.warm_seconds)
        self.ready.set()
        while True:
            with self.cv:
                while not (self.stopping or self.quick_q or self.jobs_q):
                    self.cv.wait()
                if self.stopping:
                    return
                job = self.jobs_q.popleft() if self.jobs_q and not self.quick_q else None
            if job is None:
                self.serve_quick()
            else:
                self._run(job)

    # ------------------------------------------------------------------ quick calls
    async def call(self, fn: Callable[..., Any], *args) -> Any:
        """Run ``fn(*args)`` on the TensorFlow thread; the event loop only awaits it."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self.cv:
            if self.stopping:
                raise QueueFull("the server is stopping")
            if len(self.quick_q) >= self.max_quick:
                raise QueueFull(f"too many requests waiting ({self.max_quick}); try again")
            self.quick_q.append((fn, args, fut))
            self.cv.notify_all()
        return await asyncio.wrap_future(fut)

    def serve_quick(self) -> None:
        """Run every waiting quick call (on the TensorFlow thread)."""
        while True:
            with self.cv:
                if not self.quick_q:
                    return
                fn, args, fut = self.quick_q.popleft()
            if not fut.set_running_or_notify_cancel():  # its client went away
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # handed to the awaiting request
                fut.set_exception(exc)

    # ------------------------------------------------------------------ jobs
    def submit(
        self,
        kind: str,
        run: Callable[[JobContext], dict],
        params: dict,
        key: tuple | None = None,
        internal: bool = False,
    ) -> Job:
        """Queue a job; a cached result gives a job that is done at once, and the same
        parameters queued or running give that job back."""
        job = Job(f"{kind}-{next(self._ids)}-{secrets.token_hex(3)}", kind, params, run, key)
        job.internal = internal
        with self.cv:
            if self.stopping:
                raise QueueFull("the server is stopping")
            if key is not None:
                hit = self.cache.get(key)
                if hit is not None:
                    job.result, job.files = dict(hit[0], cached=True), hit[1]
                    self._register(job)
                    self._finish(job, DONE)
                    return job
                for other in [self.current, *self.jobs_q]:
                    if other is not None and other.key == key and not other.terminal:
                        return other
            waiting = sum(1 for j in self.jobs_q if not j.internal)
            if not internal and waiting >= self.max_queue:
                raise QueueFull(
                    f"the job queue is full ({self.max_queue} waiting); try again when one is done"
                )
            self._register(job)
            if internal:
                self.jobs_q.append(job)
            else:  # users' jobs go before the server's own background work
                at = next((i for i, j in enumerate(self.jobs_q) if j.internal), len(self.jobs_q))
                self.jobs_q.insert(at, job)
            self.cv.notify_all()
        self.publish(job, "state", {"state": QUEUED, "position": len(self.jobs_q)})
        return job

    def get(self, job_id: str) -> Job | None:
        with self.cv:
            return self.table.get(job_id)

    def cancel(self, job: Job, why: str = "cancelled") -> bool:
        """Cancel a queued or running job; False if it had already ended."""
        with self.cv:
            if job.terminal:
                return False
            job.cancel_flag.set()
            job.cancel_reason = why
            if job in self.jobs_q:
                self.jobs_q.remove(job)
                self._finish(job, CANCELLED, error=why)
        return True

    def _register(self, job: Job) -> None:
        self.table[job.id] = job
        self._prune()

    def _prune(self) -> None:
        """Forget the oldest finished jobs beyond :data:`MAX_JOBS`."""
        with self.cv:
            finished = [j for j in self.table.values() if j.terminal]
            for old in finished[: max(0, len(finished) - MAX_JOBS)]:
                del self.table[old.id]
            with_files = [j for j in self.table.values() if j.terminal and j.files]
            for old in with_files[: max(0, len(with_files) - MAX_FILE_JOBS)]:
                old.files = {}  # the cache may still hold them, within its byte budget

    def run_users_jobs(self) -> None:
        """Run the users' waiting jobs now, inside a pause of background work (between its
        blocks), so a click at start-up does not wait for the dataset statistics."""
        while True:
            with self.cv:
                job = next((j for j in self.jobs_q if not j.internal), None)
                if job is None or self.stopping:
                    return
                self.jobs_q.remove(job)
            self._run(job)

    def _run(self, job: Job) -> None:
        with self.cv:
            if job.terminal:
                return
            outer = self.current  # a background job this one runs inside, if any
            self.current, job.state, job.started = job, RUNNING, time.time()
        self.publish(job, "state", {"state": RUNNING})
        ctx = JobContext(self, job)
        try:
            result = job.run(ctx)
        except JobCancelled:
            why = "the server is stopping" if self.stopping else job.cancel_reason
            self._finish(job, CANCELLED, error=why)
        except OipvizError as exc:
            self._finish(job, FAILED, error=str(exc))
        except Exception as exc:  # a bug: logged with its traceback, one line to the client
            log.exception("job %s failed", job.id)
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            self._finish(job, FAILED, error=f"internal error {type(exc).__name__}: {first}")
        else:
            job.result = result
            if job.key is not None:
                weight = sum(len(data) for data, _ in job.files.values())
                self.cache.put(job.key, (result, job.files), weight)
            self._finish(job, DONE)
        finally:
            with self.cv:
                self.current = outer

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        job.state, job.error, job.finished = state, error, time.time()
        if state == DONE:
            job.progress = dict(job.progress, fraction=1.0)
        payload = {"state": state, "error": error, "result": job.result}
        self.publish(job, state, payload)
        self._prune()

    # ------------------------------------------------------------------ events
    def publish(self, job: Job, name: str, data: dict) -> None:
        """Append an event to the job's ring and wake its streams (any thread)."""
        with self.cv:
            job.seq += 1
            job.events.append((job.seq, name, data))
            waiters = list(job.waiters)
        for loop, ev in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(ev.set)

    def events_since(self, job: Job, seq: int) -> list[tuple[int, str, dict]]:
        with self.cv:
            return [e for e in job.events if e[0] > seq]

    def subscribe(self, job: Job) -> asyncio.Event:
        ev = asyncio.Event()
        with self.cv:
            job.waiters.append((asyncio.get_running_loop(), ev))
            job.streams += 1
        return ev

    def unsubscribe(self, job: Job, ev: asyncio.Event) -> None:
        """A stream ended; the last one of an unfinished job cancels it (its client left)."""
        with self.cv:
            job.waiters = [w for w in job.waiters if w[1] is not ev]
            job.streams -= 1
            orphan = job.streams == 0 and not job.terminal
        if orphan:
            log.info("job %s: its client went away; cancelling", job.id)
            self.cancel(job, "cancelled: its client went away")

    def status(self) -> dict:
        with self.cv:
            return {
                "ready": self.ready.is_set(),
                "warm_seconds": self.warm_seconds,
                "queued": sum(1 for j in self.jobs_q if not j.internal),
                "background": sum(1 for j in self.jobs_q if j.internal)
                + int(self.current is not None and self.current.internal),
                "max_queue": self.max_queue,
                "running": None if self.current is None else self.current.id,
                "cached_results": len(self.cache),
            }
