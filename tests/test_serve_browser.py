"""The explorer in a real browser (Debian's Chromium driven by Playwright, no download):
draw a 7 with mouse moves, the page says 7; click a conv3 map, its OIP streams in.

``OIPVIZ_SERVE_SCREENSHOT=docs/serve_screenshot.png`` also saves the page as it looks then.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def server():
    from oipviz.serve.server import start

    srv = start()
    assert srv.wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def page(server):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_page(viewport={"width": 1440, "height": 1000})
        pg.problems = []
        pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
        pg.on("console", lambda m: m.type == "error" and pg.problems.append(m.text))
        outside = []
        pg.on("request", lambda r: r.url.startswith(server.url) or r.url.startswith("data:")
              or outside.append(r.url))  # fmt: skip
        pg.outside = outside
        pg.goto(server.url)
        pg.wait_for_selector("body[data-ready='1']")
        yield pg
        browser.close()


def stroke(page, points):
    box = page.locator("#pad").bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=10)
    page.mouse.up()


def top_class(page) -> str:
    return page.locator(".model-card[data-role='main'] .top-class").text_content()


def test_draw_a_seven_and_stream_an_oip(page):
    assert top_class(page) == "–"
    stroke(page, [(70, 60), (210, 60), (125, 235)])  # a 7: the bar, then the diagonal
    page.wait_for_function(
        "document.querySelector(\".model-card[data-role='main'] .top-class\").textContent === '7'",
        timeout=30000,
    )
    notes = page.locator("#input-notes").text_content()
    assert "inverted" in notes and "20×20" in notes
    # every layer's maps were drawn, the most active marked
    assert page.locator(".map-cell[data-layer='conv3']").count() == 128
    assert page.locator(".map-cell.top[data-layer='conv3']").count() == 5
    # click a conv3 map: its OIP streams frame by frame, then finishes
    page.locator(".map-cell[data-layer='conv3']").nth(46).click()
    page.wait_for_selector("#oip-img[data-state='done']", timeout=60000)
    frames = int(page.locator("#oip-img").get_attribute("data-frames"))
    assert frames >= 3  # 300 steps in blocks of 25: the image changed while it climbed
    assert page.locator("#oip-img").evaluate("i => i.naturalWidth") == 28
    assert float(page.locator("#oip-act").text_content()) > 0
    page.wait_for_function("document.querySelectorAll('#top9 img').length === 9", timeout=60000)
    assert page.locator("#selectivity .bar").count() == 10
    shot = os.environ.get("OIPVIZ_SERVE_SCREENSHOT")
    if shot:
        page.wait_for_timeout(500)
        page.screenshot(path=shot)
    assert page.problems == [] and page.outside == []


def test_preprocessing_switch_and_undo(page):
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()
    page.locator("#preprocess").uncheck()
    page.wait_for_function(
        "document.querySelector('#input-notes').textContent.includes('preprocessing off')"
    )
    page.locator("#preprocess").check()
    page.wait_for_function("document.querySelector('#input-notes').textContent.includes('20×20')")
    page.locator("#clear").click()
    page.wait_for_function(
        "document.querySelector('#input-notes').textContent.startsWith('draw with')"
    )
    assert page.problems == []
