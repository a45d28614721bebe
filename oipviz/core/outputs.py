"""The one output layer: folders created atomically, files written atomically, resume,
and strict-JSON manifests.

:class:`OutputFolder` is opened *before* any long computation.  It resolves the target,
checks the ``--force``/``--resume`` rules and creates its hidden working folder at once,
so an unwritable location fails in milliseconds.  Results are written into the working
folder and :meth:`OutputFolder.commit` renames it into place.  On an error the working
folder is removed (nothing half-written is left), except for *resumable* runs that
already finished some items: those are moved into place marked ``.incomplete``, and
``--resume`` continues them.  Folders get the permissions of the umask.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from oipviz.core.errors import OutputError

MARKER = ".incomplete"
MANIFEST = "manifest.json"


# ----------------------------------------------------------------------------- files


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _strict(obj):
    """Non-finite floats (measured, never arguments) become null: strict JSON only."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_, np.ndarray)):
        return _strict(obj.tolist())
    return obj


def dumps(obj, indent: int | None = 2) -> str:
    """Strict JSON text (no NaN/Infinity; numpy values converted)."""
    return json.dumps(_strict(obj), indent=indent, default=_json_default, allow_nan=False)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write a file atomically (temp file beside it, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj, indent: int | None = 2) -> Path:
    """Write strict JSON atomically."""
    return write_text(path, dumps(obj, indent) + "\n")


def read_json(path: str | Path) -> dict | None:
    """A JSON file's content, or None if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def save_npz(path: str | Path, arrays: dict) -> Path:
    """Write an .npz atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def load_npz(path: str | Path) -> dict | None:
    """An .npz's arrays, or None if missing or damaged."""
    try:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    except Exception:  # missing, truncated by a kill, not an npz: recompute
        return None


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def _mkdir_private_free(path: Path) -> None:
    """Give a folder made by mkdtemp (0700) the permissions of the umask."""
    os.chmod(path, 0o777 & ~_umask())


# ----------------------------------------------------------------------------- checks


def resolve_target(path: str | Path) -> Path:
    """The absolute output path; one-line errors for paths no folder can have."""
    text = os.fspath(path)
    if not str(text).strip():
        raise OutputError("the output path is empty")
    if "\x00" in str(text):
        raise OutputError("the output path contains a NUL character")
    p = Path(os.path.abspath(os.path.expanduser(text)))
    if p == Path(p.anchor):
        raise OutputError(f"{text!r} is the file-system root; choose a folder to write into")
    return p


def is_oipviz_output(folder: Path) -> bool:
    """True for a folder written by oipviz (its manifest names the tool or a known kind)."""
    m = read_json(folder / MANIFEST)
    return isinstance(m, dict) and (m.get("tool") == "oipviz" or "kind" in m and "versions" in m)


def check_replaceable(path: Path, shown: str) -> None:
    """--force may replace only an empty folder or an oipviz output, never the current
    folder or one of its parents."""
    cwd = Path(os.getcwd()).resolve()
    real = path.resolve()
    if real == cwd or real in cwd.parents:
        named = shown if shown == str(real) else f"{shown} ({real})"
        raise OutputError(
            f"refusing to replace {named}: it is the current folder or one of its "
            "parents; choose another --out"
        )
    if not path.is_dir():
        raise OutputError(f"{shown} is a file, not a folder; choose another --out")
    if any(path.iterdir()) and not is_oipviz_output(path):
        raise OutputError(
            f"refusing to replace {shown}: it is not empty and holds no oipviz "
            "manifest.json; remove it yourself or choose another --out"
        )


