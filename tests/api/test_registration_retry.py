"""Registering a public checkpoint with the form's defaults: the class preset comes from the head
size, a wrong one names the preset that fits, and a failed registration is retried with other
options (deleting one is the models' DELETE route).

The checkpoints are small synthetic files in the public layouts (no ../shared needed).
"""

import pytest
import torch

from tests.accounts import add_user, bearer
from worker.ml.models import build_model
from worker.registration import run_registration
from worker.runner import run_job


def _run(client, job_id):
    state = client.app.state
    return run_job(job_id, run_registration, state.sessions, state.storage, state.settings)


def _register(client, path, **fields) -> dict:
    with open(path, "rb") as fh:
        res = client.post("/api/models", files={"file": (path.name, fh)}, data=fields)
    assert res.status_code == 202, res.text
    return res.json()


@pytest.fixture(scope="module")
def espnet_file(tmp_path_factory):
    """A bare state dict in the EdgeNets layout with the public files' 20 outputs."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "espnetv2_s_0.5_city.pth"
    torch.save(build_model("espnetv2", 20, scale=0.5).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def deeplab_file(tmp_path_factory):
    """A DeepLabV3Plus-Pytorch style file ({model_state: ...}) with 19 outputs."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "deeplab_city.pth"
    torch.save({"model_state": build_model("deeplabv3plus_mobilenet", 19, 16).state_dict()}, path)
    return path


@pytest.mark.parametrize(
    "name,preset,last_class",
    [("espnet_file", "cityscapes20", "void"), ("deeplab_file", "cityscapes19", "bicycle")],
)
def test_the_default_detects_the_preset_from_the_head_size(
    client, dispatcher, request, name, preset, last_class
):
    # The form's defaults send no preset, architecture or stride.
    model = _register(client, request.getfixturevalue(name))
    assert _run(client, dispatcher.sent[-1]) == "succeeded"
    row = client.get(f"/api/models/{model['id']}").json()
    assert row["status"] == "ready" and row["preset"] == preset
    assert row["classes"][13]["name"] == "car" and row["classes"][-1]["name"] == last_class


def test_a_head_no_preset_fits_gets_numbered_classes(client, dispatcher, tmp_path):
    path = tmp_path / "three.pth"
    torch.save(build_model("espnetv2", 3, scale=0.5).state_dict(), path)
    model = _register(client, path)
    assert _run(client, dispatcher.sent[-1]) == "succeeded"
    row = client.get(f"/api/models/{model['id']}").json()
    assert row["preset"] is None and [c["name"] for c in row["classes"]] == [
        "class 0",
        "class 1",
        "class 2",
    ]


def test_a_wrong_preset_names_the_one_that_fits(client, dispatcher, espnet_file):
    model = _register(client, espnet_file, preset="cityscapes19")
    assert _run(client, dispatcher.sent[-1]) == "failed"
    error = client.get(f"/api/models/{model['id']}").json()["error"]
    assert "file has 20 classes, 19 were given" in error
    assert "The preset that fits is cityscapes20" in error


def test_a_failed_registration_is_retried_with_other_options(client, dispatcher, espnet_file):
    model = _register(client, espnet_file, preset="cityscapes19", architecture="espnetv2")
    first_job = dispatcher.sent[-1]
    assert _run(client, first_job) == "failed"
    res = client.post(f"/api/models/{model['id']}/retry", json={"preset": "cityscapes20"})
    assert res.status_code == 202, res.text
    assert res.json()["status"] == "pending" and res.json()["error"] is None
    # A new job checks the same stored file; the row keeps its id and file.
    assert dispatcher.sent[-1] != first_job
    job = client.get(f"/api/jobs/{dispatcher.sent[-1]}").json()
    assert job["kind"] == "register_model" and job["params"] == {"model_id": model["id"]}
    assert _run(client, dispatcher.sent[-1]) == "succeeded"
    row = client.get(f"/api/models/{model['id']}").json()
    assert row["status"] == "ready" and row["preset"] == "cityscapes20"
    assert row["sha256"] == model["sha256"] and len(row["classes"]) == 20
    # Only a failed registration is retried.
    again = client.post(f"/api/models/{model['id']}/retry", json={})
    assert again.status_code == 409 and "only a failed registration" in again.text


@pytest.mark.parametrize(
    "body,needle",
    [
        ({"preset": "ade20k"}, "preset"),
        ({"architecture": "vgg"}, "architecture"),
        ({"output_stride": 4}, "output_stride"),
        ({"classes": 3}, "extra"),
    ],
)
def test_bad_retry_options_are_422_before_any_job(client, dispatcher, espnet_file, body, needle):
    model = _register(client, espnet_file, preset="cityscapes19")
    assert _run(client, dispatcher.sent[-1]) == "failed"
    sent = len(dispatcher.sent)
    res = client.post(f"/api/models/{model['id']}/retry", json=body)
    assert res.status_code == 422 and needle in res.text.lower()
    assert len(dispatcher.sent) == sent
    assert client.get(f"/api/models/{model['id']}").json()["status"] == "failed"


def test_only_an_owner_or_admin_retries(client, settings, dispatcher, espnet_file, project):
    model = _register(client, espnet_file, preset="cityscapes19", project_id=str(project["id"]))
    assert _run(client, dispatcher.sent[-1]) == "failed"
    shared = _register(client, espnet_file, preset="cityscapes19")
    assert _run(client, dispatcher.sent[-1]) == "failed"
    viewer = client.__class__(client.app)
    viewer.headers.update(bearer(add_user(settings, "vera@example.org")))
    added = client.put(
        f"/api/projects/{project['id']}/members",
        json={"email": "vera@example.org", "role": "viewer"},
    )
    assert added.status_code == 200
    assert viewer.post(f"/api/models/{model['id']}/retry", json={}).status_code == 403
    # A shared model is changed by administrators only.
    assert viewer.post(f"/api/models/{shared['id']}/retry", json={}).status_code == 403
    assert client.get(f"/api/models/{model['id']}").json()["status"] == "failed"
