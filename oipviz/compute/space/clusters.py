"""``oipviz.clusters``: MiniBatchKMeans over a range of K on pixels or a layer's
activations: inertia (elbow), mean silhouette and CPU time per K; for one K the
centroids, the cluster × class table and the purity.  Compute only: no files."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from oipviz.compute.space import inputs
from oipviz.core import checks
from oipviz.core.errors import OipvizError
from oipviz.core.progress import Stages

MAX_K = 1000
SILHOUETTE_MAX = 5000  # silhouettes are measured on at most this many points (seeded subset)
BATCH = 1024
N_INIT = 3


def parse_k(text: str) -> list[int]:
    """``5-40``, ``8`` or ``5,10,20`` → sorted distinct K values (each >= 2)."""
    spans = []
    try:
        for part in str(text).replace(" ", "").split(","):
            lo, _, hi = part.partition("-")
            spans.append((int(lo), int(hi or lo)))
            if spans[-1][1] < spans[-1][0]:
                raise ValueError
    except ValueError:
        raise OipvizError(
            f"bad --k {text!r}; give a range like 5-40, a list like 5,10,20 or one number"
        ) from None
    check_ks([v for span in spans for v in span])  # the ends first: no huge ranges built
    return sorted({k for lo, hi in spans for k in range(lo, hi + 1)})


def check_ks(ks, n: int | None = None) -> list[int]:
    """Each K in [2, min(n - 1, 1000)] (silhouettes need 2 <= K < samples)."""
    ks = [checks.integer("K", k) for k in ks]
    hi = MAX_K if n is None else min(MAX_K, n - 1)
    if not ks:
        raise OipvizError("no K given")
    bad = [k for k in ks if not 2 <= k <= hi]
    if bad:
        why = f" for {n} samples" if n is not None and n - 1 < MAX_K else ""
        raise OipvizError(f"K = {bad[0]} out of range: K must be in 2–{hi}{why}")
    return sorted(set(ks))


@dataclass
class ClusterResult:
    """A K scan over N vectors, and the clustering at the chosen K."""

    layer: str
    features: str  # how the vectors were made
    ks: list[int]
    inertia: np.ndarray  # (len(ks),)
    silhouette: np.ndarray  # (len(ks),) mean silhouette (on <= 5,000 points)
    cpu_seconds: np.ndarray  # (len(ks),) CPU time of the fit (its one thread)
    wall_seconds: np.ndarray
    show_k: int
    assignment: np.ndarray  # (N,) cluster of each vector at show_k
    centroids: np.ndarray  # (show_k, D)
    nearest: np.ndarray  # (show_k,) index of the vector nearest to each centroid
    contingency: np.ndarray  # (show_k, n_classes) counts
    labels: np.ndarray  # (N,)
    digits: inputs.Digits | None = None  # the digits (for centroid pictures)
    model: str | None = None
    silhouette_n: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def purity(self) -> float:
        """Share of vectors whose cluster's majority class is their class."""
        return float(self.contingency.max(axis=1).sum() / max(self.contingency.sum(), 1))

    @property
    def best_k(self) -> int:
        """The K with the highest mean silhouette."""
        return int(self.ks[int(np.nanargmax(self.silhouette))])

    @property
    def _pixel_centroids(self) -> bool:
        return (
            self.layer == inputs.PIXELS
            and self.digits is not None
            and self.centroids.shape[1] == self.digits.x01[0].size
        )

    def centroid_images(self) -> np.ndarray:
        """(K,H,W[,C]): the centroids themselves for pixels, else the nearest real digits."""
        if self._pixel_centroids and self.digits is not None:
            return self.centroids.reshape(-1, *np.shape(self.digits.x01)[1:])
        if self.digits is None:
            raise OipvizError(
                "no digits to show the centroids by: set res.digits to the clustered digits "
                "(oipviz.clusters does)"
            )
        return self.digits.x01[self.nearest]

    def rows(self) -> list[dict]:
        """One row per K: inertia, silhouette, CPU and wall seconds."""
        return [
            {
                "k": k,
                "inertia": float(i),
                "silhouette": float(s),
                "cpu_seconds": float(c),
                "wall_seconds": float(w),
            }
            for k, i, s, c, w in zip(
                self.ks, self.inertia, self.silhouette, self.cpu_seconds, self.wall_seconds
            )
        ]

    def summary(self) -> dict:
        return {
            "layer": self.layer,
            "features": self.features,
            "samples": len(self.labels),
            "best_k_silhouette": self.best_k,
            "best_silhouette": float(np.nanmax(self.silhouette)),
            "show_k": self.show_k,
            "purity": self.purity,
        }

    def sheet(self):
        """The centroids (or nearest digits) with their majority class and share."""
        from oipviz.render.images import contact_sheet, normalize

        what = "centroids" if self.layer == inputs.PIXELS else "digit nearest to each centroid"
        return contact_sheet(
            [normalize(c) for c in self.centroid_images()],
            [
                f"{j}: {int(r.argmax())} ({r.max() / max(r.sum(), 1):.0%})"
                for j, r in enumerate(self.contingency)
            ],
            cmap="gray",
            cols=min(10, self.show_k),
            cell=64,
            title=f"{self.layer}, K={self.show_k}: {what} (purity {self.purity:.3f})",
        )

    def _repr_html_(self) -> str:
        from oipviz.render.notebook import card

        s = self.summary()
        return card(
            f"k-means on {self.features}",
            {
                "samples": s["samples"],
                "K scanned": f"{self.ks[0]}–{self.ks[-1]}",
                "best K (silhouette)": f"{s['best_k_silhouette']} ({s['best_silhouette']:.3f})",
                "shown K": self.show_k,
                "purity": f"{self.purity:.3f}",
            },
            self.sheet() if self._pixel_centroids or self.digits is not None else None,
        )


