"""Suggestions: refusals before any work, roles, and the ranking job run in-process."""

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.db import session_scope
from backend.models import Job, SegModel
from tests.accounts import add_user, bearer
from tests.api.test_model_jobs import model  # noqa: F401 - a registered model fixture
from tests.api.test_review import _member
from tests.labeled import png
from worker.runner import run_job
from worker.suggestions import run_suggestions

H, W = 48, 64


def _run(client, job_id: int) -> dict:
    state = client.app.state
    run_job(job_id, run_suggestions, state.sessions, state.storage, state.settings)
    return client.get(f"/api/jobs/{job_id}").json()


def _put(client, frame_id: int, version: int = 0) -> None:
    mask = np.zeros((H, W), np.uint8)
    mask[10:20, 10:30] = 1
    res = client.put(
        f"/api/frames/{frame_id}/mask",
        content=png(mask, "L"),
        headers={"If-Match": f'"{version}"', "Content-Type": "image/png"},
    )
    assert res.status_code == 200, res.text


@pytest.fixture
def frames(client, project) -> list[dict]:
    """Six noisy pictures named one second apart (30 frame numbers); the first one labeled."""
    rng = np.random.default_rng(0)
    files = [
        ("files", (f"f{30 * i:05d}.png", png(rng.integers(0, 255, (H, W, 3), np.uint8))))
        for i in range(6)
    ]
    made = client.post(f"/api/projects/{project['id']}/images", files=files).json()
    _put(client, made[0]["id"])
    return made


def _finetune_of(project_id: int, client, model_id: int) -> None:
    """Make the registered model pass for the project's fine-tune (kind and owner)."""
    with session_scope(client.app.state.sessions) as session:
        session.execute(
            update(SegModel)
            .where(SegModel.id == model_id)
            .values(kind="finetuned", project_id=project_id)
        )


def test_bad_requests_are_refused_before_any_job(client, project, frames, model):  # noqa: F811
    url = f"/api/projects/{project['id']}/suggestions"
    res = client.post(url, json={})
    assert res.status_code == 422 and "no ready fine-tuned model" in res.text
    given = {"model_id": model["id"]}
    cases = [
        ({**given, "count": 0}, 422, "count must be from 1 to 200"),
        ({**given, "count": 201}, 422, "count must be from 1 to 200"),
        ({**given, "split": "holdout"}, 422, "split must be one of train, val, test"),
        ({**given, "split": "test"}, 422, "No unlabeled frames in the test split"),
        ({**given, "measure": "variance"}, 422, "measure"),
        ({**given, "gap_s": -1}, 422, "gap_s"),
        ({**given, "class_map": [0, 1]}, 422, "needs 3 entries"),
        ({"model_id": 9999}, 404, "9999"),
    ]
    for body, status, text in cases:
        res = client.post(url, json=body)
        assert res.status_code == status, (body, res.text)
        assert text in res.text, (body, res.text)
    assert client.post("/api/projects/9999/suggestions", json=given).status_code == 404
    with session_scope(client.app.state.sessions) as session:  # as if it were still registering
        session.execute(update(SegModel).values(status="pending"))
    res = client.post(url, json=given)
    assert res.status_code == 422 and "not ready" in res.text
    with session_scope(client.app.state.sessions) as session:
        session.execute(update(SegModel).values(status="ready"))
    for frame in frames[1:]:
        _put(client, frame["id"])
    res = client.post(url, json=given)
    assert res.status_code == 422 and "No unlabeled frames in this project" in res.text
    assert "suggest" not in [j["kind"] for j in client.get("/api/jobs").json()]


def test_annotators_may_suggest_viewers_may_not_strangers_see_nothing(
    client,
    settings,
    project,
    frames,
    dispatcher,
    model,  # noqa: F811
):
    pid = project["id"]
    url = f"/api/projects/{pid}/suggestions"
    _finetune_of(pid, client, model["id"])
    viewer = _member(client, settings, pid, "vic@example.org", "viewer")
    annotator = _member(client, settings, pid, "ann@example.org", "annotator")
    stranger = TestClient(client.app)
    stranger.headers.update(bearer(add_user(settings, "sam@example.org")))
    assert viewer.post(url, json={}).status_code == 403
    assert viewer.get(url).status_code == 200
    assert stranger.post(url, json={}).status_code == 404
    assert stranger.get(url).status_code == 404
    res = annotator.post(url, json={"count": 3})
    assert res.status_code == 202, res.text
    job = res.json()
    assert job["kind"] == "suggest" and job["queue"] == "gpu"
    assert job["params"]["model_id"] == model["id"]  # the newest fine-tune by default
    assert job["params"]["frame_ids"] == [f["id"] for f in frames[1:]]
    assert dispatcher.sent[-1] == job["id"]
    # A model of a project the caller cannot read is answered as missing.
    other = stranger.post("/api/projects", json={"name": "sam's"}).json()
    _finetune_of(other["id"], client, model["id"])
    res = annotator.post(url, json={"model_id": model["id"]})
    assert res.status_code == 404 and str(model["id"]) in res.text


def test_the_ranking_skips_neighbours_and_marks_frames_labeled_since(
    client,
    project,
    frames,
    model,  # noqa: F811
):
    url = f"/api/projects/{project['id']}/suggestions"
    assert client.get(url).json()["frames"] == []
    job = client.post(url, json={"model_id": model["id"], "count": 5, "gap_s": 2}).json()
    done = _run(client, job["id"])
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["scored"] == 5 and result["rule"] == "time"
    ranked = result["frames"]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4, 5]
    assert sorted(r["frame_id"] for r in ranked) == [f["id"] for f in frames[1:]]
    # One second from the labeled frame: chosen only after every frame far enough.
    neighbour = next(r for r in ranked if r["frame_id"] == frames[1]["id"])
    assert "within 2 s" in neighbour["reason"]
    assert all(r["score"] >= 0 and r["rare_weight"] > 0 for r in ranked)
    top = ranked[0]["frame_id"]
    _put(client, top)
    got = client.get(url).json()
    assert got["job_id"] == job["id"] and got["active_job_id"] is None
    assert [(r["frame_id"], r["stale"]) for r in got["frames"]][:2] == [
        (top, True),
        (ranked[1]["frame_id"], False),
    ]
    # The next job no longer scores the frame labeled since.
    again = client.post(url, json={"model_id": model["id"], "count": 2}).json()
    assert top not in again["params"]["frame_ids"]
    assert client.get(url).json()["active_job_id"] == again["id"]


def test_a_cancelled_job_leaves_the_previous_ranking(client, project, frames, model):  # noqa: F811
    url = f"/api/projects/{project['id']}/suggestions"
    first = client.post(url, json={"model_id": model["id"], "count": 2}).json()
    assert _run(client, first["id"])["status"] == "succeeded"
    job = client.post(url, json={"model_id": model["id"], "count": 4}).json()
    with session_scope(client.app.state.sessions) as session:
        session.execute(update(Job).where(Job.id == job["id"]).values(cancel_requested=True))
    done = _run(client, job["id"])
    assert done["status"] == "cancelled" and done["result"] is None
    got = client.get(url).json()
    assert got["job_id"] == first["id"] and len(got["frames"]) == 2
