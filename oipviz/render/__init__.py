"""Pictures from arrays and results (PIL images, no files): colormaps, contact sheets,
strips, matplotlib figures through the Agg canvas, notebook cards.  Results use it to show
themselves in Jupyter; writers use it to make their PNGs."""