def contingency_table(
    assignment: np.ndarray, labels: np.ndarray, k: int, n_classes: int = 10
) -> np.ndarray:
    """(k, n_classes) counts of each class in each cluster."""
    n_classes = max(n_classes, int(labels.max()) + 1)
    table = np.zeros((k, n_classes), np.int64)
    np.add.at(table, (assignment, labels), 1)
    return table


def _fit(x: np.ndarray, k: int, seed: int):
    """One MiniBatchKMeans fit, single-threaded: on a few thousand points OpenMP threads
    mostly spin (measured 10-20× the CPU time on a shared 2-core machine), same result.
    Its CPU time is this thread's (a gallery runs the scan beside its pages)."""
    from sklearn.cluster import MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    t, c = time.perf_counter(), time.thread_time()
    with threadpool_limits(1):
        km = MiniBatchKMeans(n_clusters=k, batch_size=BATCH, n_init=N_INIT, random_state=seed).fit(
            x
        )
    return km, time.thread_time() - c, time.perf_counter() - t


def cluster_scan(
    x: np.ndarray,
    labels: np.ndarray,
    ks,
    seed: int = 0,
    show_k: int | None = None,
    layer: str = "features",
    features: str = "",
    progress=None,
) -> ClusterResult:
    """MiniBatchKMeans for each K in ``ks`` on vectors ``x`` (N,D) with true ``labels``;
    the clustering at ``show_k`` (default: the best mean silhouette) in detail."""
    from sklearn.metrics import pairwise_distances, silhouette_score

    x = checks.finite_array("features", x).reshape(len(x), -1)
    labels = np.asarray(labels, np.int64)
    ks = check_ks(ks, len(x))
    if show_k is not None:
        check_ks([show_k], len(x))
    seed = checks.seed(seed)
    rng = np.random.default_rng(seed)
    sub = (
        np.sort(rng.choice(len(x), SILHOUETTE_MAX, replace=False))
        if len(x) > SILHOUETTE_MAX
        else np.arange(len(x))
    )
    dist = pairwise_distances(x[sub])
    stages = Stages(progress)
    fits, rows = {}, []
    try:
        for k in ks:
            km, cpu, wall = _fit(x, k, seed)
            sil = (
                silhouette_score(dist, km.labels_[sub], metric="precomputed")
                if len(np.unique(km.labels_[sub])) > 1
                else np.nan
            )
            rows.append((km.inertia_, sil, cpu, wall))
            fits[k] = km
            stages("k-means", 1, len(ks))
    finally:
        stages.close()
    inertia, sil, cpu, wall = (np.array(c, np.float64) for c in zip(*rows))
    if show_k is None:
        show_k = ks[int(np.nanargmax(sil))] if np.isfinite(sil).any() else ks[0]
    km = fits.get(show_k) or _fit(x, show_k, seed)[0]
    assign = km.labels_.astype(np.int64)
    centroids = km.cluster_centers_.astype(np.float32)
    nearest = pairwise_distances(centroids, x).argmin(axis=1)
    return ClusterResult(
        layer,
        features or layer,
        ks,
        inertia,
        sil,
        cpu,
        wall,
        int(show_k),
        assign,
        centroids,
        nearest,
        contingency_table(assign, labels, show_k),
        labels,
        silhouette_n=len(sub),
    )