def check_file_target(path: str | Path, force: bool) -> Path:
    """For single output files (e.g. a trained model): refuse to overwrite without force."""
    p = resolve_target(path)
    if not p.parent.is_dir():
        raise OutputError(f"parent folder {p.parent} does not exist")
    try:
        exists, is_dir = os.path.lexists(p), p.is_dir()
    except OSError as exc:  # e.g. a file name longer than the file system allows
        raise OutputError(f"cannot use {path}: {exc.strerror or exc}") from None
    if exists and not force:
        raise OutputError(f"{path} already exists; use --force to replace it")
    if is_dir:
        raise OutputError(f"{path} is a folder; give a file name")
    try:  # a real write: permissions alone do not stop root, read-only or immutable folders do
        fd, probe = tempfile.mkstemp(prefix=".oipviz-write-test.", dir=p.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write in {p.parent}: {exc.strerror or exc}") from None
    if len(p.name.encode()) > _name_max(p.parent):
        raise OutputError(f"cannot use {path}: File name too long")
    return p


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


# ----------------------------------------------------------------------------- folders


class OutputFolder:
    """An output folder that appears only when complete (or, if ``resumable``, marked
    ``.incomplete`` with its finished items kept).

    ``path``: where files go now (the hidden working folder, or the folder itself when
    resuming).  Use as a context manager: an exception discards (or keeps, for a
    resumable run with finished items) and re-raises; :meth:`commit` publishes.
    """

    def __init__(
        self,
        target: str | Path,
        kind: str,
        force: bool = False,
        resume: bool = False,
        resumable: bool = False,
        identity: dict | None = None,
    ):
        self.shown = os.fspath(target)
        self.final = resolve_target(target)
        self.kind, self.resumable = kind, resumable
        self.identity = identity
        self.resumed = False
        self.already_complete = False
        self.committed = False
        if force and resume:
            raise OutputError("--force and --resume exclude each other")
        if resume and not resumable:
            raise OutputError(f"'{kind}' output cannot be resumed")
        parent = self.final.parent
        if not parent.is_dir():
            raise OutputError(f"parent folder {parent} does not exist")
        exists = os.path.lexists(self.final)
        if exists and resume:
            self._check_resume()
            self.path = self.final
            self.resumed = True
            for stale in self.final.glob(".*.tmp*"):
                _remove(stale)
            return
        if exists and not force:
            hint = " or --resume to continue it" if resumable else ""
            raise OutputError(f"{self.shown} already exists; use --force to replace it{hint}")
        if exists:
            check_replaceable(self.final, self.shown)
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", dir=parent))
            _mkdir_private_free(self.path)
        except OSError as exc:
            raise OutputError(f"cannot write in {parent}: {exc.strerror or exc}") from None
        if resumable:
            (self.path / MARKER).write_text(f"{kind} run in progress; continue with --resume\n")

    def _check_resume(self) -> None:
        if not self.final.is_dir():
            raise OutputError(f"--resume: {self.shown} is not a folder")
        m = read_json(self.final / MANIFEST)
        if not isinstance(m, dict) or m.get("kind") != self.kind:
            raise OutputError(
                f"--resume: {self.shown} is not an oipviz {self.kind} output; "
                "use --force to replace it"
            )
        for key, new in (self.identity or {}).items():
            old = m.get(key)
            new = json.loads(dumps(new))
            if isinstance(new, dict) and isinstance(old, dict):
                diff = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
                if diff:
                    k = diff[0]
                    raise OutputError(
                        f"--resume: {k} differs from the run in {self.shown} "
                        f"({old.get(k)!r} there, {new.get(k)!r} now); "
                        "use --force to start over"
                    )
            elif old != new:
                raise OutputError(
                    f"--resume: {key} differs from the run in {self.shown}; "
                    "use --force to start over"
                )
        self.already_complete = not (self.final / MARKER).exists()
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
        return any(
            p.is_file()
            and p.relative_to(self.path).parts[0] not in (MARKER, MANIFEST)
            and not any(part.startswith(".") for part in p.relative_to(self.path).parts)
            for p in self.path.rglob("*")
        )

    # -- publishing
    def write_manifest(self, manifest: dict, complete: bool = True) -> None:
        manifest = dict(manifest, tool="oipviz", kind=self.kind, complete=complete)
        write_json(self.path / MANIFEST, manifest)

    def commit(self) -> Path:
        """Publish: rename the working folder into place (replacing an old output)."""
        (self.path / MARKER).unlink(missing_ok=True)
        if self.path != self.final:
            self._move_into_place()
        self.committed = True
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
        if exc_type is not None and self.discard() and exc is not None:
            exc.oipviz_kept = self.shown  # the CLI's interrupt message names it


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif os.path.lexists(p):
        p.unlink()


# ----------------------------------------------------------------------------- arrays, images


def save_image(path: str | Path, image, fast: bool = False) -> Path:
    """Write a PIL image as PNG, atomically.

    Parameters
    ----------
    path : str or Path
        The file to write.
    image : PIL.Image.Image
        The picture; its mode (``L``, ``RGB``, ``RGBA``...) is kept.
    fast : bool
        Fast compression (zlib level 1, for sites of many pictures); else level 6.

    Returns
    -------
    Path
        ``path``.  No metadata is written: the same image gives the same bytes.
    """
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1 if fast else 6)
    return write_bytes(path, buf.getvalue())


def save_array(path: str | Path, array) -> Path:
    """Write an array as ``.npy``, atomically.

    Parameters
    ----------
    path : str or Path
        The file to write.
    array : array_like
        Saved as :func:`numpy.asarray` gives it.

    Returns
    -------
    Path
        ``path``.
    """
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(array))
    return write_bytes(path, buf.getvalue())


def save_csv(path: str | Path, rows: list[dict]) -> Path:
    """Write rows (dicts) as CSV, atomically.

    Parameters
    ----------
    path : str or Path
        The file to write.
    rows : list of dict
        The columns are every key in order of first appearance; floats are written with 6
        significant digits, lists as space-separated items, None as an empty cell.

    Returns
    -------
    Path
        ``path``.
    """
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, list(dict.fromkeys(k for r in rows for k in r)), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _csv_cell(v) for k, v in r.items()})
    return write_text(path, buf.getvalue())


def _csv_cell(v):
    """One CSV cell: floats with 6 significant digits, lists space-separated."""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return " ".join(str(x) for x in v)
    return v


def save_npz_compressed(path: str | Path, arrays: dict) -> Path:
    """Write a compressed .npz atomically (for large, sparse arrays).

    Parameters
    ----------
    path : str or Path
        The file to write (ends with ``.npz``).
    arrays : dict
        {name: array}.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return path
