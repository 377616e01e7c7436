"""Sampling through the real web and worker processes, on SQLite and on PostgreSQL + Redis."""

import io
import time

import numpy as np
import pytest
from PIL import Image

from tests import http
from tests.videos import frame_index_of, make_video

pytestmark = pytest.mark.integration


def _upload(server, tmp_path, **video_kw) -> tuple[int, dict]:
    project = http.post(f"{server.url}/api/projects", json={"name": "it"}).json()
    path = make_video(tmp_path / "clip.mp4", **video_kw)
    with open(path, "rb") as fh:
        res = http.post(
            f"{server.url}/api/projects/{project['id']}/videos",
            files={"file": ("clip.mp4", fh)},
            timeout=60,
        )
    assert res.status_code == 201, res.text
    return project["id"], res.json()


def _media_pngs(settings) -> set[str]:
    root = settings.data_path / "media"
    return {p.name for p in root.glob("projects/*/frames/*/*.png")}


def test_sample_at_rate_then_again_without_duplicates(live_server, tmp_path, settings):
    project_id, video = _upload(live_server, tmp_path, seconds=4, fps=30, gop=12)
    job = http.post(f"{live_server.url}/api/videos/{video['id']}/sample", json={"fps": 2}).json()
    done = live_server.wait_job(job["id"])
    assert done["status"] == "succeeded", done
    assert done["result"] == {"frames_selected": 8, "frames_added": 8, "frames_existing": 0}
    frames = http.get(f"{live_server.url}/api/projects/{project_id}/frames").json()
    assert [f["index"] for f in frames] == [7, 22, 37, 52, 67, 82, 97, 112]
    assert [f["timestamp_s"] for f in frames] == pytest.approx(
        [i / 30 for i in [7, 22, 37, 52, 67, 82, 97, 112]], abs=1e-6
    )
    for frame in frames:
        png = http.get(f"{live_server.url}/api/frames/{frame['id']}/image").content
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert frame_index_of(pixels) == frame["index"] % 60
    again = http.post(f"{live_server.url}/api/videos/{video['id']}/sample", json={"fps": 2}).json()
    assert live_server.wait_job(again["id"])["result"]["frames_added"] == 0
    assert len(http.get(f"{live_server.url}/api/projects/{project_id}/frames").json()) == 8
    assert len(_media_pngs(settings)) == 8


def test_cancel_running_job_keeps_rows_and_files_consistent(live_server, tmp_path, settings):
    project_id, video = _upload(live_server, tmp_path, seconds=12, fps=30, width=640, height=480)
    job = http.post(
        f"{live_server.url}/api/videos/{video['id']}/sample", json={"every_n_frames": 1}
    ).json()
    deadline = time.monotonic() + 60
    while http.get(f"{live_server.url}/api/jobs/{job['id']}").json()["progress"] <= 0.05:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert http.post(f"{live_server.url}/api/jobs/{job['id']}/cancel").status_code == 200
    done = live_server.wait_job(job["id"])
    assert done["status"] == "cancelled"
    frames = http.get(f"{live_server.url}/api/projects/{project_id}/frames").json()
    assert 0 < len(frames) < 360
    assert len(_media_pngs(settings)) == len(frames)


def test_killed_worker_leaves_job_failed_not_running(live_server, tmp_path, settings):
    project_id, video = _upload(live_server, tmp_path, seconds=12, fps=30, width=640, height=480)
    job = http.post(
        f"{live_server.url}/api/videos/{video['id']}/sample", json={"every_n_frames": 1}
    ).json()
    deadline = time.monotonic() + 60
    while http.get(f"{live_server.url}/api/jobs/{job['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    live_server.kill_worker(live_server.workers[0])
    killed_at = time.monotonic()
    done = live_server.wait_job(job["id"], timeout=settings.worker_lost_after_s + 30)
    assert done["status"] == "failed" and "worker lost" in done["error"]
    assert time.monotonic() - killed_at < settings.worker_lost_after_s + 20
    # A fresh worker can run the retried job to the end, without duplicating frames.
    live_server.start_worker()
    http.post(f"{live_server.url}/api/jobs/{job['id']}/retry")
    assert live_server.wait_job(job["id"], timeout=120)["status"] == "succeeded"
    frames = http.get(f"{live_server.url}/api/projects/{project_id}/frames").json()
    assert sorted(f["index"] for f in frames) == list(range(360))