def clusters(
    layer: str = inputs.PIXELS,
    model=None,
    *,
    k="5-40",
    samples: int = 5000,
    mode: str = "pool",
    seed: int = 0,
    show_k: int | None = None,
    data=None,
    dataset: str | None = None,
    progress=None,
) -> ClusterResult:
    """k-means over ``samples`` real digits as ``layer`` sees them (``pixels``: no model
    is loaded), scanned over K.

    Parameters
    ----------
    layer : str
        ``"pixels"`` or any layer of ``model`` (conv outputs pooled or flattened, ``mode``).
    model : str, Path, LoadedModel or None
        The model (None: the bundled seed CNN); unused for ``pixels``.
    k : str or list of int
        The K to scan: a range string (``"5-40"``) or a list.
    samples : int
        Real digits clustered.
    mode : str
        ``pool`` (conv maps averaged over space) or ``flat``.
    seed : int
        Seeds the digits' sample and MiniBatchKMeans.
    show_k : int, optional
        The K whose clustering is kept (centroids, cluster × class table); default: the
        best mean silhouette.
    data : str or Path, optional
        An ``.npz`` or IDX folder of digits (default: the first data source that works).
    dataset : str
        ``mnist`` or ``fashion_mnist``.
    progress : callable, False or None
        ``progress(stage, n, total)``.

    Returns
    -------
    ClusterResult
        Inertia, silhouette and CPU time per K; the clustering at ``show_k``.
    """
    ks = parse_k(k) if isinstance(k, str) else check_ks(k)
    inputs.check_mode(mode)
    samples = checks.integer("samples", samples, 3)
    check_ks(ks + ([show_k] if show_k is not None else []), samples)
    loaded = None
    if layer != inputs.PIXELS:
        from oipviz.core.loader import as_loaded

        loaded = as_loaded(model)
        layer = inputs.feature_layer(loaded, layer)
    split_seed = int(((loaded.card if loaded else None) or {}).get("seed", 0))
    digits = inputs.sample_digits(samples, data, dataset, split_seed, loaded)
    feats, _ = inputs.layer_features(loaded, layer, digits.x01, mode)
    what = inputs.describe(loaded, layer, mode)
    return clusters_of(feats, digits, ks, samples, seed, show_k, layer, what, loaded, progress)


def clusters_of(
    feats: np.ndarray,
    digits: inputs.Digits,
    ks: list[int],
    samples: int,
    seed: int = 0,
    show_k: int | None = None,
    layer: str = inputs.PIXELS,
    features: str = "",
    loaded=None,
    progress=None,
) -> ClusterResult:
    """The K scan of :func:`clusters` on vectors already computed.

    Parameters
    ----------
    feats, digits : ndarray, Digits
        (N, D) vectors of the N ``digits`` (labels; pictures of the centroids).
    ks, samples : list of int, int
        The K (checked); how many digits were asked for (fewer: the K they allow).
    seed, show_k, progress
        As in :func:`clusters`.
    layer, features, loaded
        The layer's name, how the vectors were made, the model (None for pixels).

    Returns
    -------
    ClusterResult
    """
    if len(digits) < samples:  # fewer images than asked for: the K they allow
        fit = [kk for kk in ks if kk < len(digits)]
        if not fit:
            raise OipvizError(
                f"only {len(digits)} images in {digits.source}: too few for K = {ks[0]}"
            )
        ks, show_k = fit, None if show_k is None else min(show_k, fit[-1])
    res = cluster_scan(feats, digits.labels, ks, seed, show_k, layer, features, progress)
    res.digits, res.model = digits, loaded.name if loaded else None
    if len(digits) < samples:
        res.notes.append(
            f"only {len(digits)} digits available in {digits.source} (K {ks[0]}–{ks[-1]})"
        )
    return res
