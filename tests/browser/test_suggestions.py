"""Suggestions in the browser: the launch and report pages' buttons, the grid sorted by
suggested, and the painter's "Next suggested"."""

import os
from pathlib import Path

import numpy as np
from playwright.sync_api import Page, expect
from sqlalchemy import update

from backend.db import make_engine, make_sessionmaker, session_scope
from backend.models import Job, SegModel
from tests import http
from tests.api.test_reports import make_job
from tests.browser.test_model_start import _state
from tests.browser.test_painter import open_painter
from tests.integration.test_suggestions_worker import tiny_model
from tests.labeled import label_frames, png

SHOTS = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp/shots/suggest"))
SHOTS.mkdir(parents=True, exist_ok=True)


def _project_with_images(url: str, name: str, n: int, seed: int) -> tuple[dict, list[dict]]:
    """A new project with n unlabeled 80x64 noise images named 30 frames apart, and its frames."""
    project = http.post(f"{url}/api/projects", json={"name": name}).json()
    rng = np.random.default_rng(seed)
    files = [
        ("files", (f"f{30 * i:05d}.png", png(rng.integers(0, 255, (64, 80, 3), np.uint8))))
        for i in range(n)
    ]
    res = http.post(f"{url}/api/projects/{project['id']}/images", files=files)
    res.raise_for_status()
    return project, res.json()


def test_suggest_then_sort_the_grid_and_walk_the_ranking(
    page: Page, live_server, settings, tmp_path
):
    url = live_server.url
    project, frames = _project_with_images(url, "suggest", 6, seed=0)
    pid = project["id"]
    label_frames(url, frames[:1], [np.zeros((64, 80), np.uint8)])

    page.goto(f"/projects/{pid}/train")
    page.get_by_test_id("suggest-start").click()
    expect(page.get_by_test_id("suggest-error")).to_contain_text("no ready fine-tuned model")

    model = tiny_model(live_server, tmp_path, pid)
    engine = make_engine(settings.effective_database_url)
    try:  # as if a fine-tune of this project had made it
        with session_scope(make_sessionmaker(engine)) as session:
            session.execute(
                update(SegModel).where(SegModel.id == model["id"]).values(kind="finetuned")
            )
    finally:
        engine.dispose()
    page.get_by_label("How many frames").fill("3")  # the label names its field
    page.get_by_test_id("suggest-start").click()
    link = page.get_by_test_id("suggest-link")
    expect(link).to_have_text("Open the grid sorted by suggested (3 frames)", timeout=60_000)
    expect(page.get_by_test_id("suggest-error")).to_be_hidden()
    page.get_by_test_id("suggest-card").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "launch_suggest.png"))
    ranked = [
        f["frame_id"] for f in http.get(f"{url}/api/projects/{pid}/suggestions").json()["frames"]
    ]
    assert len(ranked) == 3

    link.click()
    page.wait_for_url(f"**/projects/{pid}?sort=suggested")
    expect(page.get_by_test_id("frame-sort")).to_have_value("suggested")
    cards = page.get_by_test_id("frame-card")
    expect(cards).to_have_count(6)
    expect(cards.first.get_by_test_id("frame-suggested")).to_have_text("suggested #1")
    order = [int(cards.nth(i).get_attribute("data-frame-id")) for i in range(6)]
    assert order[:3] == ranked
    page.screenshot(path=str(SHOTS / "grid_suggested.png"))
    page.get_by_test_id("frame-sort").select_option("")
    expect(cards.first).to_have_attribute("data-frame-id", str(frames[0]["id"]))

    open_painter(page, ranked[0])
    page.screenshot(path=str(SHOTS / "painter.png"))
    page.keyboard.press("m")  # the button's shortcut
    page.wait_for_url(f"**/frames/{ranked[1]}")
    # Labeled since the ranking: skipped.
    label_frames(url, [{"id": ranked[2]}], [np.zeros((64, 80), np.uint8)])
    page.evaluate("() => segtunePainter.ready.then(() => true)")
    page.get_by_test_id("next-suggested").click()
    expect(page.locator(".toast")).to_contain_text("No other suggested frame is left unlabeled")


def test_a_reports_button_ranks_with_the_reports_own_fine_tune(
    page: Page, live_server, settings, tmp_path
):
    url = live_server.url
    project, _ = _project_with_images(url, "report suggest", 4, seed=1)
    pid = project["id"]
    reported = tiny_model(live_server, tmp_path, pid)
    newer = tiny_model(live_server, tmp_path, pid)  # the project's newest: not the report's
    fake = _state(settings)
    job = make_job(fake, project)
    with session_scope(fake.app.state.sessions) as session:
        session.execute(
            update(SegModel)
            .where(SegModel.id.in_([reported["id"], newer["id"]]))
            .values(kind="finetuned")
        )
        row = session.get(Job, job["id"])
        row.result = {**row.result, "model_id": reported["id"]}

    page.goto(f"/jobs/{job['id']}/report")
    card = page.get_by_test_id("suggest-card")
    expect(card).to_be_visible(timeout=30_000)
    card.get_by_label("How many frames").fill("2")
    card.get_by_test_id("suggest-start").click()
    expect(card.get_by_test_id("suggest-link")).to_have_text(
        "Open the grid sorted by suggested (2 frames)", timeout=60_000
    )
    ranking = http.get(f"{url}/api/projects/{pid}/suggestions").json()
    suggest_job = http.get(f"{url}/api/jobs/{ranking['job_id']}").json()
    assert suggest_job["params"]["model_id"] == reported["id"], suggest_job["params"]
    assert len(ranking["frames"]) == 2
