"""Tiny HTML helpers: the package's templates (``string.Template``), escaping, tables.

Pages are static: relative links only, no network, no JavaScript.
"""
from __future__ import annotations

import html
import os
from importlib import resources
from pathlib import Path
from string import Template

_CACHE: dict[str, Template] = {}


def template(name: str) -> Template:
    """The template ``templates/<name>`` shipped with the package."""
    if name not in _CACHE:
        text = (resources.files("oipviz.gallery") / "templates" / name).read_text(encoding="utf-8")
        _CACHE[name] = Template(text)
    return _CACHE[name]


def render(_template: str, **values) -> str:
    """Fill ``templates/<name>``; every placeholder must be given (a missing one is a bug)."""
    return template(_template).substitute(**{k: str(v) for k, v in values.items()})


def esc(value) -> str:
    """HTML-escape ``value`` (quotes included)."""
    return html.escape(str(value), quote=True)


def table(rows: list[tuple], header: tuple | None = None, numeric: set[int] | None = None) -> str:
    """A small HTML table from rows of cells (cells are escaped unless wrapped in :class:`Raw`)."""
    numeric = numeric or set()

    def cell(tag: str, i: int, v) -> str:
        cls = ' class="num"' if i in numeric and tag == "td" else ""
        return f"<{tag}{cls}>{v if isinstance(v, Raw) else esc(v)}</{tag}>"

    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(cell("th", i, h) for i, h in enumerate(header)) + "</tr>")
    for r in rows:
        out.append("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


class Raw(str):
    """A string that :func:`table` inserts without escaping (already HTML)."""


def write_text(path: str | Path, text: str) -> None:
    """Write a page atomically (temp file + rename), so a reader never sees half a page."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def copy_css(folder: str | Path) -> Path:
    """Put the gallery stylesheet into ``folder`` as ``style.css``."""
    dest = Path(folder) / "style.css"
    write_text(dest, (resources.files("oipviz.gallery") / "templates" / "style.css")
               .read_text(encoding="utf-8"))
    return dest


def fmt(v: float, digits: int = 3) -> str:
    """A number for a page: 3 significant digits, no exponent for ordinary sizes."""
    v = float(v)
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:.0f}"
    return f"{v:.2e}"
