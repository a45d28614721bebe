"""THE output layer's folders: created atomically, one writer at a time, resumable, bound
to the run that made them.

:class:`OutputFolder` is opened *before* any long computation.  It resolves the target,
takes a lock beside it (a second run into the same output fails at once), checks the
``--force``/``--resume`` rules and creates its working folder ``.NAME.partial`` (named
after the output, so a run killed by SIGKILL or a power cut is found again).  Results are
written there and :meth:`OutputFolder.commit` renames it into place.  On an error the
working folder is removed (nothing half-written is left), except for *resumable* runs that
already finished some items: those are moved into place marked ``.incomplete``, and
``--resume`` continues them.  Every manifest records the run's identity (command,
parameters, seed, model hash...); ``--resume`` refuses a run whose identity differs.  A
full disk is the user's problem, stated as one line.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from oipviz.core.errors import OutputError
from oipviz.core.outputs import (
    MANIFEST,
    check_replaceable,
    dumps,
    read_json,
    resolve_target,
    write_json,
)

MARKER = ".incomplete"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def working_path(final: Path) -> Path:
    """The working folder of output ``final``: ``.NAME.partial`` beside it."""
    return final.with_name(f".{final.name}.partial")


def lock_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.lock")


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 if it is gone)."""
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(d, f)).st_size
    return total


def disk_full_error(
    target: str, written: int = 0, needed: int | None = None, kept: bool = False
) -> OutputError:
    """The one-line error for a full disk (ENOSPC) or quota (EDQUOT); ``kept``: a resumed
    run's finished parts are still there."""
    about = needed if needed is not None else written
    size = f" (needed about {math.ceil(about / 1e5) / 10:.1f} MB)" if about else ""
    then = "; finished parts are kept: continue with --resume" if kept else ""
    return OutputError(f"no space left on the device of {target}{size}{then}")


def check_free_space(folder: OutputFolder, needed: int) -> None:
    """Refuse a run whose output (about ``needed`` bytes, beyond what a resumed folder
    already holds) would not fit on the device of ``folder``: before the work starts."""
    free = shutil.disk_usage(folder.final.parent).free
    if free < needed - folder.bytes_before:
        error = disk_full_error(folder.shown, needed=needed - folder.bytes_before)
        raise OutputError(f"{error} ({free / 1e6:.1f} MB free)")


class Lock:
    """An exclusive ``flock`` on ``.NAME.lock`` beside an output, held while a run writes.

    The kernel releases it when its process ends, however it ends, so a lock left by a dead
    process is simply taken over."""

    def __init__(self, path: Path, shown: str):
        self.path, self.fd = path, None
        while self.fd is None:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise OutputError(f"another oipviz run (pid {pid}) is writing {shown}") from None
            try:  # the file we locked must still be the one at the path (not unlinked)
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            os.close(self.fd)
            self.fd = None


def _normal(obj):
    """``obj`` as it reads back from a manifest (strict JSON)."""
    return json.loads(dumps(obj))


