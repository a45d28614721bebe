"""HTML pages from the package's jinja2 templates (``writers/templates/``, all extending
``base.html``), written atomically through :mod:`oipviz.core.outputs`.  Pages are static:
relative links only, no network."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from oipviz.core.outputs import write_text


@lru_cache(maxsize=1)
def environment():
    """The jinja2 environment of the package's templates (HTML autoescaped, strict).

    Returns
    -------
    jinja2.Environment
        With the filter ``fmt`` (:func:`fmt`).
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("oipviz.writers", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    return env


def write_page(path: str | Path, template: str, **context) -> Path:
    """Render ``templates/<template>`` and write it atomically.

    Parameters
    ----------
    path : str or Path
        The page to write.
    template : str
        The template's file name, e.g. ``"map.html"``.
    **context
        The template's variables (``version`` is added).

    Returns
    -------
    Path
        ``path``.
    """
    from oipviz.core.versions import VERSION

    html = environment().get_template(template).render(version=VERSION, **context)
    return write_text(path, html)


def copy_css(folder: str | Path) -> Path:
    """Write the stylesheet every page links to as ``folder/style.css``.

    Parameters
    ----------
    folder : str or Path
        The site's root folder.

    Returns
    -------
    Path
        The stylesheet's path.
    """
    css = (resources.files("oipviz.writers") / "templates" / "style.css").read_text("utf-8")
    return write_text(Path(folder) / "style.css", css)


def fmt(v, digits: int = 3) -> str:
    """A number for a page: ``digits`` significant digits, no exponent for ordinary sizes.

    Parameters
    ----------
    v : float, int or None
        The number (None: a dash).
    digits : int
        Significant digits.

    Returns
    -------
    str
    """
    if v is None:
        return "–"
    v = float(v)
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.{digits}g}" if abs(v) < 10**digits else f"{v:.0f}"
    return f"{v:.2e}"
