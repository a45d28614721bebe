"""Galleries: static HTML folders, viewable offline (relative links, no JavaScript).

:func:`oipviz.gallery.site.build_gallery` (``oipviz gallery``) composes a site of a
layer's maps (or Dense units) from results: OIPs (:func:`oipviz.oip`), the rescue of the
maps random inits miss (:func:`oipviz.rescue`) and dataset statistics
(:func:`oipviz.compute.datastats.dataset_stats`); it is resumable.
"""
