"""Registering the public ESPNetv2 layout with the form's defaults, retrying a failed
registration, and the launch page starting from the project's base (a different start is said
on the page and in the report)."""

import os
from pathlib import Path
from types import SimpleNamespace

import torch
from playwright.sync_api import Page, expect

from backend.db import make_engine, make_sessionmaker, session_scope
from backend.models import Job, SegModel
from backend.storage import make_storage
from tests import http
from tests.api.test_reports import make_job
from tests.labeled import labeled_project
from worker.ml.models import build_model

SHOTS = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp/shots/walk"))
JOB_TIMEOUT_MS = 180_000


def _espnet_file(path: Path, seed: int) -> Path:
    """A bare 20-class state dict in the EdgeNets layout, like the public Cityscapes files."""
    torch.manual_seed(seed)
    torch.save(build_model("espnetv2", 20, scale=0.5).state_dict(), path)
    return path


def _register(page: Page, path: Path, name: str, preset: str | None = None):
    page.get_by_test_id("register-file").set_input_files(str(path))
    page.get_by_test_id("register-name").fill(name)
    if preset is not None:
        page.get_by_test_id("register-preset").select_option(preset)
    page.get_by_test_id("register-submit").click()
    row = page.locator(
        f'[data-testid="model-row"]:has([data-testid="model-name"]:text-is("{name}"))'
    )
    expect(row.get_by_test_id("model-status")).not_to_have_text("pending", timeout=JOB_TIMEOUT_MS)
    return row


def test_register_with_defaults_then_retry_a_failure(page: Page, live_server, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    project = http.post(f"{live_server.url}/api/projects", json={"name": "espnet"}).json()
    page.goto(f"/projects/{project['id']}/models")
    expect(page.get_by_test_id("register-preset")).to_have_value("")  # Detect is the default

    # The form's defaults: the 20-output head picks the 19 + void preset.
    ready = _register(page, _espnet_file(tmp_path / "espnetv2_s_0.5_city.pth", 0), "ESPNetv2")
    expect(ready.get_by_test_id("model-status")).to_have_text("ready")
    expect(ready.get_by_test_id("model-classes")).to_have_attribute("data-count", "20")
    expect(ready.get_by_test_id("model-classes")).to_contain_text("cityscapes20")

    # A preset that does not fit fails, says which one does, and is retried with Detect.
    wrong = _register(
        page, _espnet_file(tmp_path / "second.pth", 1), "wrong preset", "cityscapes19"
    )
    expect(wrong.get_by_test_id("model-status")).to_have_text("failed")
    expect(wrong.get_by_test_id("model-error")).to_contain_text(
        "The preset that fits is cityscapes20"
    )
    page.screenshot(path=str(SHOTS / "models_failed_registration.png"), full_page=True)
    wrong.get_by_test_id("model-retry").click()
    dialog = page.get_by_test_id("retry-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("retry-reason")).to_contain_text(
        "file has 20 classes, 19 were given"
    )
    expect(page.get_by_test_id("retry-preset")).to_have_value("")
    page.screenshot(path=str(SHOTS / "models_retry_dialog.png"))
    page.get_by_test_id("retry-submit").click()
    expect(dialog).to_be_hidden()
    expect(wrong.get_by_test_id("model-status")).to_have_text("ready", timeout=JOB_TIMEOUT_MS)
    expect(wrong.get_by_test_id("model-classes")).to_have_attribute("data-count", "20")

    expect(page.get_by_test_id("model-row")).to_have_count(2)
    models = http.get(f"{live_server.url}/api/models?project_id={project['id']}").json()
    assert sorted(m["status"] for m in models) == ["ready", "ready"]
    page.screenshot(path=str(SHOTS / "models_after_retry.png"), full_page=True)


def _state(settings) -> SimpleNamespace:
    """What make_job reads from a test client's app, for the live server's database and media."""
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(
        sessions=sessions, storage=make_storage(settings))))  # fmt: skip


def test_launch_starts_from_the_project_base_and_says_when_not(page: Page, live_server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = live_server.url
    project_id = labeled_project(url)
    fake = _state(live_server.settings)
    names = ["background", "car", "traffic sign"]
    classes = [{"index": i, "name": n, "color": "#000000"} for i, n in enumerate(names)]
    with session_scope(fake.app.state.sessions) as session:
        base = SegModel(project_id=project_id, name="street base", kind="base", status="ready",
                        classes=classes, storage_key="models/b.pth", filename="b.pth")  # fmt: skip
        session.add(base)
        session.flush()
        # Newer than the base: the walkthrough's launch page picked this one.
        tune = SegModel(project_id=project_id, name="fine-tune of job 5", kind="finetuned",
                        status="ready", classes=classes, storage_key="models/t.pth",
                        filename="t.pth", base_model_id=base.id)  # fmt: skip
        session.add(tune)
        session.flush()
        base_id, tune_id = base.id, tune.id

    page.goto(f"/projects/{project_id}/train")
    choice = page.get_by_test_id("launch-base")
    expect(choice).to_have_value(str(base_id))
    expect(choice.locator("option:checked")).to_contain_text("the project's base")
    expect(page.get_by_test_id("launch-base-differs")).to_be_hidden()
    choice.select_option(str(tune_id))
    differs = page.get_by_test_id("launch-base-differs")
    expect(differs).to_be_visible()
    expect(differs).to_contain_text("Not the project's base model (“street base”)")
    page.screenshot(path=str(SHOTS / "launch_other_start.png"), full_page=True)
    # A link to fine-tune a given model is an explicit choice too.
    page.goto(f"/projects/{project_id}/train?base={tune_id}")
    expect(page.get_by_test_id("launch-base")).to_have_value(str(tune_id))
    expect(page.get_by_test_id("launch-base-differs")).to_be_visible()

    # The report of a fine-tune that started elsewhere names that start.
    project = http.get(f"{url}/api/projects/{project_id}").json()
    job = make_job(fake, project)
    start = {"model_id": tune_id, "name": "fine-tune of job 5", "project_base_id": base_id,
             "project_base_name": "street base"}  # fmt: skip
    with session_scope(fake.app.state.sessions) as session:
        session.get(Job, job["id"]).params = {"start": start}
    page.goto(f"/jobs/{job['id']}/report")
    note = page.get_by_test_id("report-start")
    expect(note).to_have_attribute("data-differs", "true", timeout=60_000)
    expect(note).to_contain_text("Started from “fine-tune of job 5” (not the project's base")
    page.screenshot(path=str(SHOTS / "report_other_start.png"), full_page=True)
