"""oipviz's version (the one place it is written), and the versions and file hashes
recorded in cards and manifests."""

from __future__ import annotations

import contextlib
import hashlib
import platform
import sys
from importlib import metadata
from pathlib import Path

VERSION = "0.2.0"


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in (
        "oipviz",
        "tensorflow",
        "keras",
        "numpy",
        "scipy",
        "pillow",
        "opencv-python-headless",
        "matplotlib",
        "click",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
