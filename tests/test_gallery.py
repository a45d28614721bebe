"""Galleries: ``oipviz activations`` and ``oipviz gallery`` (static site, resume, compare).

Real TF engine, the real bundled model, a tiny saved CNN (8-map conv layer) for the
site's bookkeeping, few steps; every file is read back.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from oipviz.cli import main as cli

DATA = Path(__file__).parent / "data"
# small, fast settings shared by the tiny-model runs (the CLI and API must agree on them)
TINY = ["--layer", "c2", "--inits", "2", "--epochs", "15", "--precursor-epochs", "10",
        "--data-limit", "1000", "--quiet"]


def run(args, **kw):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kw)


@pytest.fixture(scope="module")
def keras():
    from oipviz.tfenv import import_keras

    return import_keras()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, keras):
    """A small random CNN saved without a card: conv c1 (4 maps), conv c2 (8 maps)."""
    keras.utils.set_random_seed(3)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(4, 3, activation="relu", name="c1"),
        L.MaxPooling2D(2),
        L.Conv2D(8, 3, activation="relu", name="c2"),
        L.Flatten(),
        L.Dense(10, activation="softmax", name="out"),
    ])
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def mlp_model(tmp_path_factory):
    from oipviz.models.zoo import mlp

    path = tmp_path_factory.mktemp("models") / "mlp.keras"
    mlp().save(path)
    return path


@pytest.fixture(scope="module")
def random_model(tmp_path_factory, keras):
    from oipviz.models.zoo import random_features

    keras.utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("models") / "random_features.keras"
    random_features().save(path)
    return path


@pytest.fixture(scope="module")
def digits():
    from oipviz.data import mnist_digits

    return mnist_digits(1000, seed=0, split="all")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v:
                self.refs.append(v)


def local_refs(page: Path) -> list[Path]:
    """Every href/src of a page, checked to be relative (no network) and resolved."""
    p = Links()
    p.feed(page.read_text(encoding="utf-8"))
    out = []
    for ref in p.refs:
        u = urlparse(ref)
        assert not u.scheme and not u.netloc and not ref.startswith("/"), f"{page.name}: {ref}"
        if u.path:
            out.append((page.parent / unquote(u.path)).resolve())
    return out


def assert_site_links(root: Path) -> int:
    pages = [root / "index.html"] + sorted(root.glob("*/map_*.html")) + sorted(root.glob("compare/*.html"))
    for page in pages:
        for target in local_refs(page):
            assert target.exists(), f"{page.relative_to(root)} links to missing {target}"
    return len(pages)


def direct_means(keras, model_path, layer, x01):
    """Spatial means of ``layer`` computed straight from the Keras model (no oipviz)."""
    m = keras.models.load_model(model_path, compile=False)
    feat = keras.Model(m.inputs, m.get_layer(layer).output)
    return np.asarray(feat.predict(x01, verbose=0, batch_size=256)).mean(axis=(1, 2))


# ----------------------------------------------------------------------------- layer gallery

@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory, tiny_model):
    out = tmp_path_factory.mktemp("g") / "site"
    r = run(["gallery", "--model", str(tiny_model), "--out", str(out)] + TINY)
    assert r.exit_code == 0, r.output + r.stderr
    return out


def test_every_map_has_a_page_and_links_resolve(tiny_site):
    man = json.loads((tiny_site / "manifest.json").read_text())
    assert man["kind"] == "gallery" and man["complete"] is True
    assert not (tiny_site / ".incomplete").exists()
    maps = man["layers"]["c2"]["maps"]
    assert sorted(int(k) for k in maps) == list(range(8))
    index = (tiny_site / "index.html").read_text()
    for m in range(8):
        e = maps[str(m)]
        assert e["done"] and e["status"] in ("live", "rescued", "dead")
        assert f'href="c2/map_{m:03d}.html"' in index
        page = tiny_site / "c2" / f"map_{m:03d}.html"
        assert f"c2 map {m}" in page.read_text()
        for f in e["files"]:
            assert (tiny_site / f).stat().st_size > 0
        # pictures are real: OIPs differ between inits, the stats figure is not blank
        a = np.asarray(Image.open(tiny_site / f"c2/map_{m:03d}/oip_init0.png"))
        b = np.asarray(Image.open(tiny_site / f"c2/map_{m:03d}/oip_init1.png"))
        assert a.shape == (112, 112, 3) and not np.array_equal(a, b)
        st = np.asarray(Image.open(tiny_site / f"c2/map_{m:03d}/stats.png").convert("L"))
        assert st.std() > 10
    # status in the manifest agrees with the OIP values it records
    for e in maps.values():
        if e["status"] == "live":
            assert max(e["oip"]["final"]) > 0
        else:
            assert max(e["oip"]["final"]) <= 1e-6 and e["precursor"] is not None
            assert (e["status"] == "rescued") == (e["precursor"]["value"] > 1e-6)
    assert assert_site_links(tiny_site) == 1 + 8
    assert man["parameters"]["precursor"]["screen"] == "forward"
    assert man["data"]["digits"] == 1000


def test_examples_are_the_top_activations(tiny_site, tiny_model, keras, digits):
    x01, labels, _ = digits
    acts = direct_means(keras, tiny_model, "c2", x01)
    maps = json.loads((tiny_site / "manifest.json").read_text())["layers"]["c2"]["maps"]
    for m in range(8):
        ex = maps[str(m)]["examples"]
        idx = np.array([e["index"] for e in ex])
        got = np.array([e["activation"] for e in ex])
        assert len(ex) == 9 and len(set(idx)) == 9
        np.testing.assert_allclose(got, acts[idx, m], rtol=1e-4, atol=1e-5)
        assert np.all(np.diff(got) <= 1e-6)                       # ranked
        others = np.delete(acts[:, m], idx)
        assert got.min() >= others.max() - 1e-5                    # nothing else is higher
        assert [e["label"] for e in ex] == labels[idx].tolist()
        # the overlay picture is the 3×3 grid of these digits
        im = Image.open(tiny_site / f"c2/map_{m:03d}/examples.png")
        assert im.width >= 3 * 112 and im.height >= 3 * 112


def test_selectivity_matches_a_direct_computation(tiny_site, tiny_model, keras, digits):
    x01, labels, _ = digits
    acts = direct_means(keras, tiny_model, "c2", x01)
    man = json.loads((tiny_site / "manifest.json").read_text())
    counts = np.array(man["layers"]["c2"]["class_counts"])
    assert counts.tolist() == np.bincount(labels, minlength=10).tolist()
    for m in range(8):
        sel = np.array(man["layers"]["c2"]["maps"][str(m)]["selectivity"])
        want = np.array([acts[labels == c, m].mean() for c in range(10)])
        np.testing.assert_allclose(sel, want, rtol=1e-4, atol=1e-6)
        # the class-weighted sum is the total activation over the data
        np.testing.assert_allclose((sel * counts).sum(), acts[:, m].sum(), rtol=1e-4, atol=1e-4)


def test_interrupt_then_resume_writes_nothing_twice(tmp_path, tiny_model, tiny_site):
    from oipviz.gallery.site import PRECURSOR_DEFAULTS, build_gallery
    from oipviz.loader import load_model

    loaded = load_model(tiny_model)
    out = tmp_path / "site"
    seen = []

    def stop_after_three(layer, m):
        seen.append(m)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_gallery(loaded, ["c2"], out, None, inits=2, epochs=15,
                      precursor=dict(PRECURSOR_DEFAULTS, epochs=10), data_limit=1000,
                      on_map=stop_after_three)
    assert (out / ".incomplete").exists()
    man = json.loads((out / "manifest.json").read_text())
    done = sorted(int(k) for k, e in man["layers"]["c2"]["maps"].items() if e.get("done"))
    assert done == [0, 1, 2] and man["complete"] is False
    index = (out / "index.html").read_text()
    assert "Incomplete: 3 of 8" in index and "--resume" in index
    assert_site_links(out)                            # the partial site is valid
    before = {p: p.stat().st_mtime_ns for p in out.glob("c2/map_00[012]*") if p.is_file()}
    before.update({p: p.stat().st_mtime_ns for p in out.glob("c2/map_00[012]/*")})
    before.update({p: p.stat().st_mtime_ns for p in out.glob("data/*")})
    assert len(before) > 20

    r = run(["gallery", "--model", str(tiny_model), "--out", str(out)] + TINY)
    assert r.exit_code == 2 and "already exists" in r.stderr and "--resume" in r.stderr
    r = run(["gallery", "--model", str(tiny_model), "--out", str(out), "--resume"]
            + [a if a != "15" else "16" for a in TINY])
    assert r.exit_code == 2 and "other settings" in r.stderr and "epochs 15 → 16" in r.stderr

    r = run(["gallery", "--model", str(tiny_model), "--out", str(out), "--resume"] + TINY)
    assert r.exit_code == 0, r.output + r.stderr
    assert "wrote 5 map page(s)" in r.output
    for p, t in before.items():
        assert p.stat().st_mtime_ns == t, f"{p} was rewritten"
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] and not (out / ".incomplete").exists()
    assert [r["pages_written"] for r in man["runs"]] == [3, 5]
    # the same seed gives the same images as the uninterrupted run
    for m in range(8):
        for name in ("oip_init0.png", "oip_init1.png", "examples.png"):
            a = (out / f"c2/map_{m:03d}" / name).read_bytes()
            b = (tiny_site / f"c2/map_{m:03d}" / name).read_bytes()
            assert a == b, f"map {m} {name} differs"
    assert_site_links(out)


def test_all_layers_site(tmp_path, tiny_model):
    out = tmp_path / "all"
    r = run(["gallery", "--model", str(tiny_model), "--all-layers", "--inits", "1", "--epochs", "5",
             "--precursor", "off", "--data-limit", "200", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output + r.stderr
    assert "c1:" in r.output and "c2:" in r.output
    assert len(list(out.glob("c1/map_*.html"))) == 4 and len(list(out.glob("c2/map_*.html"))) == 8
    index = (out / "index.html").read_text()
    assert 'id="c1"' in index and 'id="c2"' in index
    assert_site_links(out)


def test_bundled_conv3_subset_with_precursor_and_compare(tmp_path, random_model):
    out = tmp_path / "g"
    r = run(["gallery", "--layer", "conv3", "--maps", "3,4,14,15", "--inits", "2", "--epochs", "30",
             "--precursor-epochs", "40", "--data-limit", "1000", "--compare", str(random_model),
             "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output + r.stderr
    man = json.loads((out / "manifest.json").read_text())
    maps = man["layers"]["conv3"]["maps"]
    assert sorted(int(k) for k in maps) == [3, 4, 14, 15]
    dead_by_oip = [m for m in (3, 4, 14, 15) if max(maps[str(m)]["oip"]["final"]) <= 1e-6]
    assert dead_by_oip, "conv3 maps 4 and 14 never respond to random inits"
    for m in dead_by_oip:
        e = maps[str(m)]
        assert e["precursor"] is not None and e["status"] in ("rescued", "dead")
        assert (out / f"conv3/map_{m:03d}/precursor_viridis.png").exists()
        assert "Precursor" in (out / f"conv3/map_{m:03d}.html").read_text()
    assert maps["3"]["status"] == "live"
    # trained vs random: the other model's OIPs side by side
    cmp_page = (out / "compare" / "conv3.html").read_text()
    assert "seed_cnn.keras" in cmp_page and "random_features.keras" in cmp_page
    assert len(list((out / "compare" / "conv3").glob("map_*.png"))) == 32
    assert man["compare"]["conv3"]["maps"] == 32
    page3 = (out / "conv3" / "map_003.html").read_text()
    assert "../compare/conv3/map_003.png" in page3
    assert maps["3"]["compare"]["value"] == pytest.approx(man["compare"]["conv3"]["best_activation"][3])
    index = (out / "index.html").read_text()
    assert "held-out accuracy" in index and "99.00%" in index        # the model card
    assert 'href="compare/conv3.html"' in index
    assert assert_site_links(out) == 1 + 4 + 1


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("args,msg", [
    (["--layer", "conv9"], "no layer 'conv9'"),
    (["--layer", "dense1"], "needs a conv layer"),
    (["--layer", "conv3", "--maps", "200"], "out of range"),
])
def test_gallery_bad_layer_is_one_line_and_writes_nothing(tmp_path, args, msg):
    out = tmp_path / "g"
    r = run(["gallery", "--out", str(out)] + args)
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and msg in r.stderr and r.stderr.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_gallery_model_without_conv_layer(tmp_path, mlp_model):
    out = tmp_path / "g"
    env = dict(os.environ, OIPVIZ_OFFLINE="1")
    p = subprocess.run([sys.executable, "-c", "from oipviz.cli import main; main()", "gallery",
                        "--model", str(mlp_model), "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    assert p.stderr.startswith("error: mlp.keras has no conv layer") and p.stderr.count("\n") == 1
    assert "Traceback" not in p.stderr and not out.exists()


def test_gallery_refuses_to_replace_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = run(["gallery", "--layer", "conv3", "--out", str(out), "--force"])
    assert r.exit_code == 2 and "not an oipviz gallery" in r.stderr
    r = run(["gallery", "--layer", "conv3", "--out", str(out), "--resume"])
    assert r.exit_code == 2 and "no gallery manifest.json" in r.stderr
    assert (out / "notes.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1


# ----------------------------------------------------------------------------- activations

def big_photo_of(digit01: np.ndarray) -> Image.Image:
    """A real digit as a 'photo': dark ink on a light, slightly coloured page, 10× larger,
    off-centre in a 400×300 RGB image."""
    ink = Image.fromarray(np.round((1 - digit01) * 255).astype(np.uint8), "L").resize((280, 280), Image.BICUBIC)
    page = Image.new("RGB", (400, 300), (240, 232, 215))
    page.paste(Image.merge("RGB", [ink.point(lambda v: int(v * 0.94 + 5))] * 3), (100, 10))
    return page


def test_mnist_style_recovers_a_digit(digits):
    from oipviz.gallery.activations import mnist_style

    x01, labels, _ = digits
    corr = []
    for i in range(20):
        conv = mnist_style(big_photo_of(x01[i, :, :, 0]))
        assert conv.inverted and conv.x01.shape == (28, 28)
        assert conv.x01.max() == pytest.approx(1.0, abs=0.05) and conv.x01[0].max() < 0.05
        ys, xs = np.nonzero(conv.x01 > 0.1)
        assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 <= 21     # fits 20 px
        yy, xx = np.mgrid[:28, :28]
        com = ((yy * conv.x01).sum() / conv.x01.sum(), (xx * conv.x01).sum() / conv.x01.sum())
        assert np.allclose(com, 14.0, atol=0.5)                           # where MNIST has it
        corr.append(np.corrcoef(conv.x01.ravel(), x01[i, :, :, 0].ravel())[0, 1])
    # close to the original MNIST digit (itself 20 px, centred by mass): a 1-px rounding
    # difference costs some correlation on thin strokes, so judge the median
    assert np.median(corr) > 0.9 and min(corr) > 0.5, corr


def test_activations_of_image_files(tmp_path, digits):
    from oipviz.loader import load_model

    x01, labels, _ = digits
    files = []
    for i in range(3):
        p = tmp_path / f"photo{i}.jpg"
        big_photo_of(x01[i, :, :, 0]).save(p, quality=92)
        files.append(str(p))
    rgba = Image.new("RGBA", (60, 80), (0, 0, 0, 0))
    small = Image.fromarray(np.round(x01[3, :, :, 0] * 255).astype(np.uint8), "L").resize((56, 56))
    rgba.paste(Image.new("RGBA", (56, 56), (20, 20, 20, 255)), (2, 12), small)   # black ink, alpha
    rgba.save(tmp_path / "alpha.png")
    files.append(str(tmp_path / "alpha.png"))
    out = tmp_path / "act"
    r = run(["activations", *files, "--out", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    man = json.loads((out / "manifest.json").read_text())
    model = load_model()
    preds = model.predict(x01[:4]).argmax(1)
    assert [e["prediction"] for e in man["inputs"]] == preds.tolist() == labels[:4].tolist()
    assert man["inputs"][3]["conversion"]["notes"] == ["transparency filled with white"]
    for k in range(4):
        for layer, n in (("conv1", 32), ("conv2", 64), ("conv3", 128)):
            im = Image.open(out / f"input_{k:02d}" / f"{layer}.png")
            assert im.width > 400 and np.asarray(im.convert("L")).std() > 20
        assert f'src="input_{k:02d}/conv3.png"' in (out / "index.html").read_text()
    assert assert_site_links(out) == 1


def test_activations_of_dataset_digits(tmp_path):
    from oipviz.loader import load_model

    out = tmp_path / "act"
    r = run(["activations", "--samples", "3", "--digits", "3,8", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output + r.stderr
    man = json.loads((out / "manifest.json").read_text())
    assert len(man["inputs"]) == 3 and {e["label"] for e in man["inputs"]} <= {3, 8}
    x = np.stack([np.load(out / f"input_{k:02d}" / "input.npy") for k in range(3)])
    probs = load_model().predict(x)
    np.testing.assert_allclose([e["probability"] for e in man["inputs"]], probs.max(1), rtol=1e-4)
    page = (out / "index.html").read_text()
    assert re.search(r"Prediction <b>[38]</b> with probability", page)
    r = run(["activations", "--samples", "2", "--out", str(out)])
    assert r.exit_code == 2 and "already exists" in r.stderr


@pytest.mark.parametrize("name,msg", [("truncated.jpg", "truncated"), ("not_image.png", "not an image"),
                                      ("empty.png", "empty"), ("missing.png", "not found")])
def test_activations_bad_image_is_one_line_and_writes_nothing(tmp_path, name, msg):
    out = tmp_path / "act"
    r = run(["activations", str(DATA / "photo.png"), str(DATA / name), "--out", str(out)])
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert msg in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_activations_blank_image_and_mlp(tmp_path, mlp_model):
    Image.new("RGB", (50, 50), (255, 255, 255)).save(tmp_path / "blank.png")
    r = run(["activations", str(tmp_path / "blank.png"), "--out", str(tmp_path / "a")])
    assert r.exit_code == 2 and "no digit found" in r.stderr
    r = run(["activations", "--model", str(mlp_model), "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and "has no conv layer" in r.stderr
    r = run(["activations", str(DATA / "photo.png"), "--digits", "3", "--out", str(tmp_path / "c")])
    assert r.exit_code == 2 and "cannot be combined" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.png"]
