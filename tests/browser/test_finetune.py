"""Fine-tune in the browser: launch, watch it learn, read the report; and cancel a running job."""

import os
import re
from pathlib import Path

import numpy as np
from playwright.sync_api import Page, expect

from backend.services.reports.stats import fmt
from tests import http
from tests.labeled import labeled_project, png, random_checkpoint

SCREENSHOT_DIR = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp"))
# A 2-core CI machine trains, scores and draws figures slowly: wait generously, never sleep.
JOB_TIMEOUT_MS = 300_000
LOAD_TIMEOUT_MS = 60_000


# Records every value the live job page shows for the iteration and the progress bar.
WATCH_SCRIPT = """() => {
  const live = document.querySelector('[data-testid="train-live"]');
  const bar = document.querySelector('[data-testid="job-progress"]');
  window.__seen = {
    iterations: [live.dataset.iteration || "0"],
    progress: [bar.getAttribute("aria-valuenow")],
  };
  const note = (list, value) => list[list.length - 1] !== value && list.push(value);
  new MutationObserver(() => {
    note(window.__seen.iterations, live.dataset.iteration || "0");
    note(window.__seen.progress, bar.getAttribute("aria-valuenow"));
  }).observe(document.getElementById("main"), {attributes: true, subtree: true});
}"""


def register_base(
    live_server, tmp_path: Path, name: str = "random base", seed: int = 0, project_id=None
) -> dict:
    """A random-weights 19-class DeepLabV3+ (MobileNet) registered with preset cityscapes19."""
    path = random_checkpoint(tmp_path / f"base{seed}.pth", seed)
    fields = {"preset": "cityscapes19", "name": name}
    if project_id is not None:
        fields["project_id"] = str(project_id)
    with open(path, "rb") as fh:
        model = http.post(
            f"{live_server.url}/api/models",
            files={"file": ("base.pth", fh)},
            data=fields,
            timeout=120,
        ).json()
    jobs = http.get(f"{live_server.url}/api/jobs").json()
    job = next(j for j in jobs if j["params"].get("model_id") == model["id"])
    assert live_server.wait_job(job["id"], timeout=180)["status"] == "succeeded"
    model = http.get(f"{live_server.url}/api/models/{model['id']}").json()
    assert model["status"] == "ready", model
    return model


def open_launch_page(page: Page, project_id: int, base_id: int | None) -> None:
    page.goto(f"/projects/{project_id}/train")
    check = page.get_by_test_id("data-check")
    expect(check).to_have_attribute("data-state", "ok", timeout=LOAD_TIMEOUT_MS)
    expect(page.get_by_test_id("check-count-train")).to_have_text("train 4 labeled")
    expect(page.get_by_test_id("check-count-test")).to_have_text("test 2 labeled")
    if base_id is not None:
        page.get_by_test_id("launch-base").select_option(str(base_id))


def launch(page: Page, iterations: int, crop: int) -> int:
    """Quick preset with the given iterations and crop; returns the job id of the job page."""
    page.get_by_test_id("preset-quick").check()
    expect(page.get_by_test_id("launch-batch")).to_have_value("2")
    page.get_by_test_id("launch-iterations").fill(str(iterations))
    page.get_by_test_id("launch-crop").fill(str(crop))
    submit = page.get_by_test_id("launch-submit")
    expect(submit).to_be_enabled()
    submit.click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"), timeout=LOAD_TIMEOUT_MS)
    return int(page.url.rsplit("/", 1)[1])


