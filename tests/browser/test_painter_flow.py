"""The painter's history panel, "Done & next" and navigation keys, brush sizing, protect classes."""

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from backend.db import make_engine, make_sessionmaker, session_scope
from backend.services.masks import save_mask
from backend.storage import make_storage
from tests import http
from tests.browser.test_painter import (
    UNLABELED,
    H,
    W,
    api_mask,
    assert_same,
    drag,
    make_frames,
    open_painter,
    page_map,
    put_mask,
    save_now,
    set_view,
    stroke,
)

SHOTS = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp/shots/history"))
SHOTS.mkdir(parents=True, exist_ok=True)


def add_draft(settings, frame_id: int, labels: np.ndarray, version: int) -> None:
    """A model draft, stored as the pre-label job stores it."""
    buf = io.BytesIO()
    Image.fromarray(labels, mode="L").save(buf, format="PNG")
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            save_mask(
                session, make_storage(settings), frame_id, buf.getvalue(), version, "prelabel"
            )
    finally:
        engine.dispose()


def arrive(page: Page, frame_id: int) -> None:
    page.wait_for_url(f"**/frames/{frame_id}")
    page.wait_for_function("() => window.segtunePainter !== undefined")
    page.evaluate("() => segtunePainter.ready.then(() => true)")


def status(url: str, frame_id: int) -> str:
    return http.get(f"{url}/api/frames/{frame_id}").json()["label_status"]


def test_history_lists_previews_and_restores(page: Page, live_server, settings):
    url = live_server.url
    _, (frame,) = make_frames(url)
    fid = frame["id"]
    first = np.full((H, W), UNLABELED, np.uint8)
    first[:, :80] = 1
    put_mask(url, fid, first, "0")
    draft = np.full((H, W), 2, np.uint8)
    add_draft(settings, fid, draft, 1)

    open_painter(page, fid)
    view = set_view(page, 3, 20, 20)
    page.keyboard.press("2")
    drag(page, view, [(120, 40), (160, 60)])
    painted = draft.copy()
    stroke(painted, [(120, 40), (160, 60)], 9, 1)
    save_now(page)

    page.get_by_test_id("versions-panel").locator("summary").click()
    items = page.get_by_test_id("version-item")

    def item(version: int):
        return page.locator(f'[data-testid="version-item"][data-version="{version}"]')

    expect(items).to_have_count(3)
    expect(page.get_by_test_id("versions-count")).to_have_text("(3)")
    assert items.evaluate_all("n => n.map(i => i.dataset.version + ':' + i.dataset.source)") == [
        "3:painter",
        "2:prelabel",
        "1:painter",
    ]
    metas = page.get_by_test_id("version-meta")
    expect(metas.nth(0)).to_contain_text(live_server.admin_email)
    expect(metas.nth(0)).to_contain_text("just now")
    expect(metas.nth(1)).to_contain_text("a model")
    expect(items.nth(0)).to_have_attribute("aria-current", "true")
    expect(items.nth(0).get_by_test_id("version-restore")).to_have_count(0)

    # Preview version 1 over the frame: the current map is untouched and cannot be painted.
    item(1).get_by_test_id("version-preview").click()
    expect(page.get_by_test_id("preview-bar")).to_be_visible()
    expect(page.get_by_test_id("preview-text")).to_contain_text("version 1")
    expect(page.get_by_test_id("preview-overlay")).to_be_visible()
    assert page.get_by_test_id("overlay").evaluate("c => c.style.visibility") == "hidden"
    shown = page.get_by_test_id("preview-overlay").evaluate(
        "c => [...c.getContext('2d').getImageData(10, 10, 1, 1).data, "
        "...c.getContext('2d').getImageData(150, 10, 1, 1).data]"
    )
    assert shown[3] == 255 and shown[7] == 0  # class 1 drawn on the left, unlabeled clear
    drag(page, view, [(20, 100), (60, 120)])
    assert_same(page_map(page), painted, "no painting while previewing")
    page.screenshot(path=str(SHOTS / "painter-history-preview.png"))
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("preview-bar")).to_be_hidden()
    assert page.get_by_test_id("overlay").evaluate("c => c.style.visibility") == ""

    # Restore version 1 from the list: a new version 4, the painter shows it, nothing is lost.
    item(1).get_by_test_id("version-preview").click()
    page.get_by_test_id("preview-restore").click()
    expect(items).to_have_count(4)
    expect(items.nth(0)).to_have_attribute("data-source", "restore")
    expect(items.nth(0)).to_have_attribute("aria-current", "true")
    expect(page.get_by_test_id("preview-bar")).to_be_hidden()
    assert page.evaluate("() => segtunePainter.version()") == "4"
    assert_same(page_map(page), first, "the restored map in the painter")
    mask, version = api_mask(url, fid)
    assert version == "4"
    assert_same(mask, first, "the restored map on the server")
    versions = http.get(f"{url}/api/frames/{fid}/masks").json()
    assert (
        versions[0]["source"] == "restore"
        and versions[0]["author_email"] == live_server.admin_email
    )
    page.screenshot(path=str(SHOTS / "painter-history-restored.png"))

    # Unsaved edits are saved as their own version before a restore.
    drag(page, view, [(100, 100), (110, 110)])
    item(3).get_by_test_id("version-restore").click()
    expect(items).to_have_count(6)
    assert [v["source"] for v in http.get(f"{url}/api/frames/{fid}/masks").json()[:2]] == [
        "restore",
        "painter",
    ]
    assert_same(page_map(page), painted, "version 3 restored")


