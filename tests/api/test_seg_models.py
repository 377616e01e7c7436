"""Registering checkpoints: upload, inspection by the worker body, listing and download."""

import hashlib

import pytest
import torch

from worker.ml.models import build_model
from worker.registration import run_registration
from worker.runner import run_job


@pytest.fixture(scope="module")
def public_checkpoint(tmp_path_factory):
    """A file shaped like DeepLabV3Plus-Pytorch's Cityscapes release (weights in model_state)."""
    model = build_model("deeplabv3plus_mobilenet", 19, 16)
    path = tmp_path_factory.mktemp("ckpt") / "best_deeplabv3plus_mobilenet_cityscapes_os16.pth"
    torch.save({"model_state": model.state_dict(), "cur_itrs": 30000, "best_score": 0.72}, path)
    return path


def _register(client, path, **fields):
    with open(path, "rb") as fh:
        return client.post("/api/models", files={"file": (path.name, fh)}, data=fields)


def _run(client, job_id):
    state = client.app.state
    return run_job(job_id, run_registration, state.sessions, state.storage, state.settings)


def test_register_public_checkpoint(client, dispatcher, public_checkpoint):
    res = _register(client, public_checkpoint, preset="cityscapes19", name="Cityscapes MNv2")
    assert res.status_code == 202, res.text
    model = res.json()
    assert model["status"] == "pending"
    assert model["sha256"] == hashlib.sha256(public_checkpoint.read_bytes()).hexdigest()
    assert _run(client, dispatcher.sent[-1]) == "succeeded"
    ready = client.get(f"/api/models/{model['id']}").json()
    assert ready["status"] == "ready"
    assert ready["architecture"] == "deeplabv3plus_mobilenet" and ready["output_stride"] == 16
    assert [c["name"] for c in ready["classes"]][13] == "car"
    assert ready["classes"][7]["color"] == "#dcdc00"
    download = client.get(f"/api/models/{model['id']}/download")
    assert download.content == public_checkpoint.read_bytes()
    assert [m["id"] for m in client.get("/api/models").json()] == [model["id"]]


def test_garbage_checkpoint_fails_with_reason(client, dispatcher, tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"definitely not a torch file")
    model = _register(client, path).json()
    assert _run(client, dispatcher.sent[-1]) == "failed"
    row = client.get(f"/api/models/{model['id']}").json()
    assert row["status"] == "failed" and "cannot be used" in row["error"]
    job = client.get(f"/api/jobs/{dispatcher.sent[-1]}").json()
    assert "cannot be used" in job["error"]


def test_wrong_class_count_for_preset_fails(client, dispatcher, tmp_path):
    path = tmp_path / "three.pth"
    torch.save({"model_state": build_model("deeplabv3plus_mobilenet", 3, 16).state_dict()}, path)
    model = _register(client, path, preset="cityscapes19").json()
    assert _run(client, dispatcher.sent[-1]) == "failed"
    assert "classes" in client.get(f"/api/models/{model['id']}").json()["error"]


@pytest.mark.parametrize(
    "fields,needle",
    [
        ({"architecture": "vgg"}, "architecture"),
        ({"preset": "ade20k"}, "preset"),
        ({"output_stride": "4"}, "output_stride"),
        ({"project_id": "x"}, "integer"),
        ({"sha256": "00" * 32}, "SHA-256 mismatch"),
    ],
)
def test_bad_registration_fields(client, tmp_path, settings, fields, needle):
    path = tmp_path / "m.pth"
    path.write_bytes(b"x" * 100)
    res = _register(client, path, **fields)
    assert res.status_code == 422 and needle in res.json()["detail"]
    assert client.get("/api/models").json() == []
    assert not list((settings.data_path / "media" / "models").rglob("*.pth"))
