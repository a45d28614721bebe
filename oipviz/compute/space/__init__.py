"""Feature-space views: 2-D embeddings with a kNN class-agreement score
(:mod:`.embed`), k-means scans (:mod:`.clusters`) and weights as pictures
(:mod:`.weights`).  Compute functions return results and write nothing; the writers
are in :mod:`oipviz.writers.features`."""
