"""ESPNetv2 through the API: registration with the 20-class preset, a fine-tune job on frames
whose sides are not multiples of 16, the report, ONNX export and pre-labeling."""

import io
import json

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from tests.ml.conftest import require_shared
from worker.evaluation import run_evaluation
from worker.ml.checkpoints import load_model
from worker.ml.classmap import make_class_map
from worker.ml.data import normalize
from worker.ml.models import build_model
from worker.onnx_export import run_onnx_export
from worker.prelabel import run_prelabel
from worker.registration import run_registration
from worker.runner import run_job
from worker.training import run_training

STUDY_MAP = make_class_map(20, {6: 2, 7: 2, 13: 1})
H, W = 45, 70  # neither side a multiple of 16


def _run(client, job_id, body):
    state = client.app.state
    return run_job(job_id, body, state.sessions, state.storage, state.settings)


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _register(client, dispatcher, path, **fields) -> dict:
    with open(path, "rb") as fh:
        res = client.post("/api/models", files={"file": (path.name, fh)}, data=fields)
    assert res.status_code == 202, res.text
    assert _run(client, dispatcher.sent[-1], run_registration) == "succeeded"
    return client.get(f"/api/models/{res.json()['id']}").json()


@pytest.fixture
def espnet_file(tmp_path):
    """A bare state dict in the EdgeNets layout (scale 0.5, 20 classes), like the public files."""
    torch.manual_seed(0)
    model = build_model("espnetv2", 20, scale=0.5)
    with torch.no_grad():
        model.train()(torch.randn(2, 3, 64, 96))
    path = tmp_path / "espnetv2_s_0.5_city.pth"
    torch.save(model.state_dict(), path)
    return path


def test_register_with_the_twenty_class_preset(client, dispatcher, espnet_file):
    row = _register(client, dispatcher, espnet_file, preset="cityscapes20", name="ESPNetv2")
    assert row["status"] == "ready" and row["architecture"] == "espnetv2"
    names = [c["name"] for c in row["classes"]]
    assert len(names) == 20 and names[13] == "car" and names[7] == "traffic sign"
    assert names[19] == "void"


def test_wrong_preset_for_espnetv2_fails_with_reason(client, dispatcher, espnet_file):
    with open(espnet_file, "rb") as fh:
        res = client.post(
            "/api/models", files={"file": ("e.pth", fh)}, data={"preset": "cityscapes19"}
        )
    assert _run(client, dispatcher.sent[-1], run_registration) == "failed"
    error = client.get(f"/api/models/{res.json()['id']}").json()["error"]
    assert "20 classes, 19 were given" in error


@pytest.mark.parametrize("scale", ["2.0", "1.0"])
def test_register_the_real_cityscapes_weights(client, dispatcher, scale):
    path = require_shared(f"data/weights/espnetv2_cityscapes/espnetv2_s_{scale}_city_1024x512.pth")
    row = _register(client, dispatcher, path, preset="cityscapes20", architecture="espnetv2")
    assert row["status"] == "ready" and row["architecture"] == "espnetv2"
    assert len(row["classes"]) == 20 and row["filename"] == path.name


def _labeled_project(client, project) -> list[int]:
    rng = np.random.default_rng(0)
    files, masks = [], []
    for i in range(8):
        image = rng.normal(100, 20, (H, W, 3)).clip(0, 255).astype(np.uint8)
        mask = np.zeros((H, W), np.uint8)
        image[5:20, 10:30] = (20, 20, 200)
        mask[5:20, 10:30] = 1
        image[25:35, 40 + i : 48 + i] = (230, 230, 0)
        mask[25:35, 40 + i : 48 + i] = 2
        mask[-2:] = 255
        files.append(("files", (f"f{i}.png", _png(image))))
        masks.append(mask)
    frames = client.post(f"/api/projects/{project['id']}/images", files=files).json()
    for frame, mask in zip(frames, masks, strict=True):
        res = client.put(
            f"/api/frames/{frame['id']}/mask",
            content=_png(mask),
            headers={"If-Match": '"0"', "Content-Type": "image/png"},
        )
        assert res.status_code == 200, res.text
        client.patch(f"/api/frames/{frame['id']}", json={"label_status": "done"})
    split = {"strategy": "contiguous", "train": 4, "val": 2, "test": 2}
    assert client.post(f"/api/projects/{project['id']}/splits", json=split).status_code == 200
    return [f["id"] for f in frames]


