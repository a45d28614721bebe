"""Where jobs run: ``local`` (in this process, the default) or ``ray``.

A job is a function ``fn(loaded, *args)`` and its arguments: a shard's screen or a map's
refinement (:mod:`oipviz.compute.scaleout` submits them), or a gallery's (model, layer)
job (:mod:`oipviz.compute.layerjobs`).  The function must live at a module's top level, so
Ray can send it by reference.
The ``ray`` executor runs one task per job on a local Ray cluster (``ray.init()``) or on
``address``; the model file travels through the object store (``ray.put``), each task
uses ``cpus_per_task`` cores with TensorFlow's threads set to match, and a failed task
is retried ``max_retries`` times before the run stops with a one-line
:class:`ShardError` (finished shards are kept for ``--resume``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oipviz.core.convention import InputConvention
from oipviz.core.errors import OipvizError

EXECUTORS = ("local", "ray")


class ShardError(OipvizError):
    """A shard (or a map's refinement) kept failing on the executor."""

    exit_code = 1


# ----------------------------------------------------------------------------- model


@dataclass
class ModelBundle:
    """A model file's bytes and how it was loaded, to rebuild it in another process."""

    name: str
    data: bytes = field(repr=False)
    convention: InputConvention
    card: dict | None
    unsafe: bool = False

    @classmethod
    def of(cls, loaded, unsafe: bool = False) -> ModelBundle:
        return cls(
            Path(loaded.path).name,
            Path(loaded.path).read_bytes(),
            loaded.convention,
            loaded.card,
            unsafe,
        )

    @property
    def key(self) -> str:
        """The model and how it is read: a worker loads each key once."""
        h = hashlib.sha256(self.data)
        h.update(repr((self.convention, self.card, self.unsafe)).encode())
        return h.hexdigest()

    def load(self):
        """The model as a LoadedModel, from a private copy of the file."""
        from oipviz.core.loader import load_model

        with tempfile.TemporaryDirectory(prefix="oipviz-model-") as folder:
            path = Path(folder) / self.name
            path.write_bytes(self.data)
            loaded = load_model(path, unsafe=self.unsafe)
        loaded.convention, loaded.card = self.convention, self.card
        return loaded


_WORKER_MODELS: dict = {}  # per worker process: the model (and its compiled engines) by hash


def _set_threads(n: int) -> None:
    from oipviz.core.tfenv import import_keras

    import_keras()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # TensorFlow already running in this worker: keep its threads
        pass


def _task(bundle: ModelBundle, threads: int, fn: Callable, *args):
    """One Ray task: the (cached) model, then the job ``fn(model, *args)``."""
    key = bundle.key
    if key not in _WORKER_MODELS:
        _set_threads(threads)
        _WORKER_MODELS[key] = bundle.load()
    return fn(_WORKER_MODELS[key], *args)


# ----------------------------------------------------------------------------- executors


class LocalExecutor:
    """Jobs run in this process, one at a time (refinements first, so a map is finished
    before the next map's screen starts), with fine-grained progress."""

    name = "local"
    window = 1

    def __init__(self, loaded):
        self.loaded = loaded
        self.workers, self.cores = 1, os.cpu_count() or 1
        self._jobs: dict[int, tuple] = {}
        self._next = 0

    def submit(
        self, fn: Callable, args: tuple, units: int, label: str, model=None, first: bool = False
    ) -> int:
        """Queue the job ``fn(model, *args)`` (``model``: default the executor's); jobs with
        ``first`` run before the others (a map's refinement before the next screen)."""
        self._next += 1
        self._jobs[self._next] = (fn, args, model or self.loaded, first)
        return self._next

    def next_done(self, progress: Callable[[int], None] | None) -> tuple[Hashable, object]:
        """(the handle :meth:`submit` returned, the job's value) of a finished job."""
        h = min(self._jobs, key=lambda k: (not self._jobs[k][3], k))
        fn, args, model, _ = self._jobs.pop(h)
        return h, fn(model, *args, progress=progress)

    def close(self) -> None:
        self._jobs.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RayExecutor(LocalExecutor):
    """One Ray task per job; progress advances as jobs finish."""

    name = "ray"

    def __init__(
        self,
        loaded,
        address: str | None = None,
        cpus_per_task: int = 1,
        max_retries: int = 3,
        num_cpus: int | None = None,
        unsafe: bool = False,
    ):
        try:
            import ray
        except ImportError:
            raise OipvizError("the ray executor needs Ray: pip install 'oipviz[ray]'") from None
        self.ray, self.loaded = ray, loaded
        self.max_retries, self.cpus_per_task = int(max_retries), int(cpus_per_task)
        self.owns = not ray.is_initialized()
        if self.owns and address:
            _check_reachable(address)
        if self.owns:
            try:
                ray.init(
                    address=address,
                    num_cpus=None if address else num_cpus,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise OipvizError(
                    f"cannot start or reach Ray at {address or 'a local cluster'}: {msg}"
                ) from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, cpus // self.cpus_per_task)
        self.cores = self.workers * self.cpus_per_task
        self.window = 2 * self.workers
        self.unsafe = unsafe
        self.bundle = ray.put(ModelBundle.of(loaded, unsafe))
        self._bundles = {id(loaded): self.bundle}
        self.remote = ray.remote(_task)
        self._refs: dict = {}

    def submit(
        self, fn: Callable, args: tuple, units: int, label: str, model=None, first: bool = False
    ):
        """One task on ``model`` (default: the executor's model; another model's bytes go
        through the object store once)."""
        if model is not None and id(model) not in self._bundles:
            self._bundles[id(model)] = self.ray.put(ModelBundle.of(model, self.unsafe))
        bundle = self.bundle if model is None or model is self.loaded else self._bundles[id(model)]
        ref = self.remote.options(
            name=f"oipviz {label}",
            num_cpus=self.cpus_per_task,
            max_retries=self.max_retries,
            retry_exceptions=True,
        ).remote(bundle, self.cpus_per_task, fn, *args)
        self._refs[ref] = (label, units)
        return ref

    def next_done(self, progress: Callable[[int], None] | None) -> tuple[Hashable, object]:
        ray = self.ray
        ready, _ = ray.wait(list(self._refs), num_returns=1)
        label, units = self._refs.pop(ready[0])
        try:
            value = ray.get(ready[0])
        except ray.exceptions.RayError as exc:
            self.close()
            raise ShardError(
                f"{label} failed {1 + self.max_retries} time(s): {_cause(exc)}; "
                "finished shards are kept: rerun with --resume"
            ) from None
        if progress:
            progress(units)
        return ready[0], value

    def close(self) -> None:
        for ref in list(self._refs):
            self.ray.cancel(ref, force=True)
        self._refs.clear()
        if self.owns and self.ray.is_initialized():
            self.ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once for a HOST:PORT nothing listens on (Ray itself retries for minutes)."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise OipvizError(
            f"cannot reach a Ray cluster at {address}: "
            f"{exc.strerror or type(exc).__name__}; start one with "
            "'ray start --head' there, or leave out --address"
        ) from None


def _cause(exc: Exception) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    first = (
        next((t for t in reversed(text) if t.strip() and not t.startswith(" ")), "")
        if cause is exc
        else (text[0] if text else "")
    )
    return f"{type(cause).__name__}: {first[:200]}".rstrip(": ")


def check_executor(
    name: str, address: str | None, screen: str, n: int, chunk: int, size: int | None = None
) -> int | None:
    """Validate the executor options before anything runs; returns the shard size
    (None for the halving screen, which is not sharded)."""
    from oipviz.compute.shards import shard_size

    if name not in EXECUTORS:
        raise OipvizError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
    if address and name != "ray":
        raise OipvizError("--address needs --executor ray")
    if address:
        _check_reachable(address)
    if screen == "halving":
        if name != "local":
            raise OipvizError(
                "the halving screen ranks all patterns at once and is not "
                "sharded; use --executor local, or --screen exhaustive/forward"
            )
        return None
    return shard_size(n, chunk, size)


def executor(name: str, loaded, address: str | None = None, **ray_options: Any):
    """``local`` or ``ray`` (use it as a context manager: Ray is shut down at the end);
    ``ray_options``: :class:`RayExecutor`'s (cpus_per_task, max_retries, num_cpus, unsafe)."""
    check_executor(name, address, "exhaustive", 1, 1)
    if name == "local":
        return LocalExecutor(loaded)
    return RayExecutor(loaded, address, **ray_options)
