"""End to end: the generated galleries in a real headless browser (Debian's chromium,
driven by Playwright).  Every image must load and every relative link must resolve;
no request may leave the folder (offline, no network)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import argv
from PIL import Image

from oipviz.cli import main as cli

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium; .ci/run does)"
)


@pytest.fixture(scope="module")
def browser():
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright  # test extra

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A small conv3 gallery (default: valid range, readable; map 4 is rescued by the
    precursor), compared with a random model, and an activation gallery of a CNN and of a
    flat MLP."""
    import keras

    from oipviz.models.zoo import random_features

    root = tmp_path_factory.mktemp("browser")
    keras.utils.set_random_seed(1)
    random_features().save(root / "random.keras")
    mlp = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(24, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    mlp.save(root / "mlp.keras")
    out = root / "gallery_conv3"
    runs = [
        argv(
            "gallery --layer conv3 --maps 3,4 --epochs 20 --precursor-epochs 20 --data-limit 500 "
            "--feature-method pca --feature-samples 200",
            *("--compare", root / "random.keras", "--out", out),
        ),
        ["activations", "--samples", "2", "--out", str(root / "act")],
        [
            "activations",
            "--samples",
            "1",
            "--model",
            str(root / "mlp.keras"),
            "--out",
            str(root / "act_mlp"),
        ],
    ]
    for args in runs:
        r = CliRunner().invoke(cli, args + ["--quiet"], catch_exceptions=False)
        assert r.exit_code == 0, r.output + r.stderr
    return root


def visit(browser, page_path: Path, shot: Path | None = None) -> dict:
    """Open a page; check images and links; optionally take a full-page screenshot."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(page_path.as_uri(), wait_until="load")
    images = page.evaluate("""() => Array.from(document.images).map(
        i => ({src: i.src, ok: i.complete, w: i.naturalWidth, h: i.naturalHeight}))""")
    links = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    scripts = page.evaluate("() => document.scripts.length")
    if shot is not None:
        page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert images, f"{page_path.name} shows no images"
    for img in images:
        assert img["ok"] and img["w"] > 0 and img["h"] > 0, (
            f"{page_path.name}: {img['src']} did not load"
        )
    for href in links:
        u = urlparse(href)
        assert u.scheme == "file", f"{page_path.name} links off-site: {href}"
        assert Path(unquote(u.path)).exists(), f"{page_path.name}: broken link {href}"
    for url in requests:
        assert url.startswith("file://"), f"{page_path.name} requested {url}"
    assert scripts == 0
    return {"images": len(images), "links": len(links), "srcs": [i["src"] for i in images]}


def not_blank(png: Path) -> np.ndarray:
    a = np.asarray(Image.open(png).convert("L"), np.float32)
    assert a.shape[0] > 500 and a.shape[1] >= 1000 and a.std() > 20, png
    return a


def test_every_gallery_page_loads_in_chromium(browser, site, tmp_path):
    out = site / "gallery_conv3"
    shots = Path(os.environ.get("OIPVIZ_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    got = visit(browser, out / "index.html", shots / "gallery_index.png")
    assert got["images"] >= 2 + 1 and got["links"] >= 2  # 2 tiles + confusion matrix
    not_blank(shots / "gallery_index.png")
    # map 4 of conv3 never responds to random inits: its page shows the precursor result
    got = visit(browser, out / "conv3" / "map_004.html", shots / "gallery_map.png")
    assert got["images"] >= 8 + 2 + 3 + 1 + 2 + 2  # inits, best, precursor, compare, figures
    not_blank(shots / "gallery_map.png")
    # map 3 is live: its OIPs (valid range) and the inits' similarity matrix
    got = visit(browser, out / "conv3" / "map_003.html")
    assert any(s.endswith("map_003/similarity.png") for s in got["srcs"])
    assert any(s.endswith("map_003/gradcam.png") for s in got["srcs"])  # Grad-CAM strip
    got = visit(browser, out / "compare" / "conv3.html")
    assert got["images"] == 2 + 2 and got["links"] >= 2
    # the extra pages, linked from the index: feature space (both models), the
    # misclassified digits under every attribution method, the weights
    got = visit(browser, out / "feature_space.html", shots / "gallery_feature_space.png")
    assert got["images"] == 2 + 2  # embeddings, clusters
    not_blank(shots / "gallery_feature_space.png")
    got = visit(browser, out / "misclassified.html")
    assert any(s.endswith("explain/misclassified.png") for s in got["srcs"])
    got = visit(browser, out / "weights.html")
    assert got["images"] == 2


def test_activation_galleries_load_in_chromium(browser, site):
    got = visit(browser, site / "act" / "index.html")
    assert got["images"] == 2 * (1 + 4)  # input + 3 conv layers + dense1, per digit
    got = visit(browser, site / "act_mlp" / "index.html")
    assert got["images"] == 1 + 1  # input + the hidden Dense layer's strip
