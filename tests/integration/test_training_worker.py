"""Register a base model, fine-tune and evaluate through real worker processes."""

import pytest

from tests import http
from tests.labeled import labeled_project, random_checkpoint, register_base

pytestmark = pytest.mark.integration


def test_register_train_evaluate(live_server, tmp_path):
    url = live_server.url
    project_id = labeled_project(url)
    base = register_base(live_server, random_checkpoint(tmp_path / "base.pth"))
    assert base["status"] == "ready"

    body = {"base_model_id": base["id"], "preset": "quick", "iterations": 3, "crop_size": 48}
    job = http.post(f"{url}/api/projects/{project_id}/train", json=body).json()
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

    model = http.get(f"{url}/api/models/{result['model_id']}").json()
    assert model["kind"] == "finetuned" and model["base_model_id"] == base["id"]
    evaluation = http.post(
        f"{url}/api/projects/{project_id}/evaluate", json={"model_ids": [result["model_id"]]}
    ).json()
    scored = live_server.wait_job(evaluation["id"], timeout=120)
    assert scored["status"] == "succeeded", scored["error"]
    # The evaluate job and the train job's "after" score the same model on the same frames.
    assert scored["result"]["models"][0]["confusion"] == result["test"]["after"]["confusion"]
