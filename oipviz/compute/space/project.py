"""2-D embeddings of feature vectors (openTSNE t-SNE, PCA, optional UMAP) and the kNN
class-agreement score.  Pure numpy/scikit-learn: no TensorFlow, no files."""

from __future__ import annotations

import os

import numpy as np

from oipviz.core import checks
from oipviz.core.errors import OipvizError

METHODS = ("tsne", "pca", "umap")
K_NEIGHBOURS = 10
PCA_DIMS = 50  # t-SNE and UMAP start from this many principal components ...
PCA_ABOVE = 100  # ... of features wider than this
EXACT_KNN_MAX = 20_000  # up to here t-SNE's neighbours are exact: the same bytes for any n_jobs
BH_BELOW = 10_000  # t-SNE gradients: Barnes-Hut below this many points, FFT from here (openTSNE's
# own "auto" rule; on 2,000 points BH took 4.8 s single-threaded where FFT took 17 s)
EXAGGERATED_ITERS = 125  # t-SNE: iterations with early exaggeration (12) ...
NORMAL_ITERS = 250  # ... then without; with PCA init and the learning rate N/12, 2,000 digits
# reach a KL divergence no higher than openTSNE's default 250 + 500 FFT iterations did
TSNE_ITERS = EXAGGERATED_ITERS + NORMAL_ITERS
ONE_THREAD_BELOW = 10_000  # kNN scores of fewer points run on one thread (OpenMP waits otherwise)
UMAP_NEIGHBOURS = 15
UMAP_HINT = "pip install 'oipviz[umap]' (umap-learn)"


def check_method(method: str) -> str:
    """``method`` if known and importable; else a one-line error (UMAP is an extra)."""
    if method not in METHODS:
        raise OipvizError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if method == "umap":
        from importlib.util import find_spec

        if find_spec("umap") is None:
            raise OipvizError(
                f"method 'umap' needs umap-learn, which is not installed: {UMAP_HINT}"
            )
    return method


def check_sizes(n: int, method: str, perplexity: float, k: int) -> None:
    """Enough samples for the method's neighbourhoods and for k neighbours."""
    perplexity = checks.number("perplexity", perplexity, 1.0, 1000.0)
    k = checks.integer("k", k, 1, 1000)
    if method == "tsne" and n < 3 * perplexity + 1:
        raise OipvizError(
            f"t-SNE with perplexity {perplexity:g} needs at least "
            f"{int(np.ceil(3 * perplexity + 1))} samples, got {n}; "
            "use more samples or a lower --perplexity"
        )
    if method == "umap" and n <= UMAP_NEIGHBOURS:
        raise OipvizError(f"UMAP needs more than {UMAP_NEIGHBOURS} samples, got {n}")
    if n <= k:
        raise OipvizError(f"the kNN score with k={k} needs more than {k} samples, got {n}")
    if method == "pca" and n < 2:
        raise OipvizError("PCA needs at least 2 samples")


def knn_agreement(x: np.ndarray, labels: np.ndarray, k: int = K_NEIGHBOURS) -> float:
    """Mean over points of the fraction of their ``k`` nearest neighbours (Euclidean,
    the point itself excluded) that share their label.  Exact neighbours (the same for any
    thread count), found on one thread below 10,000 points (2,000 digits: 0.05 s, where
    two threads on a busy 2-core machine took 0.25 s).

    Parameters
    ----------
    x : ndarray
        (N, ...) points (flattened).
    labels : ndarray
        (N,) their classes.
    k : int
        Neighbours per point.

    Returns
    -------
    float
        The agreement in [0, 1].
    """
    from sklearn.neighbors import NearestNeighbors
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, np.float32).reshape(len(x), -1)
    labels = np.asarray(labels)
    with threadpool_limits(1 if len(x) < ONE_THREAD_BELOW else None):
        idx = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(return_distance=False)
    return float((labels[idx] == labels[:, None]).mean())


def reduce_dims(x: np.ndarray, dims: int, seed: int, above: int = PCA_ABOVE) -> np.ndarray:
    """The first ``dims`` principal components of ``x`` if it has more than ``above``
    columns (else ``x`` itself)."""
    from sklearn.decomposition import PCA

    if x.shape[1] <= above or len(x) <= dims:
        return x
    return PCA(dims, random_state=seed).fit_transform(x).astype(np.float32)


def embed_2d(
    x: np.ndarray,
    method: str = "tsne",
    seed: int = 0,
    perplexity: float = 30.0,
    n_jobs: int | None = None,
    on_iter=None,
) -> tuple[np.ndarray, list[str]]:
    """(coordinates (N,2) float32, notes on what was done) for feature vectors ``x``.

    ``tsne``: openTSNE, PCA init, seeded, :data:`TSNE_ITERS` iterations (125 with early
    exaggeration, 250 without); Barnes-Hut gradients below 10,000 points, FFT-interpolated
    ones from there (openTSNE's own rule); exact neighbours up to 20,000 points, so threads
    do not change the result.  ``n_jobs`` threads (None: one for Barnes-Hut, whose OpenMP
    threads mostly wait on a busy 2-core machine, all cores for FFT).
    ``pca``: scikit-learn.  ``umap``: umap-learn (seeded, hence single-threaded).
    ``on_iter(n)`` is called as t-SNE iterations complete (:data:`TSNE_ITERS` in all).
    """
    check_method(method)
    x = checks.finite_array("features", x).reshape(len(x), -1)
    seed = checks.seed(seed)
    check_sizes(len(x), method, perplexity, 1)
    notes = []
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(2, random_state=seed).fit(x)
        ev = pca.explained_variance_ratio_
        notes.append(f"PCA: the 2 components explain {ev.sum():.1%} of the variance")
        return pca.transform(x).astype(np.float32), notes
    z = reduce_dims(x, PCA_DIMS, seed)
    if z is not x:
        notes.append(f"{x.shape[1]}-D features reduced to {PCA_DIMS} principal components first")
    if method == "umap":
        import umap

        out = umap.UMAP(n_components=2, n_neighbors=UMAP_NEIGHBOURS, random_state=seed)
        notes.append(f"UMAP (umap-learn), {UMAP_NEIGHBOURS} neighbours, seeded")
        return np.asarray(out.fit_transform(z), np.float32), notes
    from openTSNE import TSNE

    gradients = "bh" if len(z) < BH_BELOW else "fft"
    n_jobs = n_jobs or (1 if gradients == "bh" else os.cpu_count() or 1)
    every = 25

    def callback(iteration, error, embedding):
        if on_iter:
            on_iter(every)
        return False

    exact = len(z) <= EXACT_KNN_MAX
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        negative_gradient_method=gradients,
        neighbors="exact" if exact else "annoy",
        initialization="pca",
        early_exaggeration_iter=EXAGGERATED_ITERS,
        n_iter=NORMAL_ITERS,
        n_jobs=n_jobs,
        random_state=seed,
        callbacks=callback,
        callbacks_every_iters=every,
        verbose=False,
    )
    coords = np.asarray(tsne.fit(z.astype(np.float64)), np.float32)
    notes.append(
        f"t-SNE (openTSNE, {'Barnes-Hut' if gradients == 'bh' else 'FFT'} gradients, "
        f"{n_jobs} thread(s)), perplexity {perplexity:g}, "
        f"{'exact' if exact else 'approximate (Annoy)'} neighbours, PCA init, "
        f"{TSNE_ITERS} iterations"
    )
    return coords, notes
