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
from PIL import Image

from oipviz.cli import main as cli

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="no /usr/bin/chromium (apt-get install chromium; .ci/run does)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright   # the test extra installs it

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    out = root / "gallery_conv3"
    r = CliRunner().invoke(cli, ["gallery", "--layer", "conv3", "--maps", "0-11", "--inits", "2",
                                 "--epochs", "20", "--precursor-epochs", "20", "--data-limit", "1000",
                                 "--out", str(out), "--quiet"], catch_exceptions=False)
    assert r.exit_code == 0, r.output + r.stderr
    act = root / "activations"
    r = CliRunner().invoke(cli, ["activations", "--samples", "2", "--out", str(act), "--quiet"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output + r.stderr
    return out, act


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
        assert img["ok"] and img["w"] > 0 and img["h"] > 0, f"{page_path.name}: {img['src']} did not load"
    for href in links:
        u = urlparse(href)
        assert u.scheme == "file", f"{page_path.name} links off-site: {href}"
        assert Path(unquote(u.path)).exists(), f"{page_path.name}: broken link {href}"
    for url in requests:
        assert url.startswith("file://"), f"{page_path.name} requested {url}"
    assert scripts == 0
    return {"images": len(images), "links": len(links)}


def not_blank(png: Path) -> np.ndarray:
    a = np.asarray(Image.open(png).convert("L"), np.float32)
    assert a.shape[0] > 500 and a.shape[1] >= 1000 and a.std() > 20, png
    return a


def test_index_and_map_pages_load_in_chromium(browser, site, tmp_path):
    out, _ = site
    shots = Path(os.environ.get("OIPVIZ_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    got = visit(browser, out / "index.html", shots / "gallery_index.png")
    assert got["images"] >= 12 + 1 and got["links"] >= 12          # 12 tiles + confusion matrix
    not_blank(shots / "gallery_index.png")
    # map 4 of conv3 never responds to random inits: its page has the precursor section
    got = visit(browser, out / "conv3" / "map_004.html", shots / "gallery_map.png")
    assert got["images"] >= 2 + 2 + 3 + 2                          # inits, best, precursor, figures
    not_blank(shots / "gallery_map.png")
    for m in (0, 11):                                               # first and last page
        visit(browser, out / "conv3" / f"map_{m:03d}.html")


def test_activation_gallery_loads_in_chromium(browser, site):
    _, act = site
    got = visit(browser, act / "index.html")
    assert got["images"] == 2 * (1 + 3)                          # input + 3 conv layers, per digit
