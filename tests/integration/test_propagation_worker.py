"""Propagation through the real web and worker processes, on SQLite and PostgreSQL + Redis."""

import io

import numpy as np
import pytest
from PIL import Image

from tests import http
from tests.api.test_propagation import STEP, box_mask, iou
from tests.labeled import label_frames
from tests.videos import make_moving_box_video

pytestmark = pytest.mark.integration


def sampled_clip(server, tmp_path, name: str = "box") -> list[dict]:
    """A project with the moving-box clip sampled every STEP frames; frames in video order."""
    project = http.post(f"{server.url}/api/projects", json={"name": name}).json()
    path = make_moving_box_video(tmp_path / "box.mp4", frames=16)
    with open(path, "rb") as fh:
        video = http.post(
            f"{server.url}/api/projects/{project['id']}/videos",
            files={"file": ("box.mp4", fh)},
            timeout=60,
        ).json()
    job = http.post(
        f"{server.url}/api/videos/{video['id']}/sample", json={"every_n_frames": STEP}
    ).json()
    assert server.wait_job(job["id"])["status"] == "succeeded"
    frames = http.get(f"{server.url}/api/projects/{project['id']}/frames").json()
    return sorted(({**f, "project_id": project["id"]} for f in frames), key=lambda f: f["index"])


def test_a_worker_propagates_forward_and_backward(live_server, tmp_path):
    url = live_server.url
    frames = sampled_clip(live_server, tmp_path)
    middle = frames[2]
    label_frames(url, [middle], [box_mask(middle["index"])])
    res = http.post(
        f"{url}/api/frames/{middle['id']}/propagate", json={"count": 2, "direction": "both"}
    )
    assert res.status_code == 202, res.text
    job = live_server.wait_job(res.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["result"]["saved"] == 4
    for frame in (frames[0], frames[1], frames[3], frames[4]):
        png = http.get(f"{url}/api/frames/{frame['id']}/mask").content
        got = np.asarray(Image.open(io.BytesIO(png)))
        assert iou(got, box_mask(frame["index"])) > 0.8, frame
        versions = http.get(f"{url}/api/frames/{frame['id']}/masks").json()
        assert [v["source"] for v in versions] == ["propagation"]
    assert http.get(f"{url}/api/frames/{frames[5]['id']}").json()["mask_version"] == 0
