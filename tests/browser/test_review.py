"""The review workflow in Chromium: requests for changes reach the annotator, model drafts are
marked and accepted, owners assign frames and annotators filter their own."""

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
from tests.accounts import PASSWORD, add_user
from tests.browser.test_painter import api_mask, make_frames, open_painter, put_mask

SHOTS = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp/shots")) / "review"
ANN = "ann@example.org"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def signed_in_page(browser, live_server, email: str) -> Page:
    """A page of its own signed in as `email` (a user made with tests.accounts.add_user)."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 1000}
    )
    context.set_default_timeout(15_000)
    res = context.request.post("/api/auth/login", data={"email": email, "password": PASSWORD})
    assert res.ok, res.text()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    return page


def add_member(live_server, project_id: int, email: str, role: str) -> int:
    add_user(live_server.settings, email)
    res = http.put(
        f"{live_server.url}/api/projects/{project_id}/members", json={"email": email, "role": role}
    )
    assert res.status_code == 200, res.text
    return res.json()["user_id"]


def test_owner_requests_changes_and_the_annotator_sees_the_comment(
    page: Page, browser, live_server
):
    url = live_server.url
    project, frames = make_frames(url, count=1)
    fid = frames[0]["id"]
    add_member(live_server, project["id"], ANN, "annotator")
    put_mask(url, fid, np.full((150, 200), 1, np.uint8), "0")
    assert http.patch(f"{url}/api/frames/{fid}", json={"label_status": "done"}).status_code == 200

    open_painter(page, fid)
    decide = page.get_by_test_id("review-decide")
    expect(decide).to_be_visible()
    page.get_by_test_id("request-changes").click()  # no comment yet: refused, said why
    expect(page.get_by_test_id("toasts")).to_contain_text("review_comment is required")
    page.get_by_test_id("review-comment-input").fill("The kerb on the left is road, not sidewalk.")
    page.get_by_test_id("request-changes").click()
    expect(page.get_by_test_id("label-status")).to_have_text("changes requested")
    expect(page.get_by_test_id("review-comment")).to_have_text(
        "The kerb on the left is road, not sidewalk."
    )
    shot(page, "owner-requested-changes")

    ann = signed_in_page(browser, live_server, ANN)
    open_painter(ann, fid)
    changes = ann.get_by_test_id("review-changes")
    expect(changes).to_be_visible()
    expect(ann.get_by_test_id("review-changes-title")).to_have_text(
        f"Changes requested by {live_server.admin_email}:"
    )
    expect(ann.get_by_test_id("review-comment")).to_have_text(
        "The kerb on the left is road, not sidewalk."
    )
    expect(ann.get_by_test_id("review-decide")).to_be_hidden()  # annotators do not review
    expect(ann.get_by_test_id("draft-banner")).to_be_hidden()
    shot(ann, "annotator-sees-comment")
    ann.get_by_test_id("mark-done").click()
    expect(ann.get_by_test_id("label-status")).to_have_text("done")
    expect(changes).to_be_hidden()

    page.reload()
    page.evaluate("() => window.segtunePainter.ready.then(() => true)")
    page.get_by_test_id("mark-reviewed").click()
    expect(page.get_by_test_id("label-status")).to_have_text("reviewed")
    assert http.get(f"{url}/api/frames/{fid}").json()["label_status"] == "reviewed"
    # The annotator may not reopen a reviewed frame: the page says so.
    ann.reload()
    ann.evaluate("() => window.segtunePainter.ready.then(() => true)")
    ann.get_by_test_id("mark-done").click()
    expect(ann.get_by_test_id("toasts")).to_contain_text("only a reviewer or owner can reopen it")
    assert not ann.errors, ann.errors
    ann.context.close()


def make_draft(live_server, frame_id: int) -> None:
    """A model's pre-label, stored as the worker's pre-label job stores it."""
    settings = live_server.settings
    engine = make_engine(settings.effective_database_url)
    mask = np.full((150, 200), 2, np.uint8)
    mask[:60] = 0
    buf = io.BytesIO()
    Image.fromarray(mask, mode="L").save(buf, format="PNG")
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            save_mask(session, make_storage(settings), frame_id, buf.getvalue(), 0, "prelabel")
    finally:
        engine.dispose()


def test_drafts_are_marked_and_accepted_and_assigned_frames_filtered(
    page: Page, browser, live_server
):
    url = live_server.url
    project, frames = make_frames(url, count=4)
    ids = [f["id"] for f in frames]
    make_draft(live_server, ids[0])
    add_member(live_server, project["id"], ANN, "annotator")

    page.goto(f"/projects/{project['id']}")
    cards = page.get_by_test_id("frame-card")
    expect(cards).to_have_count(4)
    draft_card = cards.filter(has=page.locator(f'a[href="/frames/{ids[0]}"]'))
    expect(draft_card.get_by_test_id("frame-draft")).to_be_visible()
    expect(cards.nth(1).get_by_test_id("frame-draft")).to_be_hidden()
    expect(page.get_by_test_id("count-review-draft")).to_have_attribute("data-count", "1")

    # Owners tick frames and assign them to the annotator.
    expect(page.get_by_test_id("assign-bar")).to_be_hidden()
    for n in (0, 2):
        cards.nth(n).get_by_test_id("frame-pick").check()
    expect(page.get_by_test_id("assign-count")).to_have_text("2 frames selected")
    page.get_by_test_id("assign-member").select_option(label=f"{ANN} (annotator)")
    shot(page, "owner-assigns")
    page.get_by_test_id("assign-submit").click()
    expect(page.get_by_test_id("assign-bar")).to_be_hidden()
    expect(cards.nth(0).get_by_test_id("frame-assignee")).to_have_text("→ ann")
    expect(cards.nth(1).get_by_test_id("frame-assignee")).to_be_hidden()
    shot(page, "grid-draft-and-assignees")

    page.get_by_test_id("count-review-draft").click()
    expect(cards).to_have_count(1)
    page.get_by_test_id("filter-reset").click()
    expect(cards).to_have_count(4)

    ann = signed_in_page(browser, live_server, ANN)
    ann.goto(f"/projects/{project['id']}")
    ann_cards = ann.get_by_test_id("frame-card")
    expect(ann_cards).to_have_count(4)
    expect(ann.get_by_test_id("frame-pick").first).to_be_hidden()  # only owners assign
    ann.get_by_test_id("filter-assignee").select_option("me")
    expect(ann_cards).to_have_count(2)
    shown = [int(c.get_attribute("data-frame-id")) for c in ann_cards.all()]
    assert shown == [ids[0], ids[2]]
    expect(ann.get_by_test_id("frame-total")).to_have_text("2 of 4 frames match")
    shot(ann, "annotator-my-frames")

    # The draft in the painter: a banner, and accepting it keeps the pixels as a person's mask.
    ann_cards.first.locator("a.frame-thumb").click()
    ann.wait_for_function("() => window.segtunePainter !== undefined")
    ann.evaluate("() => window.segtunePainter.ready.then(() => true)")
    banner = ann.get_by_test_id("draft-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Model draft:")
    shot(ann, "painter-draft-banner")
    before, version = api_mask(url, ids[0])
    ann.get_by_test_id("accept-draft").click()
    expect(banner).to_be_hidden()
    expect(ann.get_by_test_id("label-status")).to_have_text("done")
    after, new_version = api_mask(url, ids[0])
    assert (version, new_version) == ("1", "2") and np.array_equal(before, after)
    assert ann.evaluate("() => segtunePainter.version()") == "2"
    sources = [v["source"] for v in http.get(f"{url}/api/frames/{ids[0]}/masks").json()]
    assert sources == ["accepted", "prelabel"]
    ann.goto(f"/projects/{project['id']}")
    expect(ann.get_by_test_id("count-review-draft")).to_have_attribute("data-count", "0")
    assert not ann.errors, ann.errors
    ann.context.close()


def test_a_viewer_sees_the_frame_read_only_without_save_or_done_buttons(browser, live_server):
    url = live_server.url
    project, frames = make_frames(url, count=1)
    put_mask(url, frames[0]["id"], np.full((150, 200), 1, np.uint8), "0")
    add_member(live_server, project["id"], "viewer@example.org", "viewer")
    viewer = signed_in_page(browser, live_server, "viewer@example.org")
    open_painter(viewer, frames[0]["id"])
    expect(viewer.get_by_test_id("read-only")).to_be_visible()
    # The server refuses each of these with 403 for a viewer, so the page does not offer them.
    for testid in ("save-button", "mark-done", "done-next", "preview-restore", "propagate-panel"):
        expect(viewer.get_by_test_id(testid)).to_be_hidden()
    # The projects page shows the viewer's role instead of the owner's Rename / Delete.
    viewer.goto("/")
    card = viewer.get_by_test_id("project-item")
    expect(card.get_by_test_id("project-role")).to_have_text("viewer")
    expect(card.get_by_test_id("project-delete")).to_have_count(0)
    expect(card.get_by_test_id("project-rename")).to_have_count(0)
    assert viewer.errors == []
    viewer.context.close()