def test_done_and_next_navigation_keys_and_jump(page: Page, live_server, settings):
    url = live_server.url
    _, frames = make_frames(url, count=5)
    ids = [f["id"] for f in frames]
    http.patch(f"{url}/api/frames/{ids[1]}", json={"label_status": "done"})
    add_draft(settings, ids[4], np.zeros((H, W), np.uint8), 0)

    open_painter(page, ids[0])
    expect(page.get_by_test_id("frame-position")).to_have_text("of 5")
    expect(page.get_by_test_id("jump-input")).to_have_value("1")
    page.screenshot(path=str(SHOTS / "painter-header.png"))
    view = set_view(page, 3, 20, 20)
    page.keyboard.press("2")
    drag(page, view, [(10, 10), (50, 50)])
    page.get_by_test_id("done-next").click()  # saves, marks done, skips the done frame 2
    arrive(page, ids[2])
    assert status(url, ids[0]) == "done"
    expected = np.full((H, W), UNLABELED, np.uint8)
    stroke(expected, [(10, 10), (50, 50)], 9, 1)
    assert_same(api_mask(url, ids[0])[0], expected, "saved before done & next")
    expect(page.get_by_test_id("jump-input")).to_have_value("3")

    page.keyboard.press("j")
    expect(page.get_by_test_id("jump-input")).to_be_focused()
    page.keyboard.type("5")
    page.keyboard.press("Enter")
    arrive(page, ids[4])

    page.keyboard.press("n")  # next unlabeled after the last frame: wraps around to frame 3
    arrive(page, ids[2])
    page.keyboard.press("Shift+N")  # next model draft
    arrive(page, ids[4])
    page.keyboard.press("Control+Enter")  # done & next: the first frame not done, wrapping
    arrive(page, ids[2])
    assert status(url, ids[4]) == "done"
    page.keyboard.press("Shift+N")
    expect(page.locator(".toast").last).to_contain_text("No other frame holds a model draft")
    assert page.url.endswith(f"/frames/{ids[2]}")

    page.get_by_test_id("jump-input").fill("9")
    page.get_by_test_id("jump-input").press("Enter")
    expect(page.locator(".toast").last).to_contain_text("from 1 to 5")


def test_ctrl_wheel_brush_size_and_protected_classes(page: Page, live_server):
    url = live_server.url
    _, (frame,) = make_frames(url)
    fid = frame["id"]
    start = np.full((H, W), UNLABELED, np.uint8)
    start[:, :100] = 1
    put_mask(url, fid, start, "0")
    open_painter(page, fid)
    view = set_view(page, 3, 20, 20)
    size = page.get_by_test_id("brush-size-value")

    page.mouse.move(*(view["left"] + 200, view["top"] + 200))
    page.keyboard.down("Control")
    page.mouse.wheel(0, -100)
    expect(size).to_have_text("10")
    page.mouse.wheel(0, 100)
    page.mouse.wheel(0, 100)
    page.keyboard.up("Control")
    expect(size).to_have_text("8")
    assert page.evaluate("() => segtunePainter.view().zoom") == 3  # Ctrl+wheel does not zoom
    page.get_by_test_id("brush-size").fill("1024")
    expect(size).to_have_text("1024")
    for _ in range(3):
        page.keyboard.press("]")
    expect(size).to_have_text("1024")  # the maximum
    page.get_by_test_id("brush-size").fill("15")

    # Only over unlabeled pixels: the class-1 half keeps every pixel.
    page.get_by_test_id("paint-over").select_option("255")
    page.keyboard.press("3")  # keys reach the painter again after the choice
    path = [(60, 30), (140, 60), (60, 100)]
    drag(page, view, path)
    expected = start.copy()
    brushed = start.copy()
    stroke(brushed, path, 15, 2)
    expected[(start == UNLABELED) & (brushed == 2)] = 2
    save_now(page)
    assert_same(api_mask(url, fid)[0], expected, "painted only over unlabeled pixels")

    # The eraser only over class 1: class 2 and unlabeled pixels stay as they are.
    page.get_by_test_id("paint-over").select_option("1")
    page.keyboard.press("e")
    drag(page, view, [(90, 70), (130, 70)])
    erased = expected.copy()
    brushed = expected.copy()
    stroke(brushed, [(90, 70), (130, 70)], 15, UNLABELED)
    erased[(expected == 1) & (brushed == UNLABELED)] = UNLABELED
    save_now(page)
    saved = api_mask(url, fid)[0]
    assert_same(saved, erased, "erased only class 1")
    assert (saved[expected == 2] == 2).all()
    page.screenshot(path=str(SHOTS / "painter-protect.png"))

    page.get_by_test_id("paint-over").select_option("any")
    page.keyboard.press("b")
    drag(page, view, [(90, 20), (130, 20)])
    anything = erased.copy()
    stroke(anything, [(90, 20), (130, 20)], 15, 2)
    save_now(page)
    assert_same(api_mask(url, fid)[0], anything, "everything paintable again")
