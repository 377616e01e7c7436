"""One mapping per comparison, run for real: a tiny fine-tune through the worker body, then an
evaluation of its base next to it scores the base exactly as the fine-tune's "before"."""

import pytest
import torch

from tests.api.test_espnetv2_models import _labeled_project
from tests.labeled import random_checkpoint
from worker.evaluation import run_evaluation
from worker.ml.presets import PRESETS, default_class_map
from worker.registration import run_registration
from worker.runner import run_job
from worker.training import run_training

CITY = PRESETS["cityscapes19"]
T1 = default_class_map(CITY, ["background", "car", "traffic sign"])  # traffic light: background
T2 = [2 if c["name"] == "traffic light" else t for c, t in zip(CITY, T1, strict=True)]


def _leaning_base(path):
    """A random base that says "traffic light" often, so that how it is mapped shows."""
    random_checkpoint(path)
    checkpoint = torch.load(path)
    checkpoint["model_state"]["classifier.classifier.3.bias"][6] += 2.0
    torch.save(checkpoint, path)
    return path


def _run(client, job_id, body) -> str:
    state = client.app.state
    return run_job(job_id, body, state.sessions, state.storage, state.settings)


@pytest.fixture
def tuned(client, dispatcher, project, tmp_path) -> dict:
    """A registered 19-class base and a 2-iteration fine-tune of it trained with T2."""
    with open(_leaning_base(tmp_path / "base.pth"), "rb") as fh:
        res = client.post("/api/models", files={"file": ("base.pth", fh)},
                          data={"preset": "cityscapes19", "name": "city base"})  # fmt: skip
    assert _run(client, dispatcher.sent[-1], run_registration) == "succeeded"
    base = res.json()["id"]
    _labeled_project(client, project)
    body = {"base_model_id": base, "preset": "quick", "iterations": 2, "crop_size": 64,
            "class_map": T2, "device": "cpu"}  # fmt: skip
    job = client.post(f"/api/projects/{project['id']}/train", json=body).json()
    assert _run(client, job["id"], run_training) == "succeeded"
    result = client.get(f"/api/jobs/{job['id']}").json()["result"]
    return {"base": base, "job": job["id"], "result": result, "model": result["model_id"]}


def test_the_evaluated_base_is_exactly_the_fine_tunes_before(client, project, tuned):
    model = client.get(f"/api/models/{tuned['model']}").json()
    assert model["class_map"] == T2 and model["base_model_id"] == tuned["base"]
    assert model["train_job_id"] == tuned["job"] and model["project_id"] == project["id"]
    assert model["project_name"] == project["name"]
    assert model["base_class_names"] == [c["name"] for c in CITY]

    res = client.post(
        f"/api/projects/{project['id']}/evaluate", json={"model_ids": [tuned["base"], model["id"]]}
    )
    assert res.status_code == 202, res.text
    mapping = res.json()["params"]["mappings"][str(tuned["base"])]
    assert mapping["source"] == "lineage" and mapping["via"] == model["id"]
    assert _run(client, res.json()["id"], run_evaluation) == "succeeded"
    evaluated = client.get(f"/api/jobs/{res.json()['id']}").json()["result"]
    before, after = tuned["result"]["test"]["before"], tuned["result"]["test"]["after"]
    assert evaluated["test_frame_ids"] == tuned["result"]["test_frame_ids"]
    assert evaluated["models"][0]["frame_confusions"] == before["frame_confusions"]
    assert evaluated["models"][1]["frame_confusions"] == after["frame_confusions"]
    assert evaluated["models"][0]["class_map"] == before["class_map"] == T2

    train_report = client.get(f"/api/jobs/{tuned['job']}/report").json()
    compare_report = client.get(f"/api/jobs/{res.json()['id']}/report").json()
    assert compare_report["before"] == train_report["before"]
    assert compare_report["after"] == train_report["after"]
    shown = compare_report["mappings"]
    assert shown["before"]["source"] == "lineage" and shown["before"]["class_map"] == T2
    assert shown["before"]["via_model_id"] == model["id"] and shown["differs"] == []
    assert shown["after"]["source"] == "direct"
    assert train_report["mappings"]["before"]["source"] == "training"
    assert train_report["mappings"]["before"]["groups"] == shown["before"]["groups"]
    assert "traffic light" in shown["before"]["groups"]["traffic sign"]


def test_a_differing_mapping_is_refused_then_confirmed_and_flagged(
    client, dispatcher, project, tuned
):
    url = f"/api/projects/{project['id']}/evaluate"
    body = {"model_ids": [tuned["base"], tuned["model"]], "class_maps": {str(tuned["base"]): T1}}
    queued = list(dispatcher.sent)
    refused = client.post(url, json=body)
    assert refused.status_code == 422, refused.text
    assert "traffic sign (traffic light only with model" in refused.json()["detail"]
    assert dispatcher.sent == queued
    job = client.post(url, json={**body, "confirm_mapping_differs": True})
    assert job.status_code == 202, job.text
    assert _run(client, job.json()["id"], run_evaluation) == "succeeded"
    # On these frames the by-name map scores the base differently: the default above matters.
    scored = client.get(f"/api/jobs/{job.json()['id']}").json()["result"]["models"][0]
    assert scored["frame_confusions"] != tuned["result"]["test"]["before"]["frame_confusions"]
    report = client.get(f"/api/jobs/{job.json()['id']}/report").json()
    assert report["mappings"]["before"]["source"] == "given"
    assert report["mappings"]["before"]["class_map"] == T1
    assert report["mappings"]["differs"][0]["classes"] == ["background", "traffic sign"]
    page = client.get(f"/api/jobs/{job.json()['id']}/report.html").text
    assert "The two models map classes differently" in page
    assert "the class map given with the request" in page
