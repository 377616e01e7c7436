"""Pre-labeling a frame larger than the tiling limit runs the model on bounded tiles and stores a
draft of the frame's full size (the limit is lowered here so the frame can stay small)."""

import io

import numpy as np
import torch
from PIL import Image

from tests.api.test_registration_retry import _register
from tests.api.test_registration_retry import _run as _run_registration
from worker.ml import evaluate as evaluate_module
from worker.ml.models import build_model
from worker.ml.tiles import ALIGN, Tiling
from worker.prelabel import run_prelabel
from worker.runner import run_job


def test_a_large_frame_is_pre_labeled_in_tiles(client, dispatcher, project, tmp_path, monkeypatch):
    torch.manual_seed(0)
    path = tmp_path / "espnetv2_s_0.5_city.pth"
    torch.save(build_model("espnetv2", 20, scale=0.5).state_dict(), path)
    model = _register(client, path)
    assert _run_registration(client, dispatcher.sent[-1]) == "succeeded"
    image = np.random.default_rng(0).integers(0, 255, (160, 256, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    files = [("files", ("big.png", buf.getvalue()))]
    frame = client.post(f"/api/projects/{project['id']}/images", files=files).json()[0]

    small = Tiling(max_pixels=5000, tile=64, margin=32)
    monkeypatch.setattr(evaluate_module, "DEFAULT_TILING", small)
    windows = []
    stitch = evaluate_module.predict_tiles

    def spy(img, tiles, predict_window):
        windows.extend(t.pixels for t in tiles)
        return stitch(img, tiles, predict_window)

    monkeypatch.setattr(evaluate_module, "predict_tiles", spy)
    job = client.post(f"/api/projects/{project['id']}/prelabel", json={"model_id": model["id"]})
    state = client.app.state
    done = run_job(job.json()["id"], run_prelabel, state.sessions, state.storage, state.settings)
    assert done == "succeeded"
    assert len(windows) == 12 and max(windows) <= (64 + ALIGN + 2 * 32) ** 2 < 160 * 256
    mask = client.get(f"/api/frames/{frame['id']}/mask")
    drafted = np.asarray(Image.open(io.BytesIO(mask.content)))
    assert drafted.shape == (160, 256) and drafted.max() <= 2
