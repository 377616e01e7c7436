"""Run a model on a real street clip from the project page and watch the overlay on the job page."""

from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests import http
from tests.ml.conftest import require_shared
from worker.predict_layout import STRIP

SHOTS = Path("/tmp/shots/predict")


def _shot(page: Page, name: str, full_page: bool = False) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def _real_model(server) -> dict:
    """The real ESPNetv2 Cityscapes weights, registered through the API and checked by a worker."""
    weights = require_shared("data/weights/espnetv2_cityscapes/espnetv2_s_1.0_city_1024x512.pth")
    with open(weights, "rb") as fh:
        model = http.post(
            f"{server.url}/api/models",
            files={"file": (weights.name, fh)},
            data={"preset": "cityscapes20", "architecture": "espnetv2", "name": "ESPNetv2"},
            timeout=60,
        ).json()
    job = http.get(f"{server.url}/api/jobs").json()[0]
    assert server.wait_job(job["id"], timeout=180)["status"] == "succeeded"
    return model


def test_real_clip_plays_with_its_overlay(page: Page, live_server, tmp_path):
    clip = require_shared("data/videos/urban_dashcam_960x540_30fps.mp4")
    url = live_server.url
    _real_model(live_server)
    project = http.post(f"{url}/api/projects", json={"name": "Street walk"}).json()
    with open(clip, "rb") as fh:
        video = http.post(
            f"{url}/api/projects/{project['id']}/videos",
            files={"file": (clip.name, fh)},
            timeout=60,
        ).json()

    page.goto(f"/projects/{project['id']}")
    expect(page.get_by_test_id("video-predict")).to_be_visible()
    _shot(page, "project-row")
    page.get_by_test_id("video-predict").click()
    dialog = page.get_by_test_id("predict-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("predict-model").locator("option")).to_have_count(1)
    dialog.get_by_test_id("predict-fps").fill("5")
    dialog.get_by_test_id("predict-end").fill("99")
    dialog.get_by_test_id("predict-submit").click()
    expect(dialog.get_by_test_id("predict-error")).to_contain_text("within the video")
    _shot(page, "dialog-error")
    dialog.get_by_test_id("predict-end").fill("2")
    dialog.get_by_test_id("predict-masks").check()
    dialog.get_by_test_id("predict-submit").click()
    page.wait_for_url("**/jobs/*")
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert live_server.wait_job(job_id, timeout=240)["status"] == "succeeded"

    box = page.get_by_test_id("predict-output")
    expect(box).to_be_visible(timeout=20_000)
    expect(box.get_by_test_id("predict-summary")).to_contain_text("10 frames at 5 fps")
    for what in ("video", "timeline_csv", "timeline_png", "masks_zip"):
        expect(box.get_by_test_id(f"predict-download-{what}")).to_be_visible()
    player = box.get_by_test_id("predict-player")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=predict-player]').readyState >= 2",
        timeout=20_000,
    )
    size = player.evaluate("v => [v.videoWidth, v.videoHeight, v.duration]")
    assert size[:2] == [960, 540 + 2 * STRIP] and abs(size[2] - 2.0) < 0.3, size
    player.evaluate("v => v.play()")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=predict-player]').currentTime > 0.5",
        timeout=20_000,
    )
    player.evaluate("v => v.pause()")
    _shot(page, "job-playing", full_page=True)
    player.screenshot(path=str(SHOTS / "player.png"))
    # The player's picture is the clip, not an empty box: its pixels vary.
    pixels = np.asarray(Image.open(SHOTS / "player.png").convert("RGB"))
    h, w = pixels.shape[:2]
    assert pixels[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].std() > 10
    # A real street model finds the cars of a real street: the timeline says how much.
    timeline = http.get(f"{url}/api/jobs/{job_id}/outputs/timeline_csv").text.splitlines()
    cars = [float(line.split(",")[4]) for line in timeline[1:]]
    assert len(cars) == 10 and max(cars) > 0.01, cars
    assert video["rotation"] == 0
