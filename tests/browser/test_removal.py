"""Rename and delete dialogs: projects page, project page (videos, frames), models page.

Each delete dialog shows what goes (from the server's preview); Cancel keeps the thing,
Delete removes it.
"""

import io
import time
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect

from tests import http
from tests.browser.test_upload_and_sample import make_clip

SHOTS = Path("/tmp/shots/delete")


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, format="PNG")
    return buf.getvalue()


def _setup(server, tmp_path: Path) -> dict:
    """A project with a sampled video (3 frames), two images and a failed model registration."""
    url = server.url
    pid = http.post(f"{url}/api/projects", json={"name": "Night streets"}).json()["id"]
    clip = make_clip(tmp_path / "night.mp4", seconds=1.0)
    with open(clip, "rb") as fh:
        video = http.post(
            f"{url}/api/projects/{pid}/videos", files={"file": ("night.mp4", fh)}
        ).json()
    job = http.post(f"{url}/api/videos/{video['id']}/sample", json={"every_n_frames": 10}).json()
    files = [("files", (f"img{i}.png", _png((30 * i, 60, 90)))) for i in range(2)]
    assert http.post(f"{url}/api/projects/{pid}/images", files=files).status_code == 201
    model = http.post(
        f"{url}/api/models",
        files={"file": ("broken.pth", b"not a checkpoint")},
        data={"project_id": str(pid), "name": "fine-tune of job 5"},
    ).json()
    assert server.wait_job(job["id"])["status"] == "succeeded"
    for _ in range(600):
        if http.get(f"{url}/api/models/{model['id']}").json()["status"] != "pending":
            break
        time.sleep(0.1)
    return {"pid": pid, "video": video["id"], "model": model["id"]}


def test_rename_and_delete_with_confirmation(page: Page, live_server, tmp_path: Path):
    ids = _setup(live_server, tmp_path)
    pid, url = ids["pid"], live_server.url

    # Projects page: the card's delete dialog says what goes; Cancel keeps the project.
    page.goto("/")
    card = page.get_by_test_id("project-item").filter(has_text="Night streets")
    card.get_by_test_id("project-delete").click()
    dialog = page.get_by_test_id("delete-dialog")
    expect(dialog.get_by_test_id("delete-line").first).to_be_visible()
    expect(dialog.get_by_test_id("delete-lines")).to_contain_text("5 frames")
    expect(dialog.get_by_test_id("delete-lines")).to_contain_text("1 model")
    _shot(page, "project-delete-dialog")
    dialog.get_by_test_id("delete-cancel").click()
    expect(dialog).to_have_count(0)
    expect(card).to_have_count(1)
    card.get_by_test_id("project-rename").click()
    page.get_by_test_id("rename-input").fill("Night streets, Munich")
    _shot(page, "project-rename-dialog")
    page.get_by_test_id("rename-save").click()
    expect(page.get_by_test_id("project-item-name").first).to_have_text("Night streets, Munich")

    # Project page: rename the video, keep it once, then delete it with its 3 frames.
    page.goto(f"/projects/{pid}")
    frames = page.get_by_test_id("frame-card")
    expect(frames).to_have_count(5)
    row = page.get_by_test_id("video-row")
    row.get_by_test_id("video-rename").click()
    page.get_by_test_id("rename-input").fill("Night drive 1")
    page.get_by_test_id("rename-save").click()
    expect(row.get_by_test_id("video-name")).to_have_text("Night drive 1")
    row.get_by_test_id("video-delete").click()
    lines = page.get_by_test_id("delete-lines")
    expect(lines).to_contain_text("3 frames")
    expect(page.get_by_test_id("delete-title")).to_contain_text("Night drive 1")
    _shot(page, "video-delete-dialog")
    page.get_by_test_id("delete-cancel").click()
    expect(row).to_have_count(1)
    expect(frames).to_have_count(5)
    # Frames sampled while the dialog is open: the DELETE is refused and the dialog shows them.
    row.get_by_test_id("video-delete").click()
    expect(lines).to_contain_text("3 frames")
    more = http.post(f"{url}/api/videos/{ids['video']}/sample", json={"every_n_frames": 5})
    assert live_server.wait_job(more.json()["id"])["status"] == "succeeded"
    page.get_by_test_id("delete-confirm").click()
    expect(page.get_by_test_id("delete-error")).to_contain_text("changed since you looked")
    expect(lines).to_contain_text("6 frames")
    _shot(page, "video-delete-changed")
    page.get_by_test_id("delete-confirm").click()
    expect(page.get_by_test_id("video-row")).to_have_count(0)
    expect(frames).to_have_count(2)
    assert http.get(f"{url}/api/videos/{ids['video']}").status_code == 404

    # A frame: Cancel keeps it, Delete removes it.
    first = frames.first
    frame_id = first.get_attribute("data-frame-id")
    first.get_by_test_id("frame-delete").click()
    expect(page.get_by_test_id("delete-lines")).to_contain_text("1 frame")
    _shot(page, "frame-delete-dialog")
    page.get_by_test_id("delete-cancel").click()
    expect(frames).to_have_count(2)
    first.get_by_test_id("frame-delete").click()
    expect(page.get_by_test_id("delete-confirm")).to_be_enabled()
    page.get_by_test_id("delete-confirm").click()
    expect(frames).to_have_count(1)
    assert http.get(f"{live_server.url}/api/frames/{frame_id}").status_code == 404

    # Models page: the failed registration is renamed, kept once, then deleted.
    page.goto(f"/projects/{pid}/models")
    model_row = page.get_by_test_id("model-row")
    expect(model_row).to_have_attribute("data-status", "failed")
    model_row.get_by_test_id("model-rename").click()
    page.get_by_test_id("rename-input").fill("ESPNetv2, first try")
    page.get_by_test_id("rename-save").click()
    expect(page.get_by_test_id("model-name")).to_have_text("ESPNetv2, first try")
    page.get_by_test_id("model-delete").click()
    expect(page.get_by_test_id("delete-lines")).to_contain_text("1 model file")
    _shot(page, "model-delete-dialog")
    page.get_by_test_id("delete-cancel").click()
    expect(model_row).to_have_count(1)
    page.get_by_test_id("model-delete").click()
    expect(page.get_by_test_id("delete-confirm")).to_be_enabled()
    page.get_by_test_id("delete-confirm").click()
    expect(page.get_by_test_id("model-row")).to_have_count(0)
    expect(page.get_by_test_id("models-empty")).to_be_visible()

    # The project itself, from its card.
    page.goto("/")
    card = page.get_by_test_id("project-item").filter(has_text="Night streets, Munich")
    card.get_by_test_id("project-delete").click()
    expect(page.get_by_test_id("delete-lines")).to_contain_text("1 frame")
    page.get_by_test_id("delete-confirm").click()
    expect(card).to_have_count(0)
    assert http.get(f"{live_server.url}/api/projects/{pid}").status_code == 404
    _shot(page, "projects-after-delete")
