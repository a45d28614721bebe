"""Files the explorer serves: its own page (package data) and a gallery folder, nothing else;
and what a gallery folder stored for a map.

:func:`safe_file` resolves a request path inside a root: no ``..`` segment, no absolute or
drive path, no backslash or NUL, and the resolved file (symlinks followed) must lie under
the resolved root.  The app hands it the path *after* URL decoding, so ``%2e%2e%2f``
is refused like ``../``; a double-encoded ``%252e`` stays a literal name that does not exist.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from oipviz.core.errors import OipvizError
from oipviz.core.layers import folder_name

STATIC_DIR = Path(__file__).resolve().parent / "static"


class BadPath(OipvizError):
    """A request path that tries to leave its folder (HTTP 400)."""


class NoFile(OipvizError):
    """No such file in the folder (HTTP 404)."""


def safe_file(root: Path, rel: str) -> Path:
    """The file ``rel`` under ``root`` (a folder's ``index.html`` for a folder)."""
    if "\x00" in rel or "\\" in rel:
        raise BadPath("bad path: it holds a backslash or a NUL byte")
    parts = PurePosixPath(rel).parts
    if rel.startswith("/") or any(p in ("..", ".") for p in rel.split("/")):
        raise BadPath("bad path: '..' and absolute paths are not served")
    if any(":" in p for p in parts):
        raise BadPath("bad path: ':' is not allowed in a path")
    base = root.resolve()
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise BadPath("bad path: it leads outside the served folder")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        raise NoFile(f"not found: {rel or '/'}")
    return target


def same_convention(a: dict, b: dict) -> bool:
    """True if two input conventions (``InputConvention.as_dict()``) read images alike
    (kind, means and stds; not where they came from)."""
    import numpy as np

    if a.get("kind") != b.get("kind"):
        return False
    try:
        return all(
            np.allclose(np.asarray(a[k], float), np.asarray(b[k], float), rtol=1e-6)
            for k in ("mean", "std")
        )
    except (KeyError, TypeError, ValueError):
        return False


class Gallery:
    """A folder written by ``oipviz gallery``: its manifest and its maps' stored results."""

    def __init__(self, root: str | Path):
        from oipviz.core.outputs import read_json

        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise OipvizError(f"--gallery {root}: no such folder")
        try:
            man = read_json(self.root / "manifest.json")
        except ValueError:
            man = None
        if not isinstance(man, dict) or man.get("kind") != "gallery":
            raise OipvizError(
                f"--gallery {root}: not a folder written by 'oipviz gallery' "
                "(no manifest.json of kind gallery)"
            )
        self.manifest = man
        made_for = (man.get("identity") or {}).get("model") or {}
        self.sha256 = str(made_for.get("sha256", ""))
        self.maps = {
            name: {int(e["map"]): e for e in layer.get("maps", [])}
            for name, layer in (man.get("layers") or {}).items()
        }

    def check_model(self, sha256: str, name: str, convention=None) -> None:
        """The gallery must belong to the served model: the model file of its run identity
        (``manifest["identity"]["model"]``, same SHA-256) and, given the model's
        ``convention`` (an InputConvention), read the same way."""
        if not self.sha256:
            raise OipvizError(
                f"--gallery {self.root.name}: its manifest names no model (no identity); "
                "make it again with this version of 'oipviz gallery'"
            )
        if self.sha256 != sha256:
            raise OipvizError(
                f"--gallery {self.root.name} was made for another model "
                f"(sha256 {self.sha256[:12]}…), not {name} ({sha256[:12]}…); "
                "serve it with the model it was made for"
            )
        made = (self.manifest.get("model") or {}).get("input_convention")
        if convention is None or not isinstance(made, dict):
            return
        if not same_convention(made, convention.as_dict()):
            theirs = ", ".join(f"{k} {made.get(k)}" for k in ("kind", "mean", "std"))
            raise OipvizError(
                f"--gallery {self.root.name} was made reading {name} with input convention "
                f"{theirs}, not {convention.describe()}; serve it with the same --input-scale"
            )

    def settings(self) -> dict:
        """The gallery's OIP settings (inits, steps, lr, range, style, seed)."""
        s = self.manifest.get("settings") or {}
        return {k: s[k] for k in ("inits", "steps", "lr", "range", "style", "seed") if k in s}

    def describe(self) -> dict:
        return {
            "url": "/gallery/",
            "folder": self.root.name,
            "layers": {n: sorted(ms) for n, ms in self.maps.items()},
            "settings": self.settings(),
            "complete": bool(self.manifest.get("complete", False)),
        }

    def entry(self, layer: str, m: int) -> dict | None:
        """What the gallery stored for map ``m`` of ``layer`` (with URLs), or None."""
        e = self.maps.get(layer, {}).get(m)
        if e is None:
            return None
        d = f"{folder_name(layer)}/map_{m:03d}"
        urls = {
            "page": f"{d}.html",
            "oip": f"{d}/oip_best_gray.png",
            "oip_enhanced": f"{d}/oip_best_enhanced.png",
            "examples": f"{d}/examples.png",
            "stats": f"{d}/stats.png",
            "precursor": f"{d}/precursor/best_gray.png",
        }
        urls = {k: "/gallery/" + v for k, v in urls.items() if (self.root / v).is_file()}
        oip = e.get("oip") or {}
        pre = e.get("precursor")
        return {
            "status": e.get("status"),
            "activation": e.get("activation"),
            "oip_activation": oip.get("best"),
            "range": oip.get("range"),
            "precursor_activation": None if not pre else pre.get("best_activation"),
            "best_real_activation": e.get("best_real_activation"),
            "shown": e.get("shown"),
            "urls": urls,
        }
