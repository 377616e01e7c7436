"""The painter's "Propagate to the next N frames": a job's progress, its drafts, their banner."""

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests import http
from tests.api.test_propagation import box_mask, iou
from tests.browser.test_painter import make_frames, open_painter
from tests.integration.test_propagation_worker import sampled_clip
from tests.labeled import label_frames

SHOTS = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp/shots/propagate"))
SHOTS.mkdir(parents=True, exist_ok=True)


def test_propagate_from_the_painter_and_open_a_draft(page: Page, live_server, tmp_path):
    url = live_server.url
    frames = sampled_clip(live_server, tmp_path)
    label_frames(url, [frames[0]], [box_mask(frames[0]["index"])])
    open_painter(page, frames[0]["id"])
    panel = page.get_by_test_id("propagate-panel")
    page.get_by_test_id("propagate-count").fill("3")
    submit = page.get_by_test_id("propagate-submit")
    expect(submit).to_have_text("Propagate to the next 3 frames")
    submit.click()
    expect(page.get_by_test_id("propagate-status")).to_have_text("3 drafts saved.", timeout=60_000)
    drafts = page.get_by_test_id("propagate-draft")
    expect(drafts).to_have_count(3)
    expect(page.get_by_test_id("propagate-progress")).to_have_attribute("aria-valuenow", "100")
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "propagate_done.png"))
    png = http.get(f"{url}/api/frames/{frames[2]['id']}/mask").content
    assert iou(np.asarray(Image.open(io.BytesIO(png))), box_mask(frames[2]["index"])) > 0.8

    drafts.nth(1).click()
    page.wait_for_url(f"**/frames/{frames[2]['id']}")
    page.evaluate("() => segtunePainter.ready.then(() => true)")
    banner = page.get_by_test_id("draft-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Propagated draft:")
    page.screenshot(path=str(SHOTS / "propagate_draft.png"))

    # Over the limit: refused in the page, nothing queued.
    page.get_by_test_id("propagate-count").fill("51")
    page.get_by_test_id("propagate-submit").click()
    expect(page.locator(".toast.error")).to_contain_text("from 1 to 50")
    kinds = [j["kind"] for j in http.get(f"{url}/api/jobs").json()]
    assert kinds.count("propagate") == 1

    # The grid marks the drafts as propagated.
    page.goto(f"/projects/{frames[0]['project_id']}")
    cards = page.get_by_test_id("frame-card")
    draft_card = cards.filter(has=page.locator(f'a[href="/frames/{frames[1]["id"]}"]'))
    expect(draft_card.get_by_test_id("frame-draft")).to_have_text("propagated draft")
    expect(page.get_by_test_id("count-review-draft")).to_have_attribute("data-count", "3")
    page.screenshot(path=str(SHOTS / "propagate_grid.png"))

    _, images = make_frames(url)
    open_painter(page, images[0]["id"])
    expect(page.get_by_test_id("propagate-unavailable")).to_be_visible()
    expect(page.get_by_test_id("propagate-submit")).to_have_count(0)
