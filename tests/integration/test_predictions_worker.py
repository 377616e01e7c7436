"""Video prediction through the real web and Celery worker processes, on both databases."""

import time

import pytest

from tests import http
from tests.labeled import random_checkpoint, register_base
from tests.videos import make_video

pytestmark = pytest.mark.integration


def _video(server, tmp_path, **kw) -> dict:
    project = http.post(f"{server.url}/api/projects", json={"name": "clips"}).json()
    path = make_video(tmp_path / "clip.mp4", **kw)
    with open(path, "rb") as fh:
        res = http.post(
            f"{server.url}/api/projects/{project['id']}/videos",
            files={"file": ("clip.mp4", fh)},
            timeout=60,
        )
    assert res.status_code == 201, res.text
    return res.json()


def _stored(settings, job_id: int) -> list:
    return list((settings.data_path / "media" / "jobs" / str(job_id)).rglob("*.*"))


def test_predict_then_cancel_a_long_one(live_server, tmp_path, settings):
    url = live_server.url
    base = register_base(live_server, random_checkpoint(tmp_path / "base.pth"))
    video = _video(live_server, tmp_path, seconds=1, fps=10, width=64, height=48)
    job = http.post(
        f"{url}/api/videos/{video['id']}/predict", json={"model_id": base["id"], "fps": 5}
    ).json()
    assert job["queue"] == "gpu" and job["params"]["class_maps"][str(base["id"])][13] == 1
    done = live_server.wait_job(job["id"], timeout=180)
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["frames"] == 5
    assert {p.name for p in _stored(settings, job["id"])} == {
        "video.mp4",
        "timeline_csv.csv",
        "timeline_png.png",
    }
    part = http.get(f"{url}/api/jobs/{job['id']}/video", headers={"Range": "bytes=0-31"})
    assert part.status_code == 206 and len(part.content) == 32
    assert part.content[4:8] == b"ftyp"

    long = _video(live_server, tmp_path, seconds=30, fps=30, width=320, height=240)
    job = http.post(f"{url}/api/videos/{long['id']}/predict", json={"model_id": base["id"]}).json()
    deadline = time.monotonic() + 120
    while http.get(f"{url}/api/jobs/{job['id']}").json()["progress"] <= 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    asked = time.monotonic()
    assert http.post(f"{url}/api/jobs/{job['id']}/cancel").status_code == 200
    ended = live_server.wait_job(job["id"], timeout=60)
    took = time.monotonic() - asked
    assert ended["status"] == "cancelled", ended
    assert took < 5, took  # a second or two, with slack for a loaded test machine
    assert _stored(settings, job["id"]) == []
    assert list((settings.data_path / "media" / ".tmp").glob("*.mp4")) == []