def first_difference(old, new, where: str = "") -> tuple[str, object, object] | None:
    """The first (path, old, new) where two identities differ, or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            d = first_difference(old.get(k), new.get(k), f"{where}.{k}" if where else k)
            if d:
                return d
        return None
    return None if old == new else (where or "identity", old, new)


class OutputFolder:
    """An output folder that appears only when complete (or, if ``resumable``, marked
    ``.incomplete`` with its finished items kept).

    ``path``: where files go now (the working folder, or the folder itself when resuming
    an interrupted run).  Use as a context manager: an exception discards (or keeps, for a
    resumable run with finished items) and re-raises; :meth:`commit` publishes.
    ``identity``: what makes the run the run (command, parameters, seed, model...);
    recorded in the manifest and compared by ``--resume``.
    """

    def __init__(
        self, target: str | Path, kind: str, force: bool = False, resume: bool = False,
        resumable: bool = False, identity: dict | None = None,
    ):  # fmt: skip
        self.shown = os.fspath(target)
        self.final = resolve_target(target)
        self.kind, self.resumable = kind, resumable
        self.identity = _normal(dict(identity or {}, command=kind))
        self.resumed = self.adopted = self.already_complete = self.committed = False
        self.previous: dict = {}
        self.bytes_before = 0
        if force and resume:
            raise OutputError("--force and --resume exclude each other")
        if resume and not resumable:
            raise OutputError(f"'{kind}' output cannot be resumed")
        if not self.final.parent.is_dir():
            raise OutputError(f"parent folder {self.final.parent} does not exist")
        self.lock = self._lock()
        try:
            self._open(force, resume)
        except BaseException:
            self.lock.release()
            raise

    def _lock(self) -> Lock:
        try:
            return Lock(lock_path(self.final), self.shown)
        except OutputError:
            raise
        except OSError as exc:
            raise OutputError(
                f"cannot write in {self.final.parent}: {exc.strerror or exc}"
            ) from None

    def _open(self, force: bool, resume: bool) -> None:
        partial = working_path(self.final)
        exists = os.path.lexists(self.final)
        if resume:
            return self._resume(exists, partial)
        if exists and self.final.is_symlink() and not self.final.exists():
            raise OutputError(f"{self.shown} is a broken symbolic link; choose another --out")
        if exists and not self.final.is_dir():
            raise OutputError(f"{self.shown} is a file, not a folder; choose another --out")
        if os.path.lexists(partial) and not force:
            raise OutputError(
                f"{self.shown} has the working folder of an unfinished run ({partial.name}); "
                "continue it with --resume or start over with --force"
            )
        if exists and not force:
            hint = " or --resume to continue it" if self.resumable else ""
            raise OutputError(f"{self.shown} already exists; use --force to replace it{hint}")
        if exists:
            check_replaceable(self.final, self.shown)
        _remove(partial)
        try:
            partial.mkdir()
        except OSError as exc:
            raise OutputError(
                f"cannot write in {self.final.parent}: {exc.strerror or exc}"
            ) from None
        self.path = partial
        if self.resumable:
            (self.path / MARKER).write_text(
                f"{self.kind} run in progress; continue with --resume\n"
            )

    def _resume(self, exists: bool, partial: Path) -> None:
        if os.path.lexists(partial):  # killed (SIGKILL, crash, power cut): adopt its work
            self.path, self.resumed, self.adopted = partial, True, True
            if read_json(partial / MANIFEST) is not None or self.finished_items():
                self._check_identity(partial)  # (killed before its manifest: nothing to check)
        elif exists:
            if not self.final.is_dir() or self.final.is_symlink():
                raise OutputError(f"--resume: {self.shown} is not a folder")
            self._check_identity(self.final)
            self.path, self.resumed = self.final, True
            self.already_complete = not (self.final / MARKER).exists()
        else:
            raise OutputError(f"--resume: there is no run to continue in {self.shown}")
        for stale in self.path.glob(".*.tmp*"):
            _remove(stale)
        self.bytes_before = folder_bytes(self.path)  # the earlier runs' work

    def _check_identity(self, folder: Path) -> None:
        m = read_json(folder / MANIFEST)
        if not isinstance(m, dict) or m.get("kind") != self.kind:
            raise OutputError(
                f"--resume: {self.shown} is not an oipviz {self.kind} output; "
                "use --force to replace it"
            )
        diff = first_difference(m.get("identity"), self.identity)
        if diff:
            what, old, new = diff
            raise OutputError(
                f"--resume: {what} differs from the run in {self.shown} ({_short(old)} there, "
                f"{_short(new)} now); use --force to start over"
            )
        self.previous = m

    # -- items (resume units)
    def has(self, name: str) -> bool:
        """True if item ``name`` (a file or a subfolder) is finished."""
        return (self.path / name).exists()

    @contextmanager
    def item(self, name: str) -> Iterator[Path]:
        """A subfolder (``name`` may be nested, ``a/b``) written atomically: it appears
        only when complete."""
        dest = self.path / name
        tmp = dest.parent / f".{dest.name}.tmp"
        _remove(tmp)
        tmp.mkdir(parents=True)
        try:
            yield tmp
        except BaseException:
            _remove(tmp)
            raise
        _remove(dest)
        tmp.rename(dest)

    def finished_items(self) -> bool:
        """True if any finished file (not the marker or manifest, not a temp) exists."""
        for p in self.path.rglob("*"):
            rel = p.relative_to(self.path).parts
            if (
                p.is_file()
                and rel[0] not in (MARKER, MANIFEST)
                and not any(part.startswith(".") for part in rel)
            ):
                return True
        return False

    # -- publishing
    def write_manifest(self, manifest: dict, complete: bool = True) -> None:
        manifest = dict(
            manifest, tool="oipviz", kind=self.kind, identity=self.identity, complete=complete
        )
        write_json(self.path / MANIFEST, manifest)

    def commit(self, keep_lock: bool = False) -> Path:
        """Publish: rename the working folder into place (replacing an old output).
        ``keep_lock``: the run goes on writing into the published folder (a timeline
        growing point by point) and releases the lock itself (``lock.release()``)."""
        (self.path / MARKER).unlink(missing_ok=True)
        if self.path != self.final:
            self._move_into_place()
        self.committed = True
        if not keep_lock:
            self.lock.release()
        return self.final

    def _move_into_place(self) -> None:
        if os.path.lexists(self.final):
            old = self.final.with_name(f".{self.final.name}.old")
            _remove(old)
            self.final.rename(old)
            self.path.rename(self.final)
            _remove(old)
        else:
            self.path.rename(self.final)
        self.path = self.final

    def discard(self) -> bool:
        """After an error: remove the working folder, or keep a resumable run's finished
        items in place, marked incomplete.  Returns True if finished items are kept."""
        if self.committed:
            return False
        if self.path == self.final:
            return self.resumable and self.finished_items()
        if self.resumable and self.path.exists() and self.finished_items():
            self._move_into_place()
            return True
        _remove(self.path)
        return False

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.lock.release()
            return
        try:
            if isinstance(exc, OSError) and exc.errno in DISK_FULL:
                written = max(folder_bytes(self.path) - self.bytes_before, 0)
                written += getattr(exc, "oipviz_unwritten", 0)  # the write that failed
                if self.resumed:  # the earlier runs' finished work stays; temp files go
                    _remove_temps(self.path)
                    raise disk_full_error(self.shown, written, kept=True) from None
                if self.path != self.final:
                    _remove(self.path)
                raise disk_full_error(self.shown, written) from None
            if self.discard() and exc is not None:
                exc.oipviz_kept = self.shown  # named by the CLI
        finally:
            self.lock.release()


@contextmanager
def disk_errors(target: str) -> Iterator[None]:
    """A full disk (ENOSPC, EDQUOT) while writing ``target`` becomes one OutputError."""
    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full_error(target) from None
        raise


def _short(v) -> str:
    text = json.dumps(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _remove_temps(folder: Path) -> None:
    """Remove the temp files and folders (``.NAME.tmp...``) a failed write left in ``folder``."""
    for p in sorted(folder.rglob(".*.tmp*"), key=lambda q: len(q.parts), reverse=True):
        _remove(p)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif os.path.lexists(p):
        p.unlink()
