"""The whole path through separate CPU and GPU workers, and a GPU worker killed mid-training."""

import time

import numpy as np
import pytest

from tests import http
from tests.labeled import label_frames, random_checkpoint, register_base
from tests.live import LiveServer
from tests.videos import make_video

pytestmark = pytest.mark.integration


@pytest.fixture
def two_queue_server(settings, tmp_path):
    """Web, a `cpu` worker and a `gpu` worker; lost jobs are re-queued, not failed."""
    settings.lost_jobs = "requeue"
    server = LiveServer(settings, tmp_path / "logs")
    server.start(worker_queues=("cpu", "gpu,train"))
    yield server
    server.stop()


def _wait_iteration(server, job_id: int, at_least: int, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"{server.url}/api/jobs/{job_id}").json()
        history = (job.get("detail") or {}).get("history", [])
        if history and history[-1]["iteration"] >= at_least:
            return job
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach iteration {at_least}")


def test_video_to_report_with_a_lost_gpu_worker(two_queue_server, tmp_path):
    server, url = two_queue_server, two_queue_server.url
    project = http.post(f"{url}/api/projects", json={"name": "end to end"}).json()
    clip = make_video(tmp_path / "drive.mp4", seconds=4, fps=10, width=96, height=64)
    with open(clip, "rb") as fh:
        video = http.post(
            f"{url}/api/projects/{project['id']}/videos", files={"file": ("drive.mp4", fh)}
        ).json()
    job = http.post(f"{url}/api/videos/{video['id']}/sample", json={"fps": 2}).json()
    assert server.wait_job(job["id"])["status"] == "succeeded"
    frames = http.get(f"{url}/api/projects/{project['id']}/frames").json()
    assert len(frames) == 8

    # Label through the API: the bright top-left mark is a "sign", the rest background.
    masks = []
    for _ in frames:
        mask = np.zeros((64, 96), np.uint8)
        mask[:16, :24] = 2
        mask[40:56, 40:70] = 1
        masks.append(mask)
    label_frames(url, frames, masks)
    split = {"strategy": "contiguous", "train": 4, "val": 2, "test": 2}
    assert http.post(f"{url}/api/projects/{project['id']}/splits", json=split).status_code == 200

    base = register_base(server, random_checkpoint(tmp_path / "base.pth"))
    body = {"base_model_id": base["id"], "preset": "quick", "iterations": 24, "crop_size": 48}
    train = http.post(f"{url}/api/projects/{project['id']}/train", json=body).json()
    assert train["queue"] == "train"
    # Kill the GPU worker after a checkpoint exists; the job is re-queued and a new worker
    # resumes it from that checkpoint instead of starting over.
    running = _wait_iteration(server, train["id"], at_least=6)
    server.kill_worker(server.workers[1])
    server.start_worker("gpu,train")
    done = server.wait_job(train["id"], timeout=600)
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 2
    iterations = [h["iteration"] for h in done["detail"]["history"]]
    assert iterations[-1] == 24 and running["detail"]["history"][-1]["iteration"] >= 6
    # Resumed, not restarted: the history continues from the checkpoint without starting at 0.
    assert iterations.count(0) == 1

    evaluate = http.post(
        f"{url}/api/projects/{project['id']}/evaluate",
        json={"model_ids": [base["id"], done["result"]["model_id"]]},
    ).json()
    assert server.wait_job(evaluate["id"], timeout=300)["status"] == "succeeded"
    report = http.get(f"{url}/api/jobs/{train['id']}/report", timeout=120).json()
    assert report["n_test_frames"] == 2
    assert set(report["after"]["class_iou"]) == {"background", "car", "traffic sign"}
    comparison = http.get(f"{url}/api/jobs/{evaluate['id']}/report", timeout=120).json()
    assert comparison["after"] == report["after"]
