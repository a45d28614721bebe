"""The common part of every output folder's ``manifest.json``."""

from __future__ import annotations

import shlex
import sys
from datetime import datetime, timezone

from oipviz.core.versions import file_sha256, package_versions


def base_manifest(kind: str, loaded, params: dict, seed: int | None) -> dict:
    """Command, parameters, seed, model (path, sha256, input convention) and versions."""
    return {
        "kind": kind,
        "command": " ".join(shlex.quote(a) for a in ["oipviz"] + sys.argv[1:])
        if sys.argv and sys.argv[0].endswith("oipviz")
        else None,
        "parameters": params,
        "seed": seed,
        "model": {
            "path": str(loaded.path),
            "sha256": file_sha256(loaded.path),
            "input_convention": loaded.convention.as_dict(),
            "note": "arrays (.npy) are in engine space: pixel = mean + std * value",
        },
        "versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
