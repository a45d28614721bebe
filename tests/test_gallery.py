"""Galleries: ``oipviz gallery`` (site, rescue counts, resume, Ctrl-C, Dense layers, compare,
valid vs free range, in-range activations, uniqueness) and ``oipviz activations``.

Real TF engine, the real bundled model, few steps, 6-map runs; every file is read back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import argv
from PIL import Image

from oipviz.cli import main as cli

DATA = Path(__file__).parent / "data"
EPOCHS, PRE_EPOCHS, LIMIT = 30, 40, 1000
#: conv3 maps 0-5 of the bundled model: map 4 never responds to random inits
SMALL = [
    "--layer",
    "conv3",
    "--maps",
    "0-5",
    "--epochs",
    str(EPOCHS),
    "--precursor-epochs",
    str(PRE_EPOCHS),
    "--data-limit",
    str(LIMIT),
    "--feature-method",
    "pca",
    "--feature-samples",
    "200",
]
#: a gallery of OIPs only: no precursor run, explanations or feature space; few digits
BARE = "--precursor off --data-limit 300 --no-explain --no-feature-space --quiet"
ENV = dict(os.environ, OIPVIZ_OFFLINE="1")


def run(args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kw)


@pytest.fixture(scope="module")
def keras():
    from oipviz.core.tfenv import import_keras

    return import_keras()


@pytest.fixture(scope="module")
def random_model(tmp_path_factory, keras):
    from oipviz.models.zoo import random_features

    keras.utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("models") / "random_features.keras"
    random_features().save(path)
    return path


@pytest.fixture(scope="module")
def digits():
    from oipviz.data.sources import mnist_digits

    return mnist_digits(LIMIT, seed=0, split="all")


@pytest.fixture(scope="module")
def site(tmp_path_factory, random_model):
    out = tmp_path_factory.mktemp("g") / "site"
    r = run(["gallery", *SMALL, "--compare", random_model, "--out", out, "--quiet"])
    assert r.exit_code == 0, r.output + r.stderr
    return out, r.output


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("href", "src") and v]


def assert_links(page: Path) -> int:
    """Every href/src of a page is relative (no network) and exists."""
    p = Links()
    p.feed(page.read_text(encoding="utf-8"))
    for ref in p.refs:
        u = urlparse(ref)
        assert not u.scheme and not u.netloc and not ref.startswith("/"), f"{page.name}: {ref}"
        assert (page.parent / unquote(u.path)).exists(), f"{page.name} links to missing {ref}"
    return len(p.refs)


def assert_site_links(root: Path) -> int:
    pages = [*root.glob("*.html"), *root.glob("*/map_*.html"), *root.glob("compare/*.html")]
    for page in pages:
        assert_links(page)
    return len(pages)


def manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def direct_means(keras, layer, x01):
    """Spatial means of ``layer`` straight from the Keras model (no oipviz engine)."""
    from oipviz.core.loader import load_model

    loaded = load_model()
    feat = keras.Model(loaded.model.inputs, loaded.model.get_layer(layer).output)
    z = loaded.convention.to_engine(x01)
    return np.asarray(feat.predict(z, verbose=0, batch_size=256)).mean(axis=(1, 2))


# ----------------------------------------------------------------------------- the site


def test_site_pages_statuses_and_links(site):
    out, printed = site
    man = manifest(out)
    assert (
        man["kind"] == "gallery" and man["complete"] is True and not (out / ".incomplete").exists()
    )
    maps = man["layers"]["conv3"]["maps"]
    assert [e["map"] for e in maps] == list(range(6))
    c = man["summary"]["conv3"]
    assert f"conv3: {c['live']} live, {c['rescued']} rescued, {c['dead']} dead" in printed
    index = (out / "index.html").read_text()
    for e in maps:
        m = e["map"]
        assert f'href="conv3/map_{m:03d}.html"' in index
        assert f"conv3 map {m}" in (out / f"conv3/map_{m:03d}.html").read_text()
        a = np.asarray(Image.open(out / f"conv3/map_{m:03d}/oip_init0.png"))
        b = np.asarray(Image.open(out / f"conv3/map_{m:03d}/oip_init1.png"))
        assert a.shape == (112, 112, 3) and not np.array_equal(a, b)  # 8 different inits
        assert np.asarray(Image.open(out / f"conv3/map_{m:03d}/stats.png").convert("L")).std() > 10
        assert (e["status"] == "live") == (max(e["oip"]["final"]) > 1e-6)
    # the settings are the rescue probe's and the gallery's precursor defaults
    assert man["settings"]["inits"] == 8 and man["settings"]["precursor"] == {
        "screen": "forward",
        "grid": 3,
        "values": [0.2, 0.5, 0.8],
        "test_steps": 10,
        "top": 2,
        "steps": PRE_EPOCHS,
        "wake": 200,
    }
    # the compare page: both models' OIPs side by side
    cmp_page = (out / "compare" / "conv3.html").read_text()
    assert "seed_cnn.keras" in cmp_page and "random_features.keras" in cmp_page
    assert len(list((out / "compare" / "conv3").glob("map_*.png"))) == 6
    assert "../compare/conv3/map_003.png" in (out / "conv3" / "map_003.html").read_text()
    assert "held-out accuracy" in index and "99.00%" in index  # the model card
    assert assert_site_links(out) == 1 + 6 + 1 + 3  # + the extra pages
    assert not list(out.parent.glob(".site.*"))  # no working folder left


def test_extra_pages_are_written_and_linked(site):
    """feature_space.html (both models), misclassified.html (every method; the confusion
    matrix links to it), weights.html, and a Grad-CAM strip on each map page."""
    out, _ = site
    index = (out / "index.html").read_text()
    for page in ("feature_space.html", "misclassified.html", "weights.html"):
        assert f'href="{page}"' in index and (out / page).exists(), page
        assert assert_links(out / page) >= 2
    assert '<a href="misclassified.html" title' in index  # the confusion matrix
    fs = (out / "feature_space.html").read_text()
    assert "kNN agreement" in fs and "random_features.keras" in fs and "purity" in fs
    for name in (
        "conv3_embedding",
        "conv3_compare_embedding",
        "conv3_clusters",
        "conv3_contingency",
    ):
        assert Image.open(out / "feature_space" / f"{name}.png").width > 200, name
    mis = (out / "misclassified.html").read_text()
    assert "misclassified" in mis and "explain/misclassified.png" in mis
    assert Image.open(out / "explain" / "misclassified.png").width > 600  # 1 + 7 methods
    assert "kernels.png" in (out / "weights.html").read_text()
    assert (out / "weights" / "class_means.png").exists()
    for m in range(6):
        assert "gradcam.png" in (out / "conv3" / f"map_{m:03d}.html").read_text()
        assert Image.open(out / "conv3" / f"map_{m:03d}" / "gradcam.png").width > 9 * 56
    settings = manifest(out)["settings"]
    assert settings["explain"] is True and settings["feature_space"]["method"] == "pca"


def test_feature_space_computed_beside_the_pages_has_the_direct_numbers(site, random_model):
    """The feature spaces are computed on a thread while the map pages are drawn; the page
    shows the numbers a direct feature_space() call gives, and the manifest says how long
    that computation took beside the phases."""
    from oipviz.compute.space.space import feature_space
    from oipviz.core.loader import load_model
    from oipviz.gallery.spacepage import FEATURE_KS
    from oipviz.writers.html import fmt

    out, _ = site
    page = (out / "feature_space.html").read_text()
    for model in (None, random_model):
        fs = feature_space(
            "conv3", load_model(model), samples=200, method="pca", k=FEATURE_KS, progress=False
        )
        s = fs.summary()
        row = (
            f'<td class="num">200</td><td class="num">{fmt(s["knn_agreement_2d"])}</td>'
            f'<td class="num">{fmt(s["knn_agreement_features"])}</td>'
        )
        assert row in page, row
    run = manifest(out)["runs"][-1]
    assert run["beside_seconds"]["feature_space"] > 0 and "feature_space" in run["seconds"]


def test_no_explain_no_feature_space_skips_them(tmp_path):
    out = tmp_path / "bare"
    r = run(argv(f"gallery --layer conv3 --maps 0-1 --inits 2 --epochs 5 {BARE}", "--out", out))
    assert r.exit_code == 0, r.output + r.stderr
    assert not (out / "feature_space.html").exists() and not (out / "misclassified.html").exists()
    assert not list(out.glob("conv3/map_*/gradcam.png"))
    index = (out / "index.html").read_text()
    assert "feature_space.html" not in index and "misclassified.html" not in index
    assert (out / "weights.html").exists() and 'href="weights.html"' in index
    assert assert_site_links(out) == 2 + 2  # index, weights, 2 maps


def test_examples_and_selectivity_match_a_direct_computation(site, keras, digits):
    out, _ = site
    x01, labels, _ = digits
    acts = direct_means(keras, "conv3", x01)
    layer = manifest(out)["layers"]["conv3"]
    assert layer["class_counts"] == np.bincount(labels, minlength=10).tolist()
    for e in layer["maps"]:
        m = e["map"]
        idx = np.array([x["index"] for x in e["examples"]])
        got = np.array([x["activation"] for x in e["examples"]])
        assert len(idx) == 9 and len(set(idx)) == 9
        np.testing.assert_allclose(got, acts[idx, m], rtol=1e-4, atol=1e-5)
        assert got.min() >= np.delete(acts[:, m], idx).max() - 1e-5  # nothing else higher
        assert [x["label"] for x in e["examples"]] == labels[idx].tolist()
        want = [acts[labels == c, m].mean() for c in range(10)]
        np.testing.assert_allclose(e["selectivity"], want, rtol=1e-4, atol=1e-6)


def test_counts_are_the_rescue_counts(site, loaded):
    """The gallery's live/rescued/dead equal rescue()'s (= precursor --dead-only) for the
    same settings (the rescue probe's range and style), map by map."""
    from oipviz.compute.rescue import rescue

    out, _ = site
    # rescue() runs its own probe with its defaults (in-range, readable), as
    # precursor --dead-only does
    res = rescue(
        "conv3",
        list(range(6)),
        loaded,
        probe_steps=EPOCHS,
        screen="forward",
        top=2,
        steps=PRE_EPOCHS,
        range_mode="valid",  # the gallery's precursor stays in the valid range, as its probe
        progress=False,
    )
    man = manifest(out)
    assert [e["status"] for e in man["layers"]["conv3"]["maps"]] == [r.status for r in res.rows]
    assert man["summary"]["conv3"] == res.counts
    assert res.counts["rescued"] >= 1 and 4 in res.dead_after_probe
    # the rescued map's picture is the precursor's
    row = res.rows[4]
    assert row.status == "rescued"
    np.testing.assert_allclose(
        np.load(out / "conv3/map_004/precursor/best.npy"), row.best_image, rtol=1e-5, atol=1e-5
    )


def test_rescued_map_shows_its_precursor_image(site):
    out, _ = site
    e = manifest(out)["layers"]["conv3"]["maps"][4]
    assert max(e["oip"]["final"]) <= 1e-6  # dead after the random inits
    assert e["status"] == "rescued" and e["activation"] == e["precursor"]["best_activation"] > 0
    page = (out / "conv3/map_004.html").read_text()
    assert '<span class="badge rescued">rescued</span>' in page
    assert 'src="map_004/precursor/best_viridis.png"' in page
    assert "Precursor (free range)" in page and "precursor, free range, viridis" in page
    assert e["shown"]["image"] == "precursor" and e["shown"]["range"] == "free"
    assert e["shown"]["clipped_activation"] == e["shown"]["in_range_activation"]
    index = (out / "index.html").read_text()
    assert 'src="conv3/map_004/precursor/best_viridis.png"' in index
    assert Image.open(out / "conv3/map_004/precursor/best_viridis.png").size == (224, 224)


# ----------------------------------------------------------------------------- range, uniqueness


def test_valid_gallery_oips_are_in_range_and_drawn_exactly(site, keras, loaded):
    """The default gallery is valid + readable: every OIP's pixels are in [0, 1], its PNG
    is those pixels (no stretch), and the in-range activation is the image's as written."""
    out, printed = site
    man = manifest(out)
    assert man["range"] == man["settings"]["range"] == "valid"
    assert man["style"] == man["settings"]["style"] == "readable"
    assert "valid range" in printed
    index = (out / "index.html").read_text()
    assert "valid: every OIP is a real input" in index and "readable:" in index
    c = loaded.convention
    live, px = [], []
    for e in man["layers"]["conv3"]["maps"]:
        d = out / f"conv3/map_{e['map']:03d}"
        oips = c.from_engine(np.load(d / "oips.npy"))
        assert oips.min() >= -1e-5 and oips.max() <= 1 + 1e-5  # every init, in range
        p = np.load(d / "oip_best_pixels.npy")
        assert p.min() >= 0 and p.max() <= 1
        np.testing.assert_allclose(p, np.clip(oips[e["oip"]["best_init"]], 0, 1), atol=1e-6)
        gray = np.asarray(Image.open(d / "oip_best_gray.png").convert("L"))[::8, ::8]
        assert np.abs(gray - np.round(p * 255)).max() <= 1  # exact, not stretched
        if e["status"] == "live":
            sh = e["shown"]
            assert (sh["image"], sh["range"], sh["clipped_activation"]) == ("oip", "valid", None)
            assert sh["activation"] == pytest.approx(e["oip"]["best"], rel=1e-3, abs=1e-4)
            live.append(e)
            px.append(p)
    assert len(live) == 5
    direct = direct_means(keras, "conv3", np.stack(px)[..., None])  # the pixels, in Keras
    got = [e["shown"]["in_range_activation"] for e in live]
    np.testing.assert_allclose(
        got, [direct[i, e["map"]] for i, e in enumerate(live)], rtol=1e-3, atol=1e-4
    )
    beats = sum(e["shown"]["in_range_activation"] > e["best_real_activation"] for e in live)
    s = man["layers"]["conv3"]["in_range"]
    assert s["live"] == 5 and s["beats_best_real"] == beats
    assert f"on {beats} of 5 live maps the in-range OIP (as written) beats" in index
    for e in live:
        assert e["best_real_activation"] == e["examples"][0]["activation"]


def test_uniqueness_on_map_pages_and_index(site):
    """Each live map page shows the median aligned similarity of its inits' OIPs (computed
    again here from oips.npy), the unique / several forms label and the matrix figure."""
    from oipviz.compute.uniqueness import label, median_similarity, similarity_matrix

    out, _ = site
    man = manifest(out)
    labels = []
    for e in man["layers"]["conv3"]["maps"]:
        d = out / f"conv3/map_{e['map']:03d}"
        page = (out / f"conv3/map_{e['map']:03d}.html").read_text()
        assert "Unique OIPs?" in page
        if e["status"] != "live":
            assert e["uniqueness"]["label"] is None and not (d / "similarity.png").exists()
            continue
        sim = similarity_matrix(np.load(d / "oips.npy"))
        med = median_similarity(sim)
        np.testing.assert_allclose(e["uniqueness"]["similarity"], sim, atol=1e-4)
        assert e["uniqueness"]["median"] == pytest.approx(med, abs=1e-6)
        assert e["uniqueness"]["label"] == label(med)
        assert f"median aligned similarity {med:.3g}: {label(med)}" in page
        fig = np.asarray(Image.open(d / "similarity.png").convert("RGB"), np.float32)
        assert fig.shape[0] > 200 and (fig[..., 2] - fig[..., 0]).max() > 80  # viridis blues
        labels.append(label(med))
    s = man["layers"]["conv3"]["in_range"]
    assert (s["unique"], s["several_forms"]) == (
        labels.count("unique"),
        labels.count("several forms"),
    )
    assert (
        f"Unique OIPs? {s['unique']} unique, {s['several_forms']} several forms"
        in (out / "index.html").read_text()
    )


def test_free_range_gallery_shows_clipped_activations(tmp_path, keras, loaded):
    """--range free (the articles' method): min-max scaled pictures, and per map the
    activation as written and of the OIP clipped to [0, 1]; the index counts clipped OIPs."""
    out = tmp_path / "free"
    args = "--layer conv3 --maps 0,3 --inits 4 --epochs 20 --range free --style plain"
    r = run(argv(f"gallery {args} {BARE}", "--out", out))
    assert r.exit_code == 0, r.output + r.stderr
    man = manifest(out)
    assert man["range"] == "free" and man["style"] == "plain"
    assert "OIPs clipped to [0, 1]" in r.output
    maps = man["layers"]["conv3"]["maps"]
    c = loaded.convention
    px = np.stack([np.load(out / f"conv3/map_{e['map']:03d}/oip_best_pixels.npy") for e in maps])
    direct = direct_means(keras, "conv3", px[..., None])
    for i, e in enumerate(maps):
        d = out / f"conv3/map_{e['map']:03d}"
        z = np.load(d / "oips.npy")[e["oip"]["best_init"]]
        assert c.from_engine(z).max() > 1 or c.from_engine(z).min() < 0  # really free
        sh = e["shown"]
        assert sh["range"] == "free" and sh["activation"] == pytest.approx(
            e["oip"]["best"], rel=1e-3
        )
        assert (
            sh["in_range_activation"]
            == sh["clipped_activation"]
            == pytest.approx(float(direct[i, e["map"]]), rel=1e-3, abs=1e-4)
        )
        gray = np.asarray(Image.open(d / "oip_best_gray.png").convert("L"))
        assert gray.min() == 0 and gray.max() == 255  # min-max scaled
        page = (out / f"conv3/map_{e['map']:03d}.html").read_text()
        assert "clipped to the pixel range [0, 1]" in page and "oip_best_clipped.png" in page
    index = (out / "index.html").read_text()
    assert "free (the articles" in index and "live maps the OIP clipped to [0, 1] beats" in index
    assert assert_site_links(out) == 1 + 2 + 1  # + weights.html


def _tree(root: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def test_settings_from_keywords_state_what_the_site_used():
    """build_gallery's keyword options (the CLI's) become GallerySettings; the manifest's
    settings are the plain form of them (a partial precursor dict keeps the defaults)."""
    from oipviz.gallery.site import PRECURSOR_DEFAULTS, GallerySettings, build_gallery

    s = GallerySettings.from_options(
        inits=4, steps=30, range_mode="free", precursor={"top": 3}, feature_space=False
    )
    p = s.params("mnist")
    assert p["precursor"] == dict(PRECURSOR_DEFAULTS, top=3) and p["feature_space"] is None
    assert (p["inits"], p["steps"], p["range"], p["style"]) == (4, 30, "free", "readable")
    off = GallerySettings.from_options(precursor=None, feature_method="pca", feature_samples=300)
    assert off.params("mnist")["precursor"] is None
    assert off.params("mnist")["feature_space"] == {"method": "pca", "samples": 300}
    with pytest.raises(TypeError, match="not both"):
        build_gallery(None, None, ["conv3"], settings=s, inits=2)


def test_gallery_from_a_settings_object(tmp_path, loaded):
    """The Python way in: build_gallery(folder, model, layers, maps, GallerySettings(...))."""
    from oipviz.core.folders import OutputFolder
    from oipviz.gallery.site import GallerySettings, build_gallery

    settings = GallerySettings(
        inits=2, steps=10, precursor=None, data_limit=200, explain=False, feature_space=None
    )
    with OutputFolder(tmp_path / "g", "gallery", resumable=True) as folder:
        res = build_gallery(folder, loaded, ["conv3"], {"conv3": [0, 1]}, settings, progress=False)
        folder.commit()
    root = res.path
    assert sorted(p.name for p in root.glob("conv3/map_*.html")) == ["map_000.html", "map_001.html"]
    m = manifest(root)
    assert m["settings"]["inits"] == 2 and m["settings"]["precursor"] is None
    assert m["data"]["digits"] == 200 and not (root / "feature_space.html").exists()
    assert assert_site_links(root) >= 3


def test_resume_of_a_complete_gallery_is_a_no_op(site, tmp_path):
    out, _ = site
    before = _tree(out)
    r = run(["gallery", *SMALL, "--compare", site_compare(out), "--out", out, "--resume"])
    assert r.exit_code == 0 and "already complete; nothing to do" in r.output
    assert _tree(out) == before


def site_compare(out: Path) -> str:
    return manifest(out)["parameters"]["compare"]


def test_ctrl_c_keeps_finished_parts_and_resume_gives_the_same_bytes(site, tmp_path):
    ref, _ = site
    out = tmp_path / "site"
    args = ["gallery", *SMALL, "--out", str(out)]
    # a background job of a non-interactive shell ignores SIGINT, and children inherit
    # that: give the child the default disposition so Python installs its handler
    child = subprocess.Popen(
        [sys.executable, "-c", "from oipviz.cli import main; main()", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    for line in child.stderr:  # progress labels, one line per stage
        seen.append(line)
        if "precursor on" in line:  # the OIP part is saved by now
            child.send_signal(signal.SIGINT)
            break
    err = "".join(seen) + child.stderr.read()
    assert child.wait(timeout=120) == 130, err
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    assert not list(tmp_path.glob(".site.*"))  # the working folder was moved into place
    assert (out / ".incomplete").exists() and manifest(out)["complete"] is False
    part = out / "conv3/parts/maps_0000-0005.npz"
    kept = {p: p.stat().st_mtime_ns for p in (part, out / "data/conv3.npz")}
    assert_links(out / "index.html")  # a valid index of what is done
    assert "Incomplete" in (out / "index.html").read_text()

    r = run(["gallery", *args[1:], "--resume", "--quiet"])
    assert r.exit_code == 0, r.output + r.stderr
    assert "conv3: 5 live, 1 rescued, 0 dead" in r.output
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # not computed again
    assert manifest(out)["complete"] and not (out / ".incomplete").exists()
    names = ["conv3/sheet.png", "conv3/map_004/precursor/best_viridis.png"] + [
        f"conv3/map_{m:03d}/oip_init{i}.png" for m in range(6) for i in range(8)
    ]
    # the map pages' figures (drawn, stamped and encoded on a worker thread)
    figures = [p.relative_to(ref) for p in ref.glob("conv3/map_*/*.png")]
    assert len(figures) > 6 * 8 and any(p.name == "similarity.png" for p in figures)
    names += [str(p) for p in figures]
    for name in names:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), f"{name} differs"
    assert len(manifest(out)["runs"]) == 2
    assert_site_links(out)


@pytest.mark.slow
def test_mlp_gallery_shows_units(tmp_path, keras):
    """A flat-input MLP: units are the maps (OIP per unit, top digits, histogram, classes)."""
    from oipviz.models.zoo import mlp

    keras.utils.set_random_seed(2)
    flat = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(16, activation="relu", name="dense"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    for name, model in (("flat.keras", flat), ("zoo_mlp.keras", mlp())):
        path = tmp_path / name
        model.save(path)
        layer = [lay.name for lay in model.layers if lay.__class__.__name__ == "Dense"][0]
        out = tmp_path / f"g_{name}"
        r = run(
            [
                "gallery",
                "--model",
                path,
                "--layer",
                layer,
                "--maps",
                "0-3",
                "--inits",
                "2",
                "--epochs",
                "10",
                "--precursor-epochs",
                "10",
                "--data-limit",
                "300",
                "--feature-method",
                "pca",
                "--feature-samples",
                "200",
                "--out",
                out,
                "--quiet",
            ]
        )
        assert r.exit_code == 0, r.output + r.stderr
        man = manifest(out)
        assert man["layers"][layer]["kind"] == "unit" and len(man["layers"][layer]["maps"]) == 4
        page = (out / layer / "map_002.html").read_text()
        assert f"{layer} unit 2" in page and "a Dense unit has one value per digit" in page
        ex = Image.open(out / layer / "map_002" / "examples.png").convert("RGB")
        a = np.asarray(ex)
        assert (a[..., 0] == a[..., 1]).all()  # plain gray digits, no overlay
        assert not list(out.glob(f"{layer}/map_*/gradcam.png"))  # no conv layer
        assert (out / "feature_space.html").exists() and (out / "misclassified.html").exists()
        assert assert_site_links(out) == 1 + 4 + 2 + (out / "weights.html").exists()
    r = run(
        [
            "activations",
            "--model",
            tmp_path / "flat.keras",
            "--samples",
            "2",
            "--out",
            tmp_path / "act",
            "--quiet",
        ]
    )
    assert r.exit_code == 0, r.output + r.stderr
    man = json.loads((tmp_path / "act" / "manifest.json").read_text())
    assert (
        man["layers"] == ["dense"]
        and len(man["inputs"][0]["layers"]["dense"]["strongest_units"]) == 5
    )
    assert Image.open(tmp_path / "act" / "input_00" / "dense.png").width > 300


# ----------------------------------------------------------------------------- bad input

PROBE = r"""
import sys
from oipviz.cli import main
try:
    main(sys.argv[1:], prog_name="oipviz")
except SystemExit as exc:
    print("exit", exc.code, "tensorflow" in sys.modules)
"""


@pytest.mark.skipif(
    not Path("/proc/self").exists(), reason="needs /proc (not writable, even as root)"
)
def test_unwritable_out_is_refused_before_tensorflow():
    p = subprocess.run(
        [sys.executable, "-c", PROBE, "gallery", "--out", "/proc/oipviz_gallery"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert p.stdout.split() == ["exit", "2", "False"], p.stdout + p.stderr
    assert p.stderr.startswith("error: cannot write in /proc") and p.stderr.count("\n") == 1


def test_missing_parent_is_refused_before_tensorflow(tmp_path):
    p = subprocess.run(
        [sys.executable, "-c", PROBE, "gallery", "--out", str(tmp_path / "no" / "g")],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert p.stdout.split() == ["exit", "2", "False"], p.stdout + p.stderr
    assert "does not exist" in p.stderr and p.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--layer", "conv9"], "no layer 'conv9'"),
        (["--layer", "flatten"], "has no maps or units"),
        (["--layer", "conv3", "--maps", "200"], "out of range"),
        (["--layer", "conv3", "--maps", "x-y"], "bad --map"),
    ],
)
def test_bad_layer_or_maps_is_one_line_and_writes_nothing(tmp_path, args, msg):
    r = run(["gallery", "--out", tmp_path / "g"] + args)
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and msg in r.stderr and r.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_or_resume_a_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = run(["gallery", "--out", out, "--force"])
    assert r.exit_code == 2 and "holds no oipviz manifest.json" in r.stderr
    r = run(["gallery", "--out", out, "--resume"])
    assert r.exit_code == 2 and "not an oipviz gallery output" in r.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


# ----------------------------------------------------------------------------- activations


def big_photo_of(digit01: np.ndarray) -> Image.Image:
    """A real digit as a 'photo': dark ink on a light, slightly coloured page, 10× larger,
    off-centre in a 400×300 RGB image."""
    ink = Image.fromarray(np.round((1 - digit01) * 255).astype(np.uint8), "L").resize(
        (280, 280), Image.BICUBIC
    )
    page = Image.new("RGB", (400, 300), (240, 232, 215))
    page.paste(Image.merge("RGB", [ink.point(lambda v: int(v * 0.94 + 5))] * 3), (100, 10))
    return page


def test_mnist_style_recovers_a_digit(digits):
    from oipviz.data.inputs import mnist_style

    x01, labels, _ = digits
    corr = []
    for i in range(20):
        conv = mnist_style(big_photo_of(x01[i, :, :, 0]))
        assert conv.inverted and conv.x01.shape == (28, 28)
        assert conv.x01.max() == pytest.approx(1.0, abs=0.05) and conv.x01[0].max() < 0.05
        ys, xs = np.nonzero(conv.x01 > 0.1)
        assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 <= 21  # fits 20 px
        yy, xx = np.mgrid[:28, :28]
        com = ((yy * conv.x01).sum() / conv.x01.sum(), (xx * conv.x01).sum() / conv.x01.sum())
        assert np.allclose(com, 14.0, atol=0.5)  # where MNIST has it
        corr.append(np.corrcoef(conv.x01.ravel(), x01[i, :, :, 0].ravel())[0, 1])
    assert np.median(corr) > 0.9 and min(corr) > 0.5, corr


def test_activations_of_image_files(tmp_path, digits, loaded):
    x01, labels, _ = digits
    files = []
    for i in range(3):
        p = tmp_path / f"photo{i}.jpg"
        big_photo_of(x01[i, :, :, 0]).save(p, quality=92)
        files.append(str(p))
    rgba = Image.new("RGBA", (60, 80), (0, 0, 0, 0))
    small = Image.fromarray(np.round(x01[3, :, :, 0] * 255).astype(np.uint8), "L").resize((56, 56))
    rgba.paste(Image.new("RGBA", (56, 56), (20, 20, 20, 255)), (2, 12), small)  # black ink, alpha
    rgba.save(tmp_path / "alpha.png")
    files.append(str(tmp_path / "alpha.png"))
    out = tmp_path / "act"
    r = run(["activations", *files, "--out", out])
    assert r.exit_code == 0, r.output + r.stderr
    man = manifest(out)
    preds = loaded.predict(x01[:4]).argmax(1)
    assert [e["prediction"] for e in man["inputs"]] == preds.tolist() == labels[:4].tolist()
    assert man["inputs"][3]["conversion"]["notes"] == ["transparency filled with white"]
    assert man["layers"] == ["conv1", "conv2", "conv3", "dense1"]
    for k in range(4):
        for layer in ("conv1", "conv2", "conv3", "dense1"):
            im = Image.open(out / f"input_{k:02d}" / f"{layer}.png")
            assert im.width > 300 and np.asarray(im.convert("L")).std() > 20
        assert f'src="input_{k:02d}/conv3.png"' in (out / "index.html").read_text()
    assert assert_links(out / "index.html") > 4 * 5


def test_activations_of_dataset_digits(tmp_path, loaded):
    out = tmp_path / "act"
    r = run(["activations", "--samples", "3", "--digits", "3,8", "--out", out, "--quiet"])
    assert r.exit_code == 0, r.output + r.stderr
    man = manifest(out)
    assert len(man["inputs"]) == 3 and {e["label"] for e in man["inputs"]} <= {3, 8}
    x = np.stack([np.load(out / f"input_{k:02d}" / "input.npy") for k in range(3)])
    np.testing.assert_allclose(
        [e["probability"] for e in man["inputs"]], loaded.predict(x).max(1), rtol=1e-4
    )
    assert "Prediction <b>" in (out / "index.html").read_text()
    r = run(["activations", "--samples", "2", "--out", out])
    assert r.exit_code == 2 and "already exists" in r.stderr


@pytest.mark.parametrize(
    "name,msg",
    [
        ("truncated.jpg", "truncated"),
        ("not_image.png", "not an image"),
        ("empty.png", "empty"),
        ("missing.png", "not found"),
    ],
)
def test_activations_bad_image_is_one_line_and_writes_nothing(tmp_path, name, msg):
    r = run(["activations", DATA / "photo.png", DATA / name, "--out", tmp_path / "act"])
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert msg in r.stderr and list(tmp_path.iterdir()) == []


def test_activations_bad_arguments(tmp_path):
    Image.new("RGB", (50, 50), (255, 255, 255)).save(tmp_path / "blank.png")
    r = run(["activations", tmp_path / "blank.png", "--out", tmp_path / "a"])
    assert r.exit_code == 2 and "no digit found" in r.stderr
    r = run(["activations", DATA / "photo.png", "--digits", "3", "--out", tmp_path / "c"])
    assert r.exit_code == 2 and "cannot be combined" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.png"]
