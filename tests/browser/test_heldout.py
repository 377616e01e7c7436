"""Generalisation checks in the browser: choose a reference project at launch, read "Forgetting"."""

from pathlib import Path

from playwright.sync_api import Page, expect

from backend.services.reports import stats
from tests import http
from tests.browser.test_finetune import (
    JOB_TIMEOUT_MS,
    LOAD_TIMEOUT_MS,
    launch,
    open_launch_page,
    register_base,
)
from tests.labeled import labeled_project


def test_reference_project_chosen_at_launch_is_reported_as_forgetting(
    page: Page, live_server, tmp_path: Path
):
    url = live_server.url
    project_id = labeled_project(url)
    reference_id = labeled_project(url, name="source domain")
    odd = http.post(
        f"{url}/api/projects",
        json={"name": "odd", "classes": [{"name": "sky", "color": "#0000ff"}]},
    ).json()
    base = register_base(live_server, tmp_path)

    open_launch_page(page, project_id, base["id"])
    reference = page.get_by_test_id("launch-reference")
    # Projects with other classes are listed but cannot be chosen.
    expect(reference.locator(f'option[value="{odd["id"]}"]')).to_be_disabled()
    reference.select_option(label="source domain")
    page.get_by_test_id("launch-heldout").select_option("gap")
    expect(page.get_by_test_id("launch-gap-box")).to_be_visible()
    page.get_by_test_id("launch-heldout").select_option("")
    expect(page.get_by_test_id("launch-gap-box")).to_be_hidden()
    job_id = launch(page, iterations=2, crop=48)
    params = http.get(f"{url}/api/jobs/{job_id}").json()["params"]
    assert params["sets"] == {
        "reference": {"kind": "project", "project_id": reference_id, "name": "source domain"}
    }
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)

    page.goto(f"/jobs/{job_id}/report")
    body = page.get_by_test_id("report-body")
    expect(body).to_have_attribute("data-ready", "true", timeout=LOAD_TIMEOUT_MS)
    report = http.get(f"{url}/api/jobs/{job_id}/report", timeout=120).json()
    found = report["sets"]["reference"]
    section = page.locator('[data-testid="report-set"][data-role="reference"]')
    expect(section.locator("h2")).to_have_text("Forgetting: source domain")
    expect(section.get_by_test_id("set-sentence")).to_have_text(found["sentences"])
    expect(section.get_by_test_id("set-sentence").first).to_contain_text(
        "a decline here means the fine-tune forgot the source domain"
    )
    mean_iou = section.locator('[data-testid="set-row"][data-metric="mean_iou"]')
    value = mean_iou.get_by_test_id("cell-change").locator(".metric-value")
    change = found["change"]["mean_iou"]
    # The page formats as the server does: an exact zero has no sign (a tiny fine-tune can
    # leave the reference frames' predictions unchanged, as float32 training on one CPU did).
    expect(value).to_have_text(stats.fmt(change, signed=True))
    assert found["n_frames"] == 8
