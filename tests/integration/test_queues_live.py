"""The embedded set-up's workers (`segtune serve`: one for `train`, one for `cpu,gpu`): a short
job finishes while a fine-tune is still running, instead of waiting for it."""

import time

import pytest

from backend.cli import SERVE_WORKERS
from tests import http
from tests.labeled import labeled_project, random_checkpoint, register_base
from tests.live import LiveServer


@pytest.fixture
def embedded(settings, tmp_path):
    """Web and the two workers `segtune serve` starts, on SQLite and the filesystem broker."""
    server = LiveServer(settings, tmp_path / "logs")
    server.start(worker_queues=SERVE_WORKERS)
    yield server
    server.stop()


def _wait_running(url: str, job_id: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"{url}/api/jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"] > 0:
            return
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not start")


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_registration_finishes_while_a_fine_tune_runs(embedded, tmp_path):
    url = embedded.url
    project_id = labeled_project(url)
    # Random initialisation, far more iterations than the test will wait for.
    body = {"preset": "quick", "iterations": 5000, "crop_size": 32, "val_every": 1000}
    train = http.post(f"{url}/api/projects/{project_id}/train", json=body).json()
    assert train["queue"] == "train"
    _wait_running(url, train["id"])
    base = register_base(embedded, random_checkpoint(tmp_path / "base.pth"))
    assert base["status"] == "ready"
    # The short job did not wait for the fine-tune, which is still going.
    assert http.get(f"{url}/api/jobs/{train['id']}").json()["status"] == "running"
    http.post(f"{url}/api/jobs/{train['id']}/cancel")
    assert embedded.wait_job(train["id"], timeout=120)["status"] == "cancelled"
