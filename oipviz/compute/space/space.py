"""What a gallery's "feature space" page of one layer needs: the embedding and the
k-means scan of the same digits.  Composes :func:`~.embed.embed` and
:func:`~.clusters.clusters`; compute only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oipviz.compute.space.clusters import ClusterResult, clusters
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
    """Embedding and clusters of ``samples`` real digits as ``layer`` sees them (``data``,
    ``dataset``: :func:`oipviz.compute.space.inputs.sample_digits`)."""
    from oipviz.core.loader import as_loaded

    loaded = as_loaded(model)
    common: dict[str, Any] = dict(
        samples=samples, mode=mode, seed=seed, data=data, dataset=dataset, progress=progress
    )
    emb = embed(layer, loaded, method=method, **common)
    km = clusters(emb.panels[0].layer, loaded, k=k, **common)
    return FeatureSpace(emb.panels[0].layer, emb, km)