def test_launch_watch_and_report(page: Page, live_server, tmp_path: Path):
    url = live_server.url
    project_id = labeled_project(url)
    base = register_base(live_server, tmp_path)

    # Launch: the data check is clean, the class map matches names, the quick preset fills fields.
    open_launch_page(page, project_id, base["id"])
    expect(page.get_by_test_id("check-ok")).to_be_visible()
    rows = page.get_by_test_id("classmap-row")
    expect(rows).to_have_count(19)
    car = page.locator('[data-testid="classmap-row"][data-base-class="car"] select')
    expect(car).to_have_value("1")
    light = page.locator('[data-testid="classmap-row"][data-base-class="traffic light"] select')
    expect(light).to_have_value("0")
    light.select_option(label="traffic sign")  # an edit the job must carry
    page.screenshot(path=str(SCREENSHOT_DIR / "segtune_launch.png"), full_page=True)
    job_id = launch(page, iterations=3, crop=48)
    params = http.get(f"{url}/api/jobs/{job_id}").json()["params"]
    assert params["iterations"] == 3 and params["crop_size"] == 48 and params["batch_size"] == 2
    assert params["base_model_id"] == base["id"]
    assert params["class_map"][6] == 2 and params["class_map"][13] == 1

    # Watch: the iteration counter and curves update live (no reload), then the job succeeds.
    live = page.get_by_test_id("train-live")
    page.evaluate(WATCH_SCRIPT)
    expect(page.get_by_test_id("job-status")).to_have_text(
        re.compile("running|succeeded"), timeout=JOB_TIMEOUT_MS
    )
    expect(live).to_have_attribute("data-total", "3", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("train-iteration")).to_have_text("3 / 3")
    expect(page.get_by_test_id("job-progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_test_id("train-eta")).to_have_text("done")
    seen = page.evaluate("window.__seen")  # still there: the page was never reloaded
    iterations = [int(v) for v in seen["iterations"]]
    progress = [int(v) for v in seen["progress"] if v is not None]
    assert iterations == sorted(iterations) and iterations[-1] == 3, seen
    assert progress == sorted(progress) and progress[-1] == 100 and len(set(progress)) > 1, seen
    history = http.get(f"{url}/api/jobs/{job_id}").json()["detail"]["history"]
    n_val = sum(h["val_miou"] is not None for h in history)
    miou_svg = page.get_by_test_id("chart-miou-svg")
    expect(miou_svg).to_have_attribute("data-points", str(len(history)))
    assert miou_svg.locator("circle").count() == n_val
    expect(page.get_by_test_id("chart-loss-svg").locator("path")).to_have_count(2)
    expect(page.get_by_test_id("train-overlay").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOT_DIR / "segtune_job_train.png"), full_page=True)

    # Report: tables and figures agree with the JSON.
    page.get_by_test_id("job-report-link").click()
    page.wait_for_url(f"**/jobs/{job_id}/report")
    report = http.get(f"{url}/api/jobs/{job_id}/report", timeout=120).json()
    body = page.get_by_test_id("report-body")
    expect(body).to_have_attribute("data-ready", "true", timeout=LOAD_TIMEOUT_MS)
    mean_iou = page.locator('[data-testid="table1-row"][data-metric="mean_iou"]')
    after_cell = mean_iou.get_by_test_id("cell-after").locator(".metric-value")
    expect(after_cell).to_have_text(fmt(report["after"]["mean_iou"]))
    for side in ("before", "change"):
        cell = mean_iou.get_by_test_id(f"cell-{side}").locator(".metric-value")
        expect(cell).to_have_text(fmt(report[side]["mean_iou"], signed=side == "change"))
    ci = report["ci"]["after"]["mean_iou"]
    expect(mean_iou.get_by_test_id("cell-after").locator(".ci")).to_have_text(
        f"{fmt(ci[0])} to {fmt(ci[1])}"
    )
    accuracy = page.locator('[data-testid="table1-row"][data-metric="pixel_accuracy"]')
    expect(accuracy.get_by_test_id("cell-after").locator(".metric-value")).to_have_text(
        fmt(report["after"]["pixel_accuracy"])
    )
    class_rows = page.get_by_test_id("table2-row")
    expect(class_rows).to_have_count(len(report["after"]["class_iou"]))
    for name, value in report["after"]["class_iou"].items():
        row = page.locator(f'[data-testid="table2-row"][data-class="{name}"]')
        expect(row.get_by_test_id("cell-after").locator(".metric-value")).to_have_text(fmt(value))
        expect(row.get_by_test_id("cell-frames")).to_have_text(str(report["class_frames"][name]))
        expect(row.get_by_test_id("cell-pixels")).to_have_text(f"{report['class_pixels'][name]:,}")
    expect(page.get_by_test_id("report-sentence")).to_have_count(len(report["sentences"]))
    expect(page.get_by_test_id("report-sentence").first).to_have_text(report["sentences"][0])
    # Two test frames are two blocks, fewer than 5: the page calls nothing clear.
    assert (report["n_blocks"], report["min_blocks"]) == (2, 5)
    expect(page.get_by_test_id("report-facts")).to_contain_text("2 independent blocks of 10 s")
    for cell in page.get_by_test_id("cell-verdict").all():
        expect(cell).to_have_text(re.compile("^(too few blocks|n/a)$"))

    figures = page.get_by_test_id("report-figure-img")
    expect(figures).to_have_count(3)
    frames = page.get_by_test_id("frame-figure-img")
    expect(frames).to_have_count(report["n_test_frames"])
    for img in [*figures.all(), *frames.all()]:
        img.scroll_into_view_if_needed()
        expect(img).to_have_js_property("complete", True, timeout=LOAD_TIMEOUT_MS)
        assert img.evaluate("i => i.naturalWidth") > 0, img.get_attribute("src")

    # The timeline animation steps through the iterations (play, then scrub).
    timeline = page.get_by_test_id("timeline")
    steps = len(report["timeline"])
    assert steps >= 2, report["timeline"]
    expect(timeline).to_have_attribute("data-step", "0")
    expect(page.get_by_test_id("timeline-image").first).to_be_visible()
    page.get_by_test_id("timeline-play").click()
    expect(timeline).to_have_attribute("data-step", "1", timeout=LOAD_TIMEOUT_MS)
    expect(timeline).to_have_attribute("data-step", str(steps - 1), timeout=LOAD_TIMEOUT_MS)
    expect(timeline).to_have_attribute("data-playing", "false", timeout=LOAD_TIMEOUT_MS)
    page.get_by_test_id("timeline-slider").fill("0")
    expect(page.get_by_test_id("timeline-iteration")).to_contain_text(
        f"Iteration {report['timeline'][0]['iteration']}"
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=timeline-image]')]"
        ".every((i) => i.complete && i.naturalWidth > 0)",
        timeout=LOAD_TIMEOUT_MS,
    )

    # Downloads point at the report files and the fine-tuned model.
    downloads = page.get_by_test_id("report-downloads")
    checkpoint = f"/api/models/{report['model_id']}/download"
    expect(downloads.get_by_test_id("download-checkpoint")).to_have_attribute("href", checkpoint)
    for testid in ("download-html", "download-json", "download-csv", "download-gif"):
        href = downloads.get_by_test_id(testid).get_attribute("href")
        assert http.get(url + href, timeout=120).status_code == 200, href
    page.screenshot(path=str(SCREENSHOT_DIR / "segtune_report.png"), full_page=True)
    # "Suggest frames to label next" with the fine-tuned model: every frame is labeled here.
    page.get_by_test_id("suggest-start").click()
    expect(page.get_by_test_id("suggest-error")).to_contain_text("No unlabeled frames")


