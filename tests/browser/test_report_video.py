"""A fine-tune report runs the base and the fine-tuned model over a project video, side by side."""

import os
from pathlib import Path

import torch
from playwright.sync_api import Page, expect

from backend.db import session_scope
from backend.models import Job, SegModel
from tests import http
from tests.api.test_reports import make_job
from tests.browser.test_model_start import _state
from tests.labeled import random_checkpoint, register_base
from tests.videos import make_video
from worker.ml.checkpoints import ModelMeta, save_checkpoint
from worker.ml.classmap import cityscapes_default_map
from worker.ml.models import build_model
from worker.predict_layout import STRIP
from worker.registration import rgb_color

SHOTS = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp/shots/predict"))
W, H = 96, 64


def _fine_tune(fake, tmp_path: Path, project: dict, base_id: int) -> int:
    """A ready 3-class model row (the fine-tune) whose own row records no class map."""
    classes = [{"index": i, "name": c["name"], "color": c["color"]} for i, c in
               enumerate(project["classes"])]  # fmt: skip
    torch.manual_seed(1)
    rgb = [{**c, "color": rgb_color(c["color"])} for c in classes]
    meta = ModelMeta("deeplabv3plus_mobilenet", 16, rgb)
    path = save_checkpoint(tmp_path / "tune.pth", build_model(meta.architecture, 3, 16), meta)
    key = f"models/test-tune-{project['id']}.pth"
    fake.app.state.storage.put_bytes(key, path.read_bytes())
    with session_scope(fake.app.state.sessions) as session:
        tune = SegModel(project_id=project["id"], name="street fine-tune", kind="finetuned",
                        status="ready", architecture=meta.architecture, output_stride=16,
                        classes=classes, storage_key=key, filename="tune.pth",
                        base_model_id=base_id)  # fmt: skip
        session.add(tune)
        session.flush()
        return tune.id


def test_report_runs_before_and_after_on_a_project_video(page: Page, live_server, tmp_path):
    url = live_server.url
    base = register_base(live_server, random_checkpoint(tmp_path / "base.pth"))
    project = http.post(f"{url}/api/projects", json={"name": "report video"}).json()
    fake = _state(live_server.settings)
    tune_id = _fine_tune(fake, tmp_path, project, base["id"])
    # The map the fine-tune was trained with: not what matching by name gives (truck -> car
    # too), so the test sees that the report's own map is sent.
    table = cityscapes_default_map()
    table[14] = 1
    job = make_job(fake, project)
    with session_scope(fake.app.state.sessions) as session:
        row = session.get(Job, job["id"])
        test = row.result["test"]
        test["before"].update(model_id=base["id"], name=base["name"],
                              mapping={"source": "training", "table": table})  # fmt: skip
        test["after"].update(model_id=tune_id, mapping={"source": "direct", "table": None})
        row.result = {**row.result, "model_id": tune_id, "test": test}
        row.params = {"base_model_id": base["id"], "class_map": table}

    page.goto(f"/jobs/{job['id']}/report")
    expect(page.get_by_test_id("watch-no-videos")).to_contain_text("no video yet", timeout=60_000)

    clip = make_video(tmp_path / "clip.mp4", width=W, height=H, fps=8, seconds=1)
    with open(clip, "rb") as fh:
        res = http.post(f"{url}/api/projects/{project['id']}/videos",
                        files={"file": ("drive.mp4", fh)}, timeout=60)  # fmt: skip
    assert res.status_code == 201, res.text
    page.reload()
    box = page.get_by_test_id("watch-box")
    expect(box.get_by_test_id("watch-video")).to_contain_text("drive.mp4", timeout=60_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    box.screenshot(path=str(SHOTS / "report-watch.png"))
    box.get_by_test_id("watch-submit").click()
    page.wait_for_url("**/jobs/*")
    predict_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    params = http.get(f"{url}/api/jobs/{predict_id}").json()["params"]
    assert params["model_id"] == tune_id and params["compare_model_id"] == base["id"]
    assert params["class_maps"] == {str(base["id"]): table, str(tune_id): None}
    assert live_server.wait_job(predict_id, timeout=180)["status"] == "succeeded"

    player = page.get_by_test_id("predict-player")
    expect(player).to_be_visible(timeout=20_000)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=predict-player]').readyState >= 2",
        timeout=20_000,
    )
    # Before | after: two panels of the clip's width under their names, the legend below.
    size = player.evaluate("v => [v.videoWidth, v.videoHeight]")
    assert size == [2 * W, H + 2 * STRIP], size
    summary = page.get_by_test_id("predict-summary")
    expect(summary).to_contain_text(f"{base['name']} | street fine-tune")
    page.screenshot(path=str(SHOTS / "report-watch-job.png"), full_page=True)
