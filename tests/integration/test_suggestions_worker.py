"""Suggestions through the real web and worker processes, on SQLite and PostgreSQL + Redis."""

import numpy as np
import pytest

from tests import http
from tests.labeled import label_frames, png
from worker.ml.checkpoints import ModelMeta, save_checkpoint
from worker.ml.models import build_model

pytestmark = pytest.mark.integration

CLASSES = [
    {"index": 0, "name": "background", "color": [0, 0, 0]},
    {"index": 1, "name": "car", "color": [0, 0, 255]},
    {"index": 2, "name": "traffic sign", "color": [255, 255, 0]},
]


def tiny_model(server, tmp_path, project_id: int) -> dict:
    """A random-weight SegTune checkpoint with the project's classes, checked by the worker."""
    import torch

    torch.manual_seed(0)
    net = build_model("deeplabv3plus_mobilenet", 3, 16)
    path = save_checkpoint(
        tmp_path / "m.pth", net, ModelMeta("deeplabv3plus_mobilenet", 16, CLASSES)
    )
    with open(path, "rb") as fh:
        model = http.post(
            f"{server.url}/api/models",
            files={"file": ("m.pth", fh)},
            data={"project_id": str(project_id)},
            timeout=60,
        ).json()
    job = http.get(f"{server.url}/api/jobs").json()[0]
    assert server.wait_job(job["id"], timeout=120)["status"] == "succeeded"
    return model


def test_a_worker_ranks_the_unlabeled_frames(live_server, tmp_path):
    url = live_server.url
    project = http.post(f"{url}/api/projects", json={"name": "suggest"}).json()
    rng = np.random.default_rng(0)
    files = [
        ("files", (f"f{30 * i:05d}.png", png(rng.integers(0, 255, (64, 80, 3), np.uint8))))
        for i in range(6)
    ]
    frames = http.post(f"{url}/api/projects/{project['id']}/images", files=files).json()
    label_frames(url, frames[:1], [np.zeros((64, 80), np.uint8)])
    model = tiny_model(live_server, tmp_path, project["id"])
    res = http.post(
        f"{url}/api/projects/{project['id']}/suggestions",
        json={"model_id": model["id"], "count": 2},
    )
    assert res.status_code == 202, res.text
    job = live_server.wait_job(res.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["result"]["scored"] == 5
    ranking = http.get(f"{url}/api/projects/{project['id']}/suggestions").json()
    assert ranking["job_id"] == job["id"]
    ids = [r["frame_id"] for r in ranking["frames"]]
    assert len(ids) == 2 and set(ids) <= {f["id"] for f in frames[1:]}
    # Two frames at least 2 s from the labeled one and each other exist: 1 s from it never wins.
    assert frames[1]["id"] not in ids
    assert {r["reason"] for r in ranking["frames"]} == {"highest score"}
