"""The first thing a user does: create a project, upload a video, sample it, split the frames."""

import os
from pathlib import Path

import av
import numpy as np
from playwright.sync_api import Page, expect

from tests import http

SCREENSHOT_DIR = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp"))


def make_clip(path: Path, seconds: float = 2.0, fps: int = 30, size=(160, 120)) -> Path:
    """An H.264 MP4 of a white square moving across a dark street-grey background."""
    width, height = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frames = round(seconds * fps)
        for i in range(frames):
            pixels = np.full((height, width, 3), (40, 44, 52), np.uint8)
            x = int(i * (width - 32) / max(frames - 1, 1))
            pixels[height // 2 - 16 : height // 2 + 16, x : x + 32] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def create_project(page: Page, name: str) -> int:
    """Create a project through the form; returns its id (taken from the page it lands on)."""
    page.goto("/")
    page.get_by_test_id("project-name").fill(name)
    page.get_by_test_id("project-create").click()
    page.wait_for_url("**/projects/*")
    expect(page.get_by_test_id("project-title")).to_have_text(name)
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def test_upload_sample_split(page: Page, live_server, tmp_path: Path):
    project_id = create_project(page, "Street clips")
    expect(page.get_by_test_id("class-item")).to_have_count(3)
    expect(page.get_by_test_id("video-empty")).to_be_visible()
    expect(page.get_by_test_id("frame-empty")).to_be_visible()

    # Upload through the file picker: the progress bar reaches 100% and the row shows the facts.
    clip = make_clip(tmp_path / "street.mp4")
    page.get_by_test_id("upload-input").set_input_files(str(clip))
    item = page.get_by_test_id("upload-item").first
    expect(item.get_by_test_id("upload-progress")).to_have_attribute("aria-valuenow", "100")
    expect(item).to_have_attribute("data-state", "done")
    rows = page.get_by_test_id("video-row")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row.get_by_test_id("video-name")).to_have_text("street.mp4")
    expect(row.get_by_test_id("video-fps")).to_have_text("30")
    expect(row.get_by_test_id("video-duration")).to_have_text("0:02.0")
    expect(row.get_by_test_id("video-resolution")).to_have_text("160×120")

    # Sample at 2 fps through the dialog and watch the job finish inline.
    row.get_by_test_id("video-sample").click()
    dialog = page.get_by_test_id("sample-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("sample-mode-fps").check()
    page.get_by_test_id("sample-start").fill("1.5")
    page.get_by_test_id("sample-end").fill("1")
    page.get_by_test_id("sample-submit").click()
    expect(page.get_by_test_id("sample-error")).to_have_text("End must be after start.")
    page.get_by_test_id("sample-start").fill("")
    page.get_by_test_id("sample-end").fill("")
    page.get_by_test_id("sample-fps").fill("2")
    expect(page.get_by_test_id("sample-estimate")).to_contain_text("About 4 frames")
    page.get_by_test_id("sample-submit").click()
    expect(dialog).to_be_hidden()
    job = page.get_by_test_id("job-card").first
    expect(job).to_be_visible()
    expect(job.get_by_test_id("job-status")).to_have_text("succeeded", timeout=60_000)
    expect(job.get_by_test_id("job-progress")).to_have_attribute("aria-valuenow", "100")

    cards = page.get_by_test_id("frame-card")
    expect(cards).to_have_count(4)
    api_frames = http.get(f"{live_server.url}/api/projects/{project_id}/frames").json()
    assert len(api_frames) == 4
    assert sorted(int(c) for c in cards.evaluate_all("cs => cs.map(c => c.dataset.frameId)")) == (
        sorted(f["id"] for f in api_frames)
    )
    times = [f["timestamp_s"] for f in api_frames]
    assert all(abs(b - a - 0.5) < 0.05 for a, b in zip(times, times[1:], strict=False)), times
    first = cards.first
    expect(first.locator("a")).to_have_attribute("href", f"/frames/{api_frames[0]['id']}")
    expect(first.get_by_test_id("frame-split")).to_have_text("none")
    expect(first.get_by_test_id("frame-label")).to_have_text("unlabeled")
    expect(first.get_by_test_id("frame-time")).to_have_text(f"0:{times[0]:05.2f}")
    expect(page.get_by_test_id("count-split-none")).to_have_attribute("data-count", "4")
    expect(page.get_by_test_id("count-label-unlabeled")).to_have_attribute("data-count", "4")
    expect(row.get_by_test_id("video-sampled")).to_have_text("4")
    # Thumbnails really load (lazy images near the top are fetched at once).
    page.wait_for_function(
        # (a card's mask thumbnail stays hidden, with no source, until the frame has a mask)
        "() => [...document.querySelectorAll('[data-testid=frame-card] img:not([hidden])')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    page.screenshot(path=str(SCREENSHOT_DIR / "segtune-project.png"), full_page=True)

    # A corrupt file: a clear message, and no new video row.
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes())
    page.get_by_test_id("upload-input").set_input_files(str(bad))
    failed = page.get_by_test_id("upload-item").first
    expect(failed).to_have_attribute("data-state", "error")
    error = failed.get_by_test_id("upload-error")
    expect(error).to_be_visible()
    expect(failed.locator(".upload-name")).to_have_text("bad.mp4")
    expect(error).to_contain_text("not a readable video")
    expect(error).not_to_contain_text("bad.mp4")  # the row's head names the file, once
    expect(rows).to_have_count(1)
    assert len(http.get(f"{live_server.url}/api/projects/{project_id}/videos").json()) == 1

    # A random split: the counts shown add up and match the API.
    page.get_by_test_id("split-strategy").select_option("random")
    page.get_by_test_id("split-seed").fill("7")
    page.get_by_test_id("split-submit").click()
    expect(page.get_by_test_id("split-result")).to_be_visible()
    expect(page.get_by_test_id("count-split-none")).to_have_attribute("data-count", "0")
    api_frames = http.get(f"{live_server.url}/api/projects/{project_id}/frames").json()
    for split in ("train", "val", "test"):
        expected = str(sum(f["split"] == split for f in api_frames))
        for testid in (f"split-result-{split}", f"count-split-{split}"):
            expect(page.get_by_test_id(testid)).to_have_attribute("data-count", expected)
    assert sum(f["split"] is not None for f in api_frames) == 4
    # Labeling progress per split: marking one train frame done shows up without a reload.
    first_train = next(f for f in api_frames if f["split"] == "train")
    http.patch(f"{live_server.url}/api/frames/{first_train['id']}", json={"label_status": "done"})
    page.get_by_test_id("split-submit").click()
    expect(page.get_by_test_id("count-split-train-done")).to_have_text("1 done")
    expect(page.get_by_test_id("count-split-test-done")).to_have_text("0 done")

    # Filter by split and override one frame's split by hand.
    page.get_by_test_id("filter-split").select_option("train")
    train = sum(f["split"] == "train" for f in api_frames)
    expect(cards).to_have_count(train)
    page.get_by_test_id("filter-split").select_option("")
    expect(cards).to_have_count(4)
    target = cards.first
    frame_id = int(target.get_attribute("data-frame-id"))
    target.get_by_test_id("frame-split-select").select_option("val")
    expect(target.get_by_test_id("frame-split")).to_have_text("val · manual")
    frame = http.get(f"{live_server.url}/api/frames/{frame_id}").json()
    assert frame["split"] == "val" and frame["split_locked"] is True

    # The job page shows the finished job with its result.
    job_id = job.get_attribute("data-job-id")
    page.goto(f"/jobs/{job_id}")
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded")
    expect(page.get_by_test_id("job-progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_test_id("job-result")).to_contain_text('"frames_added": 4')
    expect(page.get_by_test_id("job-retry")).to_be_hidden()
    expect(page.get_by_test_id("job-cancel")).to_be_hidden()
    page.goto("/jobs")
    expect(page.get_by_test_id("job-row")).to_have_count(1)


def test_project_name_is_rendered_as_text(page: Page, live_server):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    name = "<script>alert(1)</script>"
    create_project(page, name)
    expect(page.get_by_test_id("project-title")).to_have_text(name)
    page.goto("/")
    expect(page.get_by_test_id("project-item-name")).to_have_text(name)
    page.goto("/jobs")
    expect(page.get_by_test_id("jobs-project-filter").locator("option")).to_have_count(2)
    assert page.locator("script:not([src])").count() == 0
    assert dialogs == []


DROP_TWO_PNGS = """async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 64;
  canvas.height = 48;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#c33";
  ctx.fillRect(0, 0, 64, 48);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const data = new DataTransfer();
  for (const name of ["a.png", "b.png"]) {
    data.items.add(new File([blob], name, { type: "image/png" }));
  }
  const zone = document.querySelector('[data-testid="upload-zone"]');
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { bubbles: true, cancelable: true, dataTransfer: data };
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""


def test_drop_images_on_the_upload_zone(page: Page, live_server):
    project_id = create_project(page, "Stills")
    page.evaluate(DROP_TWO_PNGS)
    item = page.get_by_test_id("upload-item").first
    expect(item).to_have_attribute("data-state", "done")
    expect(item.get_by_test_id("upload-status")).to_have_text("Added 2 frames")
    cards = page.get_by_test_id("frame-card")
    expect(cards).to_have_count(2)
    expect(cards.first.get_by_test_id("frame-time")).to_have_text("image")
    expect(page.get_by_test_id("count-split-none")).to_have_attribute("data-count", "2")
    frames = http.get(f"{live_server.url}/api/projects/{project_id}/frames").json()
    assert sorted(f["source_name"] for f in frames) == ["a.png", "b.png"]
    expect(page.get_by_test_id("video-row")).to_have_count(0)
