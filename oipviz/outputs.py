"""Atomic output: write into a temp folder beside the target, then rename it into place."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import OutputError


def check_target(path: str | Path, force: bool, resume: bool | None = None) -> Path:
    """Refuse an existing ``path`` unless ``force`` (replace) or ``resume`` (continue).

    ``resume=None`` means the command has no --resume, so the message doesn't offer it.
    """
    path = Path(path)
    if path.exists() and not (force or resume):
        raise OutputError(f"{path} already exists; use --force to replace it"
                          + (" or --resume to continue it" if resume is not None else ""))
    if not path.parent.exists():
        raise OutputError(f"parent folder {path.parent} does not exist")
    return path


@contextmanager
def atomic_dir(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temp folder; on success it replaces ``path``, on error it is removed."""
    path = check_target(path, force)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(path)


@contextmanager
def atomic_files(*paths: str | Path, force: bool = False) -> Iterator[list[Path]]:
    """Yield temp paths for several files; all are renamed into place only on success."""
    finals = [check_target(p, force) for p in paths]
    temps = [p.with_name(f".{p.name}.tmp{p.suffix}") for p in finals]
    try:
        yield temps
    except BaseException:
        for t in temps:
            t.unlink(missing_ok=True)
        raise
    for t, p in zip(temps, finals):
        os.replace(t, p)


def write_json(path: str | Path, obj) -> None:
    """Write JSON atomically (numpy scalars and arrays are converted)."""
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(type(o).__name__)

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=default) + "\n")
    os.replace(tmp, path)
