"""Pre-label drafts and ONNX export, run through the job runner on a registered model."""

import io

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from tests.api.test_frames import _png
from worker.ml.checkpoints import ModelMeta, load_model, save_checkpoint
from worker.ml.data import normalize
from worker.ml.models import build_model
from worker.ml.presets import default_class_map
from worker.onnx_export import run_onnx_export
from worker.prelabel import run_prelabel
from worker.registration import run_registration
from worker.runner import run_job

CLASSES = [
    {"index": 0, "name": "background", "color": [0, 0, 0]},
    {"index": 1, "name": "car", "color": [0, 0, 255]},
    {"index": 2, "name": "traffic sign", "color": [255, 255, 0]},
]


def _run(client, job_id, body):
    state = client.app.state
    return run_job(job_id, body, state.sessions, state.storage, state.settings)


@pytest.fixture
def model(client, dispatcher, tmp_path) -> dict:
    """A registered SegTune checkpoint whose classes are the project's."""
    torch.manual_seed(1)
    net = build_model("deeplabv3plus_mobilenet", 3, 16)
    path = save_checkpoint(
        tmp_path / "m.pth", net, ModelMeta("deeplabv3plus_mobilenet", 16, CLASSES)
    )
    with open(path, "rb") as fh:
        row = client.post("/api/models", files={"file": ("m.pth", fh)}).json()
    assert _run(client, dispatcher.sent[-1], run_registration) == "succeeded"
    row["path"] = path
    return row


def test_default_class_map_by_name():
    source = [{"name": n} for n in ("road", "Car", "traffic sign", "sky")]
    assert default_class_map(source, ["background", "car", "traffic sign"]) == [0, 1, 2, 0]


def test_prelabel_never_hides_human_work_unless_asked(client, dispatcher, project, model):
    frames = client.post(
        f"/api/projects/{project['id']}/images",
        files=[("files", ("a.png", _png(64, 48))), ("files", ("b.png", _png(64, 48, (200, 9, 9))))],
    ).json()
    human = np.zeros((48, 64), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(human, mode="L").save(buf, format="PNG")
    client.put(
        f"/api/frames/{frames[1]['id']}/mask",
        content=buf.getvalue(),
        headers={"If-Match": '"0"', "Content-Type": "image/png"},
    )
    url = f"/api/projects/{project['id']}/prelabel"
    job = client.post(url, json={"model_id": model["id"]}).json()
    assert job["params"]["frame_ids"] == [frames[0]["id"]]
    assert _run(client, job["id"], run_prelabel) == "succeeded"
    assert client.get(f"/api/jobs/{job['id']}").json()["result"]["saved"] == 1
    assert [v["source"] for v in client.get(f"/api/frames/{frames[0]['id']}/masks").json()] == [
        "prelabel"
    ]
    assert client.get(f"/api/frames/{frames[0]['id']}").json()["draft"] is True

    ids = [f["id"] for f in frames]
    keep = client.post(url, json={"model_id": model["id"], "frame_ids": ids}).json()
    _run(client, keep["id"], run_prelabel)
    outcome = client.get(f"/api/jobs/{keep['id']}").json()["result"]["frames"]
    assert outcome[1] == {"frame_id": ids[1], "saved": False, "reason": "human-edited mask kept"}
    assert client.get(f"/api/frames/{ids[1]}").json()["mask_version"] == 1

    force = client.post(
        url, json={"model_id": model["id"], "frame_ids": [ids[1]], "overwrite": True}
    )
    _run(client, force.json()["id"], run_prelabel)
    versions = client.get(f"/api/frames/{ids[1]}/masks").json()
    assert [v["source"] for v in versions] == ["prelabel", "painter"]  # the human one is kept


def test_prelabel_rejects_foreign_frames(client, project, model):
    res = client.post(
        f"/api/projects/{project['id']}/prelabel",
        json={"model_id": model["id"], "frame_ids": [999]},
    )
    assert res.status_code == 422 and "999" in res.json()["detail"]


def test_onnx_export_predicts_like_torch(client, model):
    assert client.get(f"/api/models/{model['id']}/onnx").status_code == 404
    job = client.post(f"/api/models/{model['id']}/onnx").json()
    assert _run(client, job["id"], run_onnx_export) == "succeeded"
    assert client.get(f"/api/jobs/{job['id']}").json()["result"]["max_abs_diff"] < 1e-3
    data = client.get(f"/api/models/{model['id']}/onnx").content
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    net, meta = load_model(model["path"])
    image = np.random.default_rng(0).integers(0, 255, (75, 101, 3), dtype=np.uint8)
    x = normalize(image, meta.mean, meta.std)[None]
    with torch.inference_mode():
        expected = net(x).argmax(1).numpy()
    got = session.run(None, {"image": x.numpy()})[0].argmax(1)
    assert got.shape == (1, 75, 101)
    assert (got == expected).mean() > 0.999
