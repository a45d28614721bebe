"""One layer's map pages, drawn and written as a pipeline: the Python thread draws map
``k + 1``'s figures while an :class:`~oipviz.core.imagepool.ImagePool` worker encodes map
``k``'s, and map ``k``'s page is written once its figures are on disk (a page that exists is
a finished map, for ``--resume``).  No TensorFlow here except the Grad-CAM strips'
one batched call (:func:`.extras.gradcam_strips`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from oipviz.compute.datastats import BINS
from oipviz.core.imagepool import ImagePool
from oipviz.core.layers import folder_name
from oipviz.core.outputs import save_image
from oipviz.gallery import extras, mappage, pages
from oipviz.render.plotters import SimilarityPlotter, StatsPlotter


def write_layer_pages(
    root: Path,
    loaded,
    st,
    site,
    inits: int,
    explain: bool,
    stages,
    on_page: Callable[[], None] = lambda: None,
) -> None:
    """The layer's map pages that do not exist yet, its contact sheet and compare page.

    Parameters
    ----------
    root : Path
        The site's folder.
    loaded : LoadedModel
        The model (for the Grad-CAM strips).
    st : LayerState
        The layer, with its probe, rescue, statistics and measures.
    site : SiteInfo
        The site's facts.
    inits : int
        OIP inits per map (the similarity figure's size).
    explain : bool
        Grad-CAM strips on the pages.
    stages : Stages
        Progress (one tick per page).
    on_page : callable
        Called after each page is written.
    """
    plotter = StatsPlotter(BINS, unit=pages.noun(st.info))
    sims = SimilarityPlotter(inits)
    todo = [
        k for k, m in enumerate(st.maps) if not (root / pages.page_of(st.info.name, m)).exists()
    ]
    tick = stages.tick(f"{st.info.name}: pages", len(todo))

    def finish(mark: int, page) -> None:
        pool.wait(mark)
        page()
        on_page()
        tick(1)

    with ImagePool() as pool:
        cams = extras.gradcam_strips(root, loaded, st, todo, pool.save) if explain else {}
        last = None  # (mark, page writer) of the map before
        for k in todo:
            page = mappage.write_map(root, st, k, site, plotter, sims, cams.get(k), pool.save)
            if last is not None:
                finish(*last)
            last = (pool.submitted, page)
        if last is not None:
            finish(*last)
    save_image(root / folder_name(st.info.name) / "sheet.png", pages.sheet_of(st), fast=True)
    if st.compare is not None:
        pages.write_compare(root, st, site)
