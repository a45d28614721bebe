"""Matplotlib figures through the object API: a :class:`~matplotlib.figure.Figure` on its own
Agg canvas.  No global figure manager and no backend switch: nothing process-wide changes,
and a figure is garbage once its picture is taken."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image


def new_figure(
    width: float,
    height: float,
    dpi: int = 100,
    layout: Literal["constrained", "compressed", "tight"] | None = None,
):
    """A figure with its own Agg canvas.

    Parameters
    ----------
    width, height : float
        Size in inches.
    dpi : int
        Pixels per inch of the picture.
    layout : str or None
        ``"constrained"``, ``"compressed"``, ``"tight"`` or None (place the axes yourself or call
        ``fig.tight_layout()``).

    Returns
    -------
    matplotlib.figure.Figure
        Draw with ``fig.subplots()`` / ``fig.add_subplot()``; take the picture with
        :func:`figure_image`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def figure_image(fig) -> Image.Image:
    """The whole figure drawn, as an RGB PIL image (the pixels ``fig.savefig`` writes).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure on an Agg canvas (:func:`new_figure`).

    Returns
    -------
    PIL.Image.Image
        RGB, ``width × dpi`` by ``height × dpi`` pixels.
    """
    fig.canvas.draw()  # one layout pass (if any), then the artists: as savefig draws
    return canvas_image(fig)


def canvas_image(fig) -> Image.Image:
    """What the figure's canvas holds now, without drawing (after blitting), as RGB.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure on an Agg canvas that was drawn at least once.

    Returns
    -------
    PIL.Image.Image
        RGB.
    """
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB")
