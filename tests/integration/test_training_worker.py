"""Register a base model, fine-tune and evaluate through real worker processes."""

import io

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from worker.ml.models import build_model

pytestmark = pytest.mark.integration


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _labeled_project(url: str, n: int = 8) -> int:
    """Frames with a bright 'car' box and a yellow 'sign' box on grey, masks to match."""
    project = httpx.post(f"{url}/api/projects", json={"name": "tiny"}).json()
    rng = np.random.default_rng(0)
    files, masks = [], []
    for i in range(n):
        image = np.full((48, 64, 3), 90, np.uint8)
        mask = np.zeros((48, 64), np.uint8)
        x, y = rng.integers(0, 40), rng.integers(0, 28)
        image[y : y + 16, x : x + 20] = (20, 20, 200)
        mask[y : y + 16, x : x + 20] = 1
        image[2:10, 2:8] = (230, 230, 0)
        mask[2:10, 2:8] = 2
        mask[-2:, :] = 255
        files.append(("files", (f"f{i}.png", _png(image))))
        masks.append(mask)
    frames = httpx.post(f"{url}/api/projects/{project['id']}/images", files=files).json()
    for frame, mask in zip(frames, masks, strict=True):
        res = httpx.put(
            f"{url}/api/frames/{frame['id']}/mask",
            content=_png(mask, "L"),
            headers={"If-Match": '"0"', "Content-Type": "image/png"},
        )
        assert res.status_code == 200, res.text
        httpx.patch(f"{url}/api/frames/{frame['id']}", json={"label_status": "done"})
    split = {"train": 4, "val": 2, "test": 2}
    assert httpx.post(f"{url}/api/projects/{project['id']}/splits", json=split).json() == split
    return project["id"]


def test_register_train_evaluate(live_server, tmp_path):
    url = live_server.url
    project_id = _labeled_project(url)
    base_path = tmp_path / "base.pth"
    torch.manual_seed(0)
    torch.save(
        {"model_state": build_model("deeplabv3plus_mobilenet", 19, 16).state_dict()}, base_path
    )
    with open(base_path, "rb") as fh:
        base = httpx.post(
            f"{url}/api/models",
            files={"file": ("base.pth", fh)},
            data={"preset": "cityscapes19", "name": "random base"},
            timeout=60,
        ).json()
    jobs = httpx.get(f"{url}/api/jobs").json()
    assert live_server.wait_job(jobs[0]["id"], timeout=120)["status"] == "succeeded"
    assert httpx.get(f"{url}/api/models/{base['id']}").json()["status"] == "ready"

    body = {"base_model_id": base["id"], "preset": "quick", "iterations": 3, "crop_size": 48}
    job = httpx.post(f"{url}/api/projects/{project_id}/train", json=body).json()
    assert job["status"] == "queued", job
    done = live_server.wait_job(job["id"], timeout=300)
    assert done["status"] == "succeeded", done["error"]
    result = done["result"]
    assert result["iterations"] == 3 and result["n_test_frames"] == 2
    assert set(result["test"]) == {"before", "after"}
    for stage in ("before", "after"):
        assert 0.0 <= result["test"][stage]["metrics"]["pixel_accuracy"] <= 1.0
        assert len(result["test"][stage]["prediction_keys"]) == 2
    history = done["detail"]["history"]
    assert [h["iteration"] for h in history] == [0, 1, 2, 3]
    assert all(h["train_loss"] is not None for h in history[1:])
    assert done["detail"]["timeline"], "validation overlays are kept for the timeline"

    model = httpx.get(f"{url}/api/models/{result['model_id']}").json()
    assert model["kind"] == "finetuned" and model["base_model_id"] == base["id"]
    evaluation = httpx.post(
        f"{url}/api/projects/{project_id}/evaluate", json={"model_ids": [result["model_id"]]}
    ).json()
    scored = live_server.wait_job(evaluation["id"], timeout=120)
    assert scored["status"] == "succeeded", scored["error"]
    # The evaluate job and the train job's "after" score the same model on the same frames.
    assert scored["result"]["models"][0]["confusion"] == result["test"]["after"]["confusion"]