def test_cancel_running_job(page: Page, live_server, tmp_path: Path):
    url = live_server.url
    project_id = labeled_project(url, name="cancel me")
    open_launch_page(page, project_id, None)  # random initialisation: no base model to register
    expect(page.get_by_test_id("classmap-card")).to_be_hidden()
    job_id = launch(page, iterations=5000, crop=48)

    live = page.get_by_test_id("train-live")
    expect(page.get_by_test_id("job-status")).to_have_text("running", timeout=JOB_TIMEOUT_MS)
    # Wait for a recorded iteration so the job is really training, then cancel from the page.
    expect(live).to_have_attribute(
        "data-iteration", re.compile(r"^[1-9]\d*$"), timeout=JOB_TIMEOUT_MS
    )
    page.get_by_test_id("job-cancel").click()
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("job-cancel")).to_be_hidden()
    expect(page.get_by_test_id("job-retry")).to_be_visible()
    expect(page.get_by_test_id("job-report-link")).to_be_hidden()
    assert http.get(f"{url}/api/jobs/{job_id}").json()["status"] == "cancelled"


def test_models_page_register_prelabel_and_onnx(page: Page, live_server, tmp_path: Path):
    url = live_server.url
    project_id = labeled_project(url, name="reuse")
    extra = [("files", (f"new{i}.png", png(np.full((48, 64, 3), 120, np.uint8)))) for i in range(2)]
    new_frames = http.post(f"{url}/api/projects/{project_id}/images", files=extra).json()
    checkpoint = random_checkpoint(tmp_path / "street_base.pth")

    # Register through the page: the upload shows progress, then the worker's check.
    page.goto(f"/projects/{project_id}/models")
    expect(page.get_by_test_id("models-empty")).to_be_visible()
    page.get_by_test_id("register-file").set_input_files(str(checkpoint))
    page.get_by_test_id("register-name").fill("Street <base>")
    page.get_by_test_id("register-preset").select_option("cityscapes19")
    page.get_by_test_id("register-submit").click()
    item = page.get_by_test_id("upload-item").first
    expect(item).to_have_attribute("data-state", "done", timeout=JOB_TIMEOUT_MS)
    expect(item.get_by_test_id("upload-progress")).to_have_attribute("aria-valuenow", "100")
    row = page.get_by_test_id("model-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("model-name")).to_have_text("Street <base>")  # text, not markup
    expect(row.get_by_test_id("model-status")).to_have_text("ready")
    expect(row.get_by_test_id("model-classes")).to_have_attribute("data-count", "19")
    model_id = int(row.get_attribute("data-model-id"))
    assert http.get(f"{url}/api/models/{model_id}").json()["project_id"] == project_id

    # Pre-label the frames without a mask: drafts, no question asked.
    expect(page.get_by_test_id("prelabel-scope")).to_contain_text("Frames without a mask (2)")
    page.get_by_test_id("prelabel-submit").click()
    summary = page.get_by_test_id("prelabel-summary")
    expect(summary).to_have_text("2 drafts saved.", timeout=JOB_TIMEOUT_MS)
    for frame in new_frames:
        assert http.get(f"{url}/api/frames/{frame['id']}").json()["mask_version"] == 1

    # All frames: the 8 human-edited masks need a confirmation; keeping them changes nothing.
    page.get_by_test_id("prelabel-scope").select_option("all")
    page.get_by_test_id("prelabel-submit").click()
    dialog = page.get_by_test_id("overwrite-dialog")
    expect(dialog).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("overwrite-title")).to_have_text("Overwrite 8 human-edited masks?")
    page.screenshot(path=str(SCREENSHOT_DIR / "segtune_prelabel_confirm.png"))
    page.get_by_test_id("overwrite-keep").click()
    expect(summary).to_have_text(
        "2 drafts saved; 8 human-edited masks kept.", timeout=JOB_TIMEOUT_MS
    )
    frames = http.get(f"{url}/api/projects/{project_id}/frames").json()
    human = [f for f in frames if f["id"] not in {n["id"] for n in new_frames}]
    assert [f["mask_version"] for f in human] == [1] * 8

    # ONNX: export from the row, then the download link appears and serves the file.
    page.get_by_test_id("model-row").get_by_test_id("onnx-export").click()
    link = page.get_by_test_id("model-row").get_by_test_id("onnx-download")
    expect(link).to_be_visible(timeout=JOB_TIMEOUT_MS)
    res = http.get(url + link.get_attribute("href"), timeout=60)
    assert res.status_code == 200 and len(res.content) > 1000
    page.screenshot(path=str(SCREENSHOT_DIR / "segtune_models.png"), full_page=True)


