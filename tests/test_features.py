"""Feature views: embeddings with the kNN class-agreement score, k-means scans, weights
as pictures; the real bundled model, real offline digits, real files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import argv
from PIL import Image

from oipviz.core.errors import OipvizError


@pytest.fixture(scope="module")
def linear_model(tmp_path_factory):
    """A softmax-regression model trained here for 3 epochs (zoo 'linear')."""
    from oipviz.models.train import train
    from oipviz.writers.trained import save_trained

    model, card, confusion = train("linear", epochs=3, seed=0, augment_data=False)
    path = tmp_path_factory.mktemp("linear") / "linear.keras"
    save_trained(model, card, confusion, path)
    return path


@pytest.fixture(scope="module")
def digits():
    from oipviz.compute.space.inputs import sample_digits

    return sample_digits(600)


@pytest.mark.slow
def test_tsne_embedding_shape_and_determinism(loaded):
    from oipviz.compute.space.embed import embed

    runs = [
        embed("dense1", loaded, samples=120, perplexity=10, seed=3, n_jobs=j, progress=False)
        for j in (1, 1, 2)
    ]
    a, b = runs[0].coords, runs[1].coords
    assert a.shape == (120, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, b)  # same seed, same bytes
    assert np.array_equal(a, runs[2].coords)  # ... for any thread count (--jobs)
    assert any("Barnes-Hut" in n and "375 iterations" in n for n in runs[0].panels[0].notes)
    p = runs[0].panels[0]
    assert p.dims == 70 and p.pred.shape == (120,)
    assert 0.8 < p.agreement_2d <= 1.0 and 0.8 < p.agreement_nd <= 1.0
    assert "<img" in runs[0]._repr_html_()


def test_knn_agreement_trained_layer_vs_shuffled_labels(loaded, digits):
    from oipviz.compute.space.inputs import layer_features
    from oipviz.compute.space.project import embed_2d, knn_agreement

    feats, pred = layer_features(loaded, "dense1", digits.x01)
    y = digits.labels
    shuffled = np.random.default_rng(0).permutation(y)
    real, fake = knn_agreement(feats, y), knn_agreement(feats, shuffled)
    assert real > 0.9 and fake < 0.25, (real, fake)
    coords, _ = embed_2d(feats, "pca")
    assert knn_agreement(coords, y) > knn_agreement(coords, shuffled) + 0.3
    # a trained layer sorts digits by class better than raw pixels do
    assert real > knn_agreement(digits.x01.reshape(len(y), -1), y)
    assert (pred == y).mean() > 0.95


def test_cluster_purity_on_planted_clusters():
    from oipviz.compute.space.clusters import cluster_scan

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, size=(4, 6))
    y = np.repeat(np.arange(4), 50)
    x = centres[y] + rng.normal(0, 0.5, size=(200, 6))
    res = cluster_scan(x, y, range(2, 8), seed=0)
    assert res.best_k == 4 and res.show_k == 4
    assert res.purity == 1.0
    assert res.contingency.sum() == 200 and res.silhouette.max() > 0.8
    assert len(res.rows()) == 6 and all(r["cpu_seconds"] >= 0 for r in res.rows())
    # a scan of plain vectors has no digits to picture its centroids by: the notebook card
    # shows the numbers without a picture, sheet() says what is missing
    html = res._repr_html_()
    assert "k-means on" in html and "purity" in html and "<img" not in html
    with pytest.raises(OipvizError, match="no digits to show the centroids"):
        res.sheet()


def test_linear_templates_correlate_with_class_means(linear_model):
    from oipviz.compute.space.weights import weights

    res = weights(model=linear_model)
    assert res.per_class and res.images.shape == (10, 28, 28) and res.labels[3] == "class 3"
    corr = res.correlation()
    diag = np.diag(corr)
    off = corr[~np.eye(10, dtype=bool)]
    assert (corr.argmax(1) == np.arange(10)).sum() >= 9, corr.round(2)
    assert diag.mean() > off.mean() + 0.2 and diag.min() > 0


def test_compare_with_any_model_uses_its_last_hidden_layer(loaded, linear_model):
    from oipviz.compute.space.embed import embed

    res = embed("conv3", loaded, samples=150, method="pca", compare=linear_model, progress=False)
    assert [p.layer for p in res.panels] == ["conv3", "flatten", "pixels"]
    assert res.panels[0].features == "conv3 spatial mean of 3×3 → 128"
    assert res.panels[2].pred is None and res.built is None


def test_feature_space_for_the_gallery(loaded):
    from oipviz.compute.space.clusters import clusters
    from oipviz.compute.space.space import feature_space

    fs = feature_space("conv2", loaded, samples=200, method="pca", k="3-5", progress=False)
    s = fs.summary()
    assert s["layer"] == "conv2" and s["samples"] == 200 and 3 <= s["best_k_silhouette"] <= 5
    # the scan on the embedding's vectors is the one `oipviz clusters` makes on its own
    alone = clusters("conv2", loaded, samples=200, k="3-5")
    assert np.array_equal(fs.clusters.contingency, alone.contingency)
    assert np.allclose(fs.clusters.silhouette, alone.silhouette)
    assert fs.clusters.centroid_images().shape == (s["show_k"], 28, 28)  # nearest real digits
    assert fs.embedding.figure().width > 300


def test_cli_embed_compare_random_features(cli, tmp_path):
    out = tmp_path / "emb"
    r = cli(*argv("embed --layer dense1 --samples 300 --method pca --compare --out", out))
    assert r.exit_code == 0, r.output
    man = json.loads((out / "manifest.json").read_text())
    assert [p["panel"] for p in man["panels"]] == [
        "seed_cnn.keras: dense1",
        "random_features.keras: flatten",
        "pixels",
    ]
    assert any("only the Dense head trained, 2 epoch" in n for n in man["notes"])
    assert man["panels"][1]["accuracy"] > 0.3  # a head on random features already works
    for f in man["files"]:
        assert (out / f).is_file(), f
    assert {"random_features.keras", "random_features.card.json"} <= set(man["files"])
    assert np.load(out / "coords.npy").shape == (300, 2)
    assert np.load(out / "coords_random_features_flatten.npy").shape == (300, 2)
    html = (out / "index.html").read_text()
    assert html.count("data:image/png;base64,") == 300 and "http" not in html
    assert html.count('data-i="17"') == 3  # the same digit in all three panels
    img = np.asarray(Image.open(out / "embedding.png"))
    assert img.shape[1] > 2 * img.shape[0] and img.std() > 10
    assert "kNN agreement" in r.output


def test_cli_clusters_and_weights(cli, tmp_path):
    out = tmp_path / "cl"
    r = cli("clusters", "--layer", "pixels", "--k", "3-6", "--samples", "300", "--out", out)
    assert r.exit_code == 0, r.output
    man = json.loads((out / "manifest.json").read_text())
    k = man["summary"]["show_k"]
    assert k == man["summary"]["best_k_silhouette"] and 3 <= k <= 6
    assert 0.2 < man["summary"]["purity"] <= 1.0
    rows = (out / "scores.csv").read_text().splitlines()
    assert rows[0] == "k,inertia,silhouette,cpu_seconds,wall_seconds" and len(rows) == 5
    table = np.loadtxt(out / f"contingency_K{k}.csv", delimiter=",", skiprows=1)
    assert table[:, 1:11].sum() == 300
    assert np.load(out / "centroids.npy").shape == (k, 784)
    for name in ("elbow.png", "silhouette.png", "cpu_time.png", f"centroids_K{k}.png"):
        assert np.asarray(Image.open(out / name)).std() > 5, name

    out = tmp_path / "w"
    r = cli("weights", "--layer", "conv1", "--out", out)
    assert r.exit_code == 0, r.output
    assert np.load(out / "kernels.npy").shape == (32, 1, 3, 3)
    assert np.load(out / "class_means.npy").shape == (10, 28, 28)
    assert Image.open(out / "kernels.png").width > 300


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("embed", "--layer", "nope", "--method", "pca"), "no layer 'nope'"),
        (("embed", "--samples", "20"), "needs at least 91 samples"),
        (("embed", "--perplexity", "nan"), "not a finite number"),
        (("embed", "--samples", "-5"), "-5"),
        (("embed", "--method", "umap"), "umap-learn"),
        (("clusters", "--k", "1-5"), "K = 1 out of range"),
        (("clusters", "--k", "5-400", "--samples", "300"), "K = 300 out of range"),
        (("clusters", "--k", "five"), "bad --k"),
        (("clusters", "--layer", "nope", "--k", "3"), "no layer 'nope'"),
        (("weights", "--layer", "dense1"), "not the 784 pixels"),
    ],
)
def test_bad_inputs_are_one_line_errors_and_leave_nothing(
    cli, user_error, tmp_path, args, fragment
):
    from importlib.util import find_spec

    if "umap" in args and find_spec("umap") is not None:
        pytest.skip("umap-learn is installed")
    r = cli(*args, "--out", tmp_path / "out")
    user_error(r, fragment)
    assert list(tmp_path.iterdir()) == []
