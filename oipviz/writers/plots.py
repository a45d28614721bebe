"""Moved to :mod:`oipviz.render.plots` (plots are pictures, not files).

Kept only while :meth:`oipviz.compute.space.embed.EmbedResult.figure` imports ``scatter``
from here; once it imports :mod:`oipviz.render.plots`, delete this module.
"""

from __future__ import annotations

from oipviz.render.plots import CLASS_COLOURS, contingency, curve, scatter

__all__ = ["CLASS_COLOURS", "contingency", "curve", "scatter"]
