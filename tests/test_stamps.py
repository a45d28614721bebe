"""Stamped labels (oipviz.render.stamps) look like matplotlib's own text: the similarity
figure of a map page prints its 64 values this way."""

from __future__ import annotations

import numpy as np


def _text_drawn_by_matplotlib(label: str, colour: str, background, x: float, y: float):
    """(H, W, 3) pixels of ``label`` drawn by a Text artist at display point (x, y)."""
    from oipviz.render.figures import figure_image, new_figure

    fig = new_figure(1.2, 0.8, 100)
    fig.patch.set_facecolor(background)
    fig.text(x / 120, y / 80, label, ha="center", va="center", fontsize=6, color=colour)
    return np.asarray(figure_image(fig)).astype(np.int16)


def test_stamped_labels_match_matplotlib_text():
    from oipviz.render.figures import figure_image, new_figure
    from oipviz.render.stamps import LabelStamps

    stamps = LabelStamps(6, 100)
    for label, colour, rgb, bg in (
        (".73", "white", (255, 255, 255), "#31688e"),
        ("1", "black", (0, 0, 0), "#fde725"),
        (".05", "white", (255, 255, 255), "#440154"),
    ):
        x, y = 61.0, 40.0
        ref = _text_drawn_by_matplotlib(label, colour, bg, x, y)
        fig = new_figure(1.2, 0.8, 100)
        fig.patch.set_facecolor(bg)
        plain = np.array(figure_image(fig))
        stamps.draw(plain, label, x, y, rgb)
        got = plain.astype(np.int16)
        assert got.shape == ref.shape
        ink_ref = np.abs(ref - ref[0, 0]).sum(-1) > 60
        ink_got = np.abs(got - got[0, 0]).sum(-1) > 60
        assert ink_got.sum() > 5 and abs(int(ink_got.sum()) - int(ink_ref.sum())) <= 4
        # the same glyphs in the same place: centres of the ink within half a pixel
        centre = [np.argwhere(m).mean(0) for m in (ink_ref, ink_got)]
        assert np.abs(centre[0] - centre[1]).max() <= 0.5, (label, centre)
        assert np.abs(got - ref).mean() < 1.0


def test_similarity_figure_prints_every_value():
    """Each cell's value is printed (white on dark cells, black on light ones)."""
    from oipviz.render.plotters import SimilarityPlotter

    plotter = SimilarityPlotter(4)
    sim = np.array([[1, 0.1, 0.2, 0.9], [0.1, 1, 0.3, 0.4], [0.2, 0.3, 1, 0.5], [0.9, 0.4, 0.5, 1]])
    img = np.asarray(plotter.render(sim, "median 0.35: several forms")).astype(np.int16)
    H = img.shape[0]
    for (x, y), v in zip(plotter.centres, sim.ravel(), strict=True):
        r, c = int(round(H - y)), int(round(x))
        cell = img[r - 4 : r + 5, c - 8 : c + 9]
        text = (255, 255, 255) if v < 0.55 else (0, 0, 0)
        near_text = (np.abs(cell - np.array(text)).sum(-1) < 120).sum()
        assert near_text >= 3, (v, near_text)  # the label's ink is there
    blank = SimilarityPlotter(12)  # more than 10 inits: no values printed, no cells
    assert len(blank.centres) == 0
    assert blank.render(np.eye(12), "x").size == plotter.render(sim, "x").size
