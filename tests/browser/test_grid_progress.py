"""The frame grid's mask thumbnails and the project cards' labeling progress."""

import numpy as np
from playwright.sync_api import Page, expect

from tests import http
from tests.browser.test_painter import UNLABELED, H, W, make_frames, put_mask
from tests.browser.test_painter_flow import SHOTS


def test_mask_thumbnails_and_project_progress(page: Page, live_server):
    url = live_server.url
    project, frames = make_frames(url, count=3)
    labels = np.full((H, W), UNLABELED, np.uint8)
    labels[:, : W // 2] = 1
    put_mask(url, frames[0]["id"], labels, "0")
    http.patch(
        f"{url}/api/frames/{frames[0]['id']}", json={"label_status": "done", "split": "train"}
    )
    http.patch(f"{url}/api/frames/{frames[1]['id']}", json={"split": "val"})

    page.goto(f"/projects/{project['id']}")
    cards = page.get_by_test_id("frame-card")
    expect(cards).to_have_count(3)
    thumb = page.locator(f'[data-frame-id="{frames[0]["id"]}"] [data-testid="frame-mask-thumb"]')
    expect(thumb).to_be_visible()
    expect(thumb).to_have_attribute("src", f"/api/frames/{frames[0]['id']}/mask/thumbnail?v=1")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle()
    )
    # The left half is the class colour, the right half transparent (the frame shows through).
    pixels = thumb.evaluate(
        """img => { const c = document.createElement('canvas'); c.width = img.naturalWidth;
        c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        return [...g.getImageData(10, 10, 1, 1).data, ...g.getImageData(190, 10, 1, 1).data]; }"""
    )
    colour = project["classes"][1]["color"]
    assert pixels[:4] == [int(colour[i : i + 2], 16) for i in (1, 3, 5)] + [255]
    assert pixels[7] == 0
    blank = page.locator(f'[data-frame-id="{frames[1]["id"]}"] [data-testid="frame-mask-thumb"]')
    expect(blank).to_be_hidden()
    page.get_by_test_id("frame-grid").screenshot(path=str(SHOTS / "grid-mask-thumbnails.png"))

    page.goto("/")
    card = page.locator(f'[data-project-id="{project["id"]}"]')
    expect(card.get_by_test_id("progress-summary")).to_have_text("3 frames · 1 labeled · 1 done")
    expect(card.get_by_test_id("progress-train")).to_have_text("train 1/1")
    expect(card.get_by_test_id("progress-val")).to_have_text("val 0/1")
    expect(card.get_by_test_id("progress-none")).to_have_text("none 0/1")
    expect(card.get_by_test_id("progress-test")).to_have_count(0)
    expect(card.get_by_test_id("progress-activity")).to_have_text("active just now")
    page.get_by_test_id("project-list").screenshot(path=str(SHOTS / "project-progress.png"))
