"""The one output layer's files: written atomically, strict-JSON manifests, the checks of an
output path; its folders (atomic, locked, resumable) are :mod:`oipviz.core.folders`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from oipviz.core.errors import OutputError

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
    """Write a file atomically (temp file beside it, then rename); a failed write (a full
    disk) leaves no temp file, and its OSError carries the size it needed
    (``oipviz_unwritten``, for the full-disk message)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            exc.oipviz_unwritten = len(data)  # type: ignore[attr-defined]
        raise
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


def npz_bytes(arrays: dict, compress: bool = False) -> bytes:
    """An .npz archive whose bytes depend on the arrays only: ``np.savez`` stamps each
    member with the current time, this one with a fixed date (1980-01-01).

    Parameters
    ----------
    arrays : dict
        {name: array}, stored in this order (no pickled objects).
    compress : bool
        Deflate the members (``np.savez_compressed``'s format).

    Returns
    -------
    bytes
        What :func:`numpy.load` reads back.
    """
    import io
    import zipfile

    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def save_npz(path: str | Path, arrays: dict) -> Path:
    """Write an .npz atomically (the same arrays give the same bytes: :func:`npz_bytes`)."""
    return write_bytes(path, npz_bytes(arrays))


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
        ``path``.  The same arrays give the same bytes (:func:`npz_bytes`).
    """
    return write_bytes(path, npz_bytes(arrays, compress=True))
