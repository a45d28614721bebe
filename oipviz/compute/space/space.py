"""What a gallery's "feature space" page of one layer needs: the embedding and the
k-means scan of the same digits.  Composes :func:`~.embed.embed` and
:func:`~.clusters.clusters`; compute only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oipviz.compute.space.clusters import ClusterResult, check_ks, clusters_of, parse_k
from oipviz.compute.space.embed import EmbedResult, embed


@dataclass
class FeatureSpace:
    """One layer's feature space: ``embedding`` (2-D map, kNN agreement; ``.figure()``)
    and ``clusters`` (K scan, best K, centroids, contingency, purity; ``.sheet()``)."""

    layer: str
    embedding: EmbedResult
    clusters: ClusterResult

    def summary(self) -> dict:
        p = self.embedding.panels[0]
        return {
            "layer": self.layer,
            "features": p.features,
            "samples": len(p.coords),
            "knn_agreement_2d": p.agreement_2d,
            "knn_agreement_features": p.agreement_nd,
            **{
                k: v
                for k, v in self.clusters.summary().items()
                if k in ("best_k_silhouette", "best_silhouette", "show_k", "purity")
            },
        }


def feature_space(
    layer: str,
    model=None,
    *,
    samples: int = 2000,
    method: str = "tsne",
    k="5-20",
    mode: str = "pool",
    seed: int = 0,
    data=None,
    dataset: str | None = None,
    progress=None,
) -> FeatureSpace:
    """Embedding and clusters of ``samples`` real digits as ``layer`` sees them.

    One forward pass: the k-means scan (:func:`~.clusters.clusters_of`) runs on the
    vectors and digits of the embedding (:func:`~.embed.embed`).

    Parameters
    ----------
    layer : str
        Any layer of ``model`` (conv outputs pooled or flattened, ``mode``).
    model : str, Path, LoadedModel or None
        The model (None: the bundled seed CNN).
    samples, method, mode, seed, data, dataset, progress
        As in :func:`~.embed.embed` (``data``, ``dataset``:
        :func:`oipviz.compute.space.inputs.sample_digits`).
    k : str or list of int
        The K scanned by k-means (``"5-20"`` or a list).

    Returns
    -------
    FeatureSpace
    """
    from oipviz.core.loader import as_loaded

    ks = parse_k(k) if isinstance(k, str) else check_ks(k)
    check_ks(ks, samples)
    loaded = as_loaded(model)
    common: dict[str, Any] = dict(
        samples=samples, mode=mode, seed=seed, data=data, dataset=dataset, progress=progress
    )
    emb = embed(layer, loaded, method=method, **common)
    p = emb.panels[0]
    assert p.vectors is not None  # embed keeps each panel's vectors
    km = clusters_of(
        p.vectors, emb.digits, ks, samples, emb.seed, None, p.layer, p.features, loaded, progress
    )
    return FeatureSpace(p.layer, emb, km)
