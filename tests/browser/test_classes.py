"""The classes editor in Chromium: rename, recolour and add at once; merge with a confirmation
of what it remaps, then the remap job's progress, and masks in the new ids."""

import io
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests import http
from tests.labeled import label_frames, png

SHOTS = Path("/tmp/shots/classes")


def _project(url: str) -> tuple[int, int]:
    pid = http.post(f"{url}/api/projects", json={"name": "Ring road"}).json()["id"]
    files = [("files", ("f.png", png(np.full((30, 40, 3), 90, np.uint8))))]
    (frame,) = http.post(f"{url}/api/projects/{pid}/images", files=files).json()
    # Bands of background, car and traffic sign, 10 columns each, then unlabeled.
    label_frames(
        url, [frame], [np.repeat(np.array([0, 1, 2, 255], np.uint8), 10)[None].repeat(30, 0)]
    )
    return pid, frame["id"]


def test_edit_classes_then_merge_with_a_remap_job(page: Page, live_server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    pid, frame_id = _project(live_server.url)
    page.goto(f"/projects/{pid}")
    page.get_by_test_id("classes-edit").click()
    dialog = page.get_by_test_id("classes-dialog")
    expect(dialog).to_be_visible()
    rows = dialog.get_by_test_id("class-row")
    expect(rows).to_have_count(3)
    # Someone else edits the classes meanwhile: this edit is refused, not saved over theirs.
    other = http.get(f"{live_server.url}/api/projects/{pid}").json()
    res = http.put(
        f"{live_server.url}/api/projects/{pid}/classes",
        json={"version": other["classes_version"], "classes": other["classes"]},
    )
    assert res.status_code == 200, res.text
    rows.nth(0).get_by_test_id("class-name").fill("ground")
    dialog.get_by_test_id("classes-save").click()
    expect(dialog.get_by_test_id("classes-error")).to_contain_text("changed since you loaded them")
    page.screenshot(path=str(SHOTS / "stale.png"))
    dialog.get_by_test_id("classes-close").click()
    page.get_by_test_id("classes-edit").click()
    expect(rows.nth(0).get_by_test_id("class-name")).to_have_value("background")
    rows.nth(1).get_by_test_id("class-name").fill("vehicle")
    rows.nth(1).get_by_test_id("class-color").fill("#ff0000")
    dialog.get_by_test_id("classes-add").click()
    rows.nth(3).get_by_test_id("class-name").fill("person")
    page.screenshot(path=str(SHOTS / "editor.png"))
    dialog.get_by_test_id("classes-save").click()
    expect(dialog).to_be_hidden()
    chips = page.get_by_test_id("class-item").locator(".class-name")
    expect(chips).to_have_text(["background", "vehicle", "traffic sign", "person"])
    classes = http.get(f"{live_server.url}/api/projects/{pid}").json()["classes"]
    assert classes[1] == {"index": 1, "name": "vehicle", "color": "#ff0000"}

    # Merge vehicle into traffic sign, and move traffic sign first.
    page.get_by_test_id("classes-edit").click()
    rows.nth(1).get_by_test_id("class-remove").click()
    rows.nth(1).get_by_test_id("class-into").select_option(label="traffic sign")
    rows.nth(2).get_by_test_id("class-up").click()
    rows.nth(1).get_by_test_id("class-up").click()
    for i, name in enumerate(["traffic sign", "background", "vehicle", "person"]):
        expect(rows.nth(i).get_by_test_id("class-name")).to_have_value(name)
    expect(rows.nth(2).get_by_test_id("class-name")).to_be_disabled()
    dialog.get_by_test_id("classes-save").click()
    confirm = dialog.get_by_test_id("classes-confirm")
    expect(confirm).to_contain_text("This rewrites 1 mask (900 pixels change id).")
    expect(confirm).to_contain_text("vehicle: 300 pixels in 1 mask become traffic sign.")
    page.screenshot(path=str(SHOTS / "confirm.png"))
    dialog.get_by_test_id("classes-save").click()
    card = dialog.get_by_test_id("job-card")
    expect(card).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(card.get_by_test_id("job-progress")).to_have_attribute("aria-valuenow", "100")
    expect(dialog.get_by_test_id("classes-save")).to_have_text("Save")
    page.screenshot(path=str(SHOTS / "job.png"))
    expect(chips).to_have_text(["traffic sign", "background", "person"])
    ids = page.get_by_test_id("class-item").locator(".class-index")
    expect(ids).to_have_text(["0", "1", "2"])
    mask = http.get(f"{live_server.url}/api/frames/{frame_id}/mask")
    labels = np.asarray(Image.open(io.BytesIO(mask.content)))
    assert labels[0, ::10].tolist() == [1, 0, 0, 255]
    page.get_by_test_id("classes-close").click()
    page.screenshot(path=str(SHOTS / "project.png"))
