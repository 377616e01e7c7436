"""An identical file uploaded again is reported as a duplicate; the user skips it or keeps it."""

from pathlib import Path

from playwright.sync_api import Page, expect

from tests import http
from tests.api.test_frames import _png
from tests.browser.test_upload_and_sample import create_project, make_clip

SHOTS = Path("/tmp/shots/imex")


def test_duplicate_video_and_images_can_be_skipped_or_kept(page: Page, live_server, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    project_id = create_project(page, "Twice")
    clip = make_clip(tmp_path / "street.mp4", seconds=0.5)
    items = page.get_by_test_id("upload-item")
    page.get_by_test_id("upload-input").set_input_files(str(clip))
    expect(items.first).to_have_attribute("data-state", "done")

    # The same bytes under another name: reported with the video it repeats, then skipped.
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(clip.read_bytes())
    page.get_by_test_id("upload-input").set_input_files(str(copy))
    item = items.first
    expect(item).to_have_attribute("data-state", "duplicate")
    videos = http.get(f"{live_server.url}/api/projects/{project_id}/videos").json()
    notice = item.get_by_test_id("upload-duplicate")
    expect(notice).to_contain_text(f"copy.mp4 is identical to street.mp4 (video {videos[0]['id']})")
    page.locator("aside").screenshot(path=str(SHOTS / "duplicate-video.png"))
    item.get_by_test_id("upload-skip").click()
    expect(item).to_have_attribute("data-state", "skipped")
    expect(item.get_by_test_id("upload-status")).to_have_text("Skipped: already in this project")
    expect(page.get_by_test_id("video-row")).to_have_count(1)

    # Again, and this time uploaded anyway.
    page.get_by_test_id("upload-input").set_input_files(str(copy))
    expect(items.first).to_have_attribute("data-state", "duplicate")
    items.first.get_by_test_id("upload-keep").click()
    expect(items.first).to_have_attribute("data-state", "done")
    expect(page.get_by_test_id("video-row")).to_have_count(2)

    # Images: one already there, one new; skipping the duplicate adds only the new one.
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    red.write_bytes(_png(color=(200, 0, 0)))
    blue.write_bytes(_png(color=(0, 0, 200)))
    page.get_by_test_id("images-input").set_input_files(str(red))
    expect(items.first).to_have_attribute("data-state", "done")
    again = tmp_path / "again"
    again.mkdir()
    (again / "red.png").write_bytes(red.read_bytes())
    page.get_by_test_id("images-input").set_input_files([str(again / "red.png"), str(blue)])
    item = items.first
    expect(item).to_have_attribute("data-state", "duplicate")
    expect(item.get_by_test_id("upload-duplicate")).to_contain_text(
        "red.png is identical to red.png"
    )
    expect(item.get_by_test_id("upload-skip")).to_have_text("Skip duplicates")
    page.locator("aside").screenshot(path=str(SHOTS / "duplicate-images.png"))
    item.get_by_test_id("upload-skip").click()
    expect(item).to_have_attribute("data-state", "done")
    expect(item.get_by_test_id("upload-status")).to_have_text("Added 1 frame, skipped 1 duplicate")
    expect(page.get_by_test_id("frame-card")).to_have_count(2)
    frames = http.get(f"{live_server.url}/api/projects/{project_id}/frames").json()
    assert sorted(f["source_name"] for f in frames) == ["blue.png", "red.png"]
