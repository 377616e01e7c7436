"""Small labeled projects and base checkpoints made through the API, shared by live tests."""

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests import http


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    """PNG bytes of an array."""
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def label_frames(url: str, frames: list[dict], masks: list[np.ndarray]) -> None:
    """Save a first mask version for each frame and mark it done."""
    for frame, mask in zip(frames, masks, strict=True):
        res = http.put(
            f"{url}/api/frames/{frame['id']}/mask",
            content=png(mask, "L"),
            headers={"If-Match": '"0"', "Content-Type": "image/png"},
        )
        assert res.status_code == 200, res.text
        http.patch(f"{url}/api/frames/{frame['id']}", json={"label_status": "done"})


def labeled_project(url: str, n: int = 8, name: str = "tiny streets") -> int:
    """Frames with a blue 'car' box and a yellow 'sign' box on grey, masks to match, split 4/2/2."""
    project = http.post(f"{url}/api/projects", json={"name": name}).json()
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
        # Unrelated pictures: names 30 s of frame numbers apart, so each is its own report block.
        files.append(("files", (f"f{900 * i:05d}.png", png(image))))
        masks.append(mask)
    frames = http.post(f"{url}/api/projects/{project['id']}/images", files=files, timeout=60)
    label_frames(url, frames.json(), masks)
    split = {"train": 4, "val": 2, "test": 2}
    res = http.post(f"{url}/api/projects/{project['id']}/splits", json=split)
    assert res.json() == split
    return project["id"]


def random_checkpoint(path: Path, seed: int = 0) -> Path:
    """A DeepLabV3+ (MobileNet) file with 19 random-weight classes, in the public layout."""
    import torch

    from worker.ml.models import build_model

    torch.manual_seed(seed)
    torch.save({"model_state": build_model("deeplabv3plus_mobilenet", 19, 16).state_dict()}, path)
    return path


def register_base(server, path: Path) -> dict:
    """Upload a checkpoint with the Cityscapes preset and wait until a worker inspected it."""
    with open(path, "rb") as fh:
        model = http.post(
            f"{server.url}/api/models",
            files={"file": (path.name, fh)},
            data={"preset": "cityscapes19", "name": "random base"},
            timeout=60,
        ).json()
    job = http.get(f"{server.url}/api/jobs").json()[0]
    assert server.wait_job(job["id"], timeout=180)["status"] == "succeeded"
    return http.get(f"{server.url}/api/models/{model['id']}").json()
