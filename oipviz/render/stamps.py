"""Short labels drawn once each by matplotlib (Agg), then blended into pictures by numpy.

A figure that prints many small numbers per picture (a similarity matrix's 64 cells) spent
most of its time in matplotlib's text machinery: each Text artist lays itself out and renders
its glyphs anew for every picture.  A :class:`LabelStamps` renders each distinct label once
(the same font, size, hinting and antialiasing as a Text artist of the figure), keeps its
coverage mask and blends it wherever the label is needed: the same glyphs, within half a
pixel of where the artist would put them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oipviz.render.figures import new_figure

_STAMP_INCHES = (1.6, 0.6)  # room for a short label at any size up to ~20 pt


class LabelStamps:
    """Coverage masks of labels at one font size, and their blending into RGB arrays.

    Parameters
    ----------
    fontsize : float
        Points, as ``ax.text(..., fontsize=...)``.
    dpi : int
        Of the figure the labels go into.
    """

    def __init__(self, fontsize: float, dpi: int):
        self.fontsize, self.dpi = fontsize, dpi
        self._masks: dict[str, tuple[np.ndarray, int, int]] = {}
        self._fig: Any = None  # one small figure draws every label
        self._text: Any = None

    def mask(self, label: str) -> tuple[np.ndarray, int, int]:
        """The label's coverage, centred on a pixel.

        Parameters
        ----------
        label : str
            One line of text.

        Returns
        -------
        tuple
            (coverage (h, w) float32 in [0, 1], row and column of its top-left corner
            relative to the anchor pixel).
        """
        hit = self._masks.get(label)
        if hit is not None:
            return hit
        if self._fig is None:
            fig = new_figure(*_STAMP_INCHES, self.dpi)
            fig.patch.set_facecolor("white")
            self._text = fig.text(
                0.5, 0.5, "", ha="center", va="center", fontsize=self.fontsize, color="black"
            )
            self._fig = fig
        self._text.set_text(label)
        self._fig.canvas.draw()
        grey = np.asarray(self._fig.canvas.buffer_rgba())[..., 0]
        cover = (255.0 - grey.astype(np.float32)) / 255.0  # black on white: 1 - value
        rows, cols = np.nonzero(cover)
        h, w = grey.shape
        if len(rows) == 0:  # an empty or blank label
            found = (np.zeros((0, 0), np.float32), 0, 0)
        else:
            r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
            found = (cover[r0:r1, c0:c1].copy(), int(r0 - h // 2), int(c0 - w // 2))
        self._masks[label] = found
        return found

    def draw(self, rgb: np.ndarray, label: str, x: float, y: float, colour) -> None:
        """Blend ``label`` centred on display point (``x``, ``y``) into ``rgb`` in place.

        Parameters
        ----------
        rgb : ndarray
            (H, W, 3) uint8, the figure's pixels (row 0 at the top).
        label : str
            The text.
        x, y : float
            The centre in matplotlib display coordinates (pixels, origin bottom left).
        colour : sequence of 3 numbers
            The text colour, 0-255.
        """
        cover, dr, dc = self.mask(label)
        if cover.size == 0:
            return
        H, W = rgb.shape[:2]
        r0, c0 = int(round(H - y)) + dr, int(round(x)) + dc
        r1, c1 = r0 + cover.shape[0], c0 + cover.shape[1]
        rr0, cc0, rr1, cc1 = max(r0, 0), max(c0, 0), min(r1, H), min(c1, W)
        if rr0 >= rr1 or cc0 >= cc1:
            return
        a = cover[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0, None]
        bg = rgb[rr0:rr1, cc0:cc1].astype(np.float32)
        fg = np.asarray(colour, np.float32)
        rgb[rr0:rr1, cc0:cc1] = np.rint(bg + (fg - bg) * a).astype(np.uint8)