def test_fine_tune_report_onnx_and_prelabel(client, dispatcher, project, espnet_file):
    base = _register(client, dispatcher, espnet_file, preset="cityscapes20")
    frame_ids = _labeled_project(client, project)
    body = {
        "base_model_id": base["id"],
        "preset": "quick",
        "iterations": 2,
        "crop_size": 64,
        "class_map": STUDY_MAP,
        "device": "cpu",
    }
    job = client.post(f"/api/projects/{project['id']}/train", json=body)
    assert job.status_code == 202, job.text
    assert job.json()["params"]["class_map"] == STUDY_MAP
    assert _run(client, job.json()["id"], run_training) == "succeeded"
    result = client.get(f"/api/jobs/{job.json()['id']}").json()["result"]
    assert result["n_train_frames"] == 4 and result["n_test_frames"] == 2
    assert set(result["test"]) == {"before", "after"}

    tuned = client.get(f"/api/models/{result['model_id']}").json()
    assert tuned["architecture"] == "espnetv2" and tuned["kind"] == "finetuned"
    assert [c["name"] for c in tuned["classes"]] == ["background", "car", "traffic sign"]
    path = espnet_file.parent / "tuned.pth"
    path.write_bytes(client.get(f"/api/models/{tuned['id']}/download").content)
    net, meta = load_model(path)
    assert meta.model_kwargs == {"scale": 0.5} and meta.class_map == STUDY_MAP

    report = client.get(f"/api/jobs/{job.json()['id']}/report.json")
    assert report.status_code == 200
    assert {"before", "after"} <= set(json.loads(report.content))

    # An evaluate job scores the fine-tuned model exactly as the fine-tune job did.
    scored = client.post(
        f"/api/projects/{project['id']}/evaluate", json={"model_ids": [tuned["id"]]}
    ).json()
    assert _run(client, scored["id"], run_evaluation) == "succeeded"
    evaluated = client.get(f"/api/jobs/{scored['id']}").json()["result"]["models"][0]
    assert evaluated["metrics"] == result["test"]["after"]["metrics"]

    export = client.post(f"/api/models/{tuned['id']}/onnx").json()
    assert _run(client, export["id"], run_onnx_export) == "succeeded"
    assert client.get(f"/api/jobs/{export['id']}").json()["result"]["max_abs_diff"] < 1e-3
    session = onnxruntime.InferenceSession(
        client.get(f"/api/models/{tuned['id']}/onnx").content, providers=["CPUExecutionProvider"]
    )
    image = np.random.default_rng(1).integers(0, 255, (H, W, 3), dtype=np.uint8)
    x = normalize(image, meta.mean, meta.std)[None]
    with torch.inference_mode():
        expected = net(x).argmax(1).numpy()
    got = session.run(None, {"image": x.numpy()})[0].argmax(1)
    assert got.shape == (1, H, W) and (got == expected).mean() > 0.999

    frames = client.post(
        f"/api/projects/{project['id']}/images", files=[("files", ("new.png", _png(image)))]
    ).json()
    pre = client.post(
        f"/api/projects/{project['id']}/prelabel", json={"model_id": base["id"]}
    ).json()
    assert pre["params"]["frame_ids"] == [frames[0]["id"]] and frames[0]["id"] not in frame_ids
    assert _run(client, pre["id"], run_prelabel) == "succeeded"
    mask = client.get(f"/api/frames/{frames[0]['id']}/mask")
    assert mask.status_code == 200
    drafted = np.asarray(Image.open(io.BytesIO(mask.content)))
    assert drafted.shape == (H, W) and drafted.max() <= 2  # base classes mapped by name
