"""The painter's superpixel tool and edge snapping, read back from the saved mask.

Expected maps come from the superpixels the API serves:
- superpixel tool: every superpixel under a pixel of the stroke (the Bresenham line between
  successive pointer positions) is filled whole, where the paint-over guard allows;
- snapping: each brush stamp (as in test_painter.py) is limited to the superpixel under its centre.
"""

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests import http
from tests.browser.test_painter import (
    UNLABELED,
    H,
    W,
    api_mask,
    assert_same,
    at,
    bresenham,
    drag,
    make_frames,
    open_painter,
    page_map,
    save_now,
    set_view,
)

SHOTS = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp/shots/superpixels"))


def _labels(url: str, frame_id: int, granularity: str) -> np.ndarray:
    res = http.get(f"{url}/api/frames/{frame_id}/superpixels", params={"granularity": granularity})
    assert res.status_code == 200, res.text
    return np.asarray(Image.open(io.BytesIO(res.content))).astype(np.int64)


def _ready(page: Page, granularity: str) -> None:
    status = page.get_by_test_id("superpixel-status")
    expect(status).to_have_attribute("data-state", "ready", timeout=60_000)
    expect(status).to_contain_text(f"{granularity} superpixels")


def _snapped(lm, labels, points, size, value) -> None:
    """The reference snapped stroke: every stamp limited to its centre's superpixel."""
    reach = size // 2
    yy, xx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    disc = 4 * (xx * xx + yy * yy) <= size * size
    centres = [points[0]]
    for a, b in zip(points, points[1:], strict=False):
        centres += bresenham(*a, *b)
    for x, y in centres:
        for dy, dx in zip(yy[disc], xx[disc], strict=True):
            px, py = x + dx, y + dy
            if 0 <= px < W and 0 <= py < H and labels[py, px] == labels[y, x]:
                lm[py, px] = value


def test_superpixel_tool_and_snapping(page: Page, live_server):
    url = live_server.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    _, frames = make_frames(url)
    fid = frames[0]["id"]
    open_painter(page, fid)
    expect(page.get_by_test_id("superpixel-edges")).to_be_hidden()
    page.keyboard.press("s")  # the superpixel tool: its first use computes them in a job
    expect(page.get_by_test_id("tool-superpixel")).to_have_attribute("aria-pressed", "true")
    _ready(page, "fine")
    expect(page.get_by_test_id("superpixel-edges")).to_be_visible()
    labels = _labels(url, fid, "fine")
    view = set_view(page, 3, 0, 0)
    expected = np.full((H, W), UNLABELED, np.uint8)

    # One click fills exactly the clicked superpixel.
    page.keyboard.press("2")  # car
    page.mouse.click(*at(view, 45, 100))
    expected[labels == labels[100, 45]] = 1
    assert_same(page_map(page), expected, "superpixel click")
    page.screenshot(path=str(SHOTS / "superpixel-click.png"))
    save_now(page)
    assert_same(api_mask(url, fid)[0], expected, "saved superpixel click")

    # A stroke fills every superpixel it crosses; undo takes it back as one step.
    page.keyboard.press("3")  # traffic sign
    line = [(5, 20), (60, 45)]
    drag(page, view, line)
    before_stroke = expected.copy()
    for x, y in bresenham(*line[0], *line[1]):
        expected[labels == labels[y, x]] = 2
    assert_same(page_map(page), expected, "superpixel stroke")
    page.keyboard.press("Control+z")
    assert_same(page_map(page), before_stroke, "undone stroke")
    page.keyboard.press("Control+y")
    assert_same(page_map(page), expected, "redone stroke")

    # Protect classes: "unlabeled pixels only" leaves the car superpixel as it is.
    page.get_by_test_id("paint-over").select_option("255")
    page.mouse.click(*at(view, 45, 100))
    assert_same(page_map(page), expected, "protected car")
    page.get_by_test_id("paint-over").select_option("any")

    # Snapping: the brush stays inside the superpixel under its centre.
    page.get_by_test_id("superpixel-snap").check()
    page.keyboard.press("b")
    page.evaluate("() => segtunePainter.painter.setBrushSize(15)")
    page.keyboard.press("1")  # background
    snapped = [(120, 70), (140, 90), (175, 92)]
    drag(page, view, snapped)
    _snapped(expected, labels, snapped, 15, 0)
    assert_same(page_map(page), expected, "snapped stroke")
    painted = page_map(page) == 0
    assert painted.any() and not painted.all()
    save_now(page)
    assert_same(api_mask(url, fid)[0], expected, "saved snapped stroke")
    page.screenshot(path=str(SHOTS / "superpixel-snap.png"))

    # Switching to coarse computes those (another job) and the tool uses them.
    page.get_by_test_id("superpixel-granularity").select_option("coarse")
    _ready(page, "coarse")
    coarse = _labels(url, fid, "coarse")
    assert coarse.max() < labels.max()
    page.keyboard.press("s")
    page.keyboard.press("2")
    page.mouse.click(*at(view, 20, 10))
    expected[coarse == coarse[10, 20]] = 1
    assert_same(page_map(page), expected, "coarse click")
    save_now(page)
    assert_same(api_mask(url, fid)[0], expected, "saved coarse click")
    page.screenshot(path=str(SHOTS / "superpixel-coarse.png"))
    page.get_by_test_id("zoom-fit").click()
    page.screenshot(path=str(SHOTS / "superpixel-panel.png"))