def test_compare_two_models(page: Page, live_server, tmp_path: Path):
    url = live_server.url
    project_id = labeled_project(url, name="compare")
    first = register_base(live_server, tmp_path, name="seed zero", seed=0)
    # A model of another project the user can read is listed under that project, and compared.
    elsewhere = http.post(f"{url}/api/projects", json={"name": "elsewhere"}).json()["id"]
    second = register_base(live_server, tmp_path, name="seed one", seed=1, project_id=elsewhere)

    page.goto(f"/projects/{project_id}/compare")
    expect(page.get_by_test_id("compare-submit")).to_be_enabled()
    group = page.get_by_test_id("compare-b").locator('optgroup[label="Project: elsewhere"]')
    expect(group.locator("option")).to_have_text([f"seed one (#{second['id']}, base)"])
    page.get_by_test_id("compare-a").select_option(str(first["id"]))
    page.get_by_test_id("compare-b").select_option(str(second["id"]))
    # Both are read through their classes' names (no fine-tune of either is compared).
    picks = page.get_by_test_id("compare-mapping")
    expect(picks).to_have_count(2)
    for pick in picks.all():
        expect(pick).to_have_attribute("data-source", "name")
    expect(page.get_by_test_id("compare-confirm-box")).to_be_hidden()
    page.get_by_test_id("compare-submit").click()
    body = page.get_by_test_id("report-body")
    expect(body).to_have_attribute("data-ready", "true", timeout=JOB_TIMEOUT_MS)
    job_id = int(page.url.rsplit("job=", 1)[1])
    report = http.get(f"{url}/api/jobs/{job_id}/report", timeout=120).json()

    table = page.get_by_test_id("report-table1")
    expect(table.locator("thead")).to_contain_text("A: seed zero")
    expect(table.locator("thead")).to_contain_text("B: seed one")
    mean_iou = table.locator('[data-metric="mean_iou"]')
    for side in ("before", "after", "change"):
        cell = mean_iou.get_by_test_id(f"cell-{side}").locator(".metric-value")
        expect(cell).to_have_text(fmt(report[side]["mean_iou"], signed=side == "change"))
    expect(page.get_by_test_id("report-sentence")).to_have_count(len(report["sentences"]))
    expect(page.get_by_test_id("report-figure-img")).to_have_count(1)  # confusion only
    frames = page.get_by_test_id("frame-figure-img")
    expect(frames).to_have_count(report["n_test_frames"])
    for img in frames.all():
        img.scroll_into_view_if_needed()
        expect(img).to_have_js_property("complete", True, timeout=LOAD_TIMEOUT_MS)
        assert img.evaluate("i => i.naturalWidth") > 0
    expect(page.get_by_test_id("timeline")).to_have_count(0)
    expect(page.get_by_test_id("compare-earlier-item")).to_have_count(1)
    mappings = page.get_by_test_id("report-mappings")
    expect(mappings.get_by_test_id("mapping-source-after")).to_have_text(
        "matched to the project's classes by name"
    )
    light = report["mappings"]["after"]["groups"]["background"]
    assert "traffic light" in light
    row = mappings.locator('[data-testid="mapping-row"][data-class="background"]')
    expect(row.get_by_test_id("mapping-after")).to_have_text(", ".join(light))

    # Read traffic light as a sign for A only: the two now differ, which takes a confirmation.
    pick = page.locator(f'[data-testid="compare-mapping"][data-model-id="{first["id"]}"]')
    pick.locator("summary").click()
    light_row = pick.locator('[data-testid="classmap-row"][data-base-class="traffic light"]')
    light_row.locator("select").select_option(label="traffic sign")
    expect(pick).to_have_attribute("data-source", "given")
    expect(page.get_by_test_id("compare-differs")).to_contain_text("traffic light only with model")
    page.get_by_test_id("compare-confirm").check()
    page.get_by_test_id("compare-submit").click()
    expect(page.get_by_test_id("mapping-differs")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("mapping-source-before")).to_have_text(
        "the class map given with the request"
    )
    page.screenshot(path=str(SCREENSHOT_DIR / "segtune_compare.png"), full_page=True)
