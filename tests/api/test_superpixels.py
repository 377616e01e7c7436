"""Superpixels: queued on first use, one job per frame and granularity, cached, roles, 4xx."""

import io

import numpy as np
from PIL import Image

from backend.db import session_scope
from backend.services import superpixels
from backend.services.jobs import create_job
from backend.services.superpixels import run_superpixels
from tests.api.test_review import _member
from worker.runner import run_job

W, H = 64, 48


def _frame(client, pid: int) -> int:
    """A frame of four flat quadrants with a little noise: SLIC must follow their edges."""
    rng = np.random.default_rng(0)
    image = np.zeros((H, W, 3), np.uint8)
    image[: H // 2, : W // 2] = (200, 40, 40)
    image[: H // 2, W // 2 :] = (40, 200, 40)
    image[H // 2 :, : W // 2] = (40, 40, 200)
    image[H // 2 :, W // 2 :] = (220, 220, 220)
    image = np.clip(image + rng.integers(-5, 6, image.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    res = client.post(f"/api/projects/{pid}/images", files=[("files", ("q.png", buf.getvalue()))])
    assert res.status_code == 201, res.text
    return res.json()[0]["id"]


def _run(client, job_id: int) -> str:
    state = client.app.state
    return run_job(job_id, run_superpixels, state.sessions, state.storage, state.settings)


def test_first_use_queues_one_job_then_the_cache_answers(client, project, dispatcher):
    fid = _frame(client, project["id"])
    url = f"/api/frames/{fid}/superpixels"
    missing = client.get(url, params={"granularity": "coarse"})
    assert missing.status_code == 404 and "POST" in missing.json()["detail"]
    first = client.post(url, json={"granularity": "coarse"})
    assert first.status_code == 202, first.text
    job = first.json()["job"]
    assert first.json()["ready"] is False and job["kind"] == "superpixels"
    assert job["params"] == {"frame_id": fid, "granularity": "coarse"}
    # Asking again while it is queued returns the same job and queues nothing more.
    again = client.post(url, json={"granularity": "coarse"})
    assert again.status_code == 202 and again.json()["job"]["id"] == job["id"]
    assert dispatcher.sent == [job["id"]]

    assert _run(client, job["id"]) == "succeeded"
    done = client.get(f"/api/jobs/{job['id']}").json()
    assert done["progress"] == 1.0 and done["result"]["cached"] is False
    res = client.get(url, params={"granularity": "coarse"})
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(res.content)) as image:
        assert image.mode.startswith("I") and image.size == (W, H)
        labels = np.asarray(image)
    assert labels.max() + 1 == done["result"]["count"] == len(np.unique(labels))
    # Every superpixel stays inside one quadrant: SLIC keeps to colour edges.
    quadrant = (np.arange(H)[:, None] >= H // 2) * 2 + (np.arange(W)[None, :] >= W // 2)
    for label in np.unique(labels):
        assert len(np.unique(quadrant[labels == label])) == 1, label

    cached = client.post(url, json={"granularity": "coarse"})
    assert cached.status_code == 200 and cached.json() == {
        "frame_id": fid,
        "granularity": "coarse",
        "ready": True,
        "job": None,
    }
    assert dispatcher.sent == [job["id"]]


def test_granularities_are_cached_apart(client, project, dispatcher):
    fid = _frame(client, project["id"])
    url = f"/api/frames/{fid}/superpixels"
    counts = {}
    for granularity in ("coarse", "fine"):
        job = client.post(url, json={"granularity": granularity}).json()["job"]
        assert _run(client, job["id"]) == "succeeded"
        counts[granularity] = client.get(f"/api/jobs/{job['id']}").json()["result"]["count"]
    assert counts["fine"] > counts["coarse"]
    fine = client.get(url, params={"granularity": "fine"}).content
    coarse = client.get(url, params={"granularity": "coarse"}).content
    assert fine != coarse
    # The default granularity is fine.
    assert client.get(url).content == fine
    assert len(dispatcher.sent) == 2


def test_a_second_run_after_the_file_exists_keeps_it(client, project):
    fid = _frame(client, project["id"])
    url = f"/api/frames/{fid}/superpixels"
    job = client.post(url, json={"granularity": "fine"}).json()["job"]
    assert _run(client, job["id"]) == "succeeded"
    before = client.get(url).content
    # A second job for the same superpixels (two painters raced) finds the file and keeps it.
    with session_scope(client.app.state.sessions) as session:
        params = {"frame_id": fid, "granularity": "fine"}
        second = create_job(session, "superpixels", params, project["id"]).id
    assert _run(client, second) == "succeeded"
    job = {"id": second}
    assert client.get(f"/api/jobs/{job['id']}").json()["result"]["cached"] is True
    assert client.get(url).content == before


def test_bad_requests_get_4xx_before_any_job(client, project, dispatcher):
    fid = _frame(client, project["id"])
    url = f"/api/frames/{fid}/superpixels"
    res = client.post(url, json={"granularity": "medium"})
    assert res.status_code == 422 and "granularity" in res.text
    assert client.get(url, params={"granularity": "medium"}).status_code == 422
    assert client.post(url, json={"granularity": "fine", "n": 3}).status_code == 422
    assert client.post("/api/frames/99999/superpixels", json={}).status_code == 404
    assert dispatcher.sent == []
    assert client.get("/api/jobs", params={"project_id": project["id"]}).json() == []


def test_annotators_compute_viewers_only_read(client, settings, project, dispatcher):
    pid = project["id"]
    fid = _frame(client, pid)
    url = f"/api/frames/{fid}/superpixels"
    viewer = _member(client, settings, pid, "vic@example.org", "viewer")
    annotator = _member(client, settings, pid, "ann@example.org", "annotator")
    assert viewer.post(url, json={}).status_code == 403
    res = annotator.post(url, json={})
    assert res.status_code == 202, res.text
    assert _run(client, res.json()["job"]["id"]) == "succeeded"
    assert viewer.get(url).status_code == 200
    assert viewer.get(url).content == annotator.get(url).content


def test_deleting_the_frame_removes_its_superpixels(client, project, settings):
    fid = _frame(client, project["id"])
    job = client.post(f"/api/frames/{fid}/superpixels", json={}).json()["job"]
    assert _run(client, job["id"]) == "succeeded"
    storage = client.app.state.storage
    keys = [k for k in storage.keys() if k.startswith("superpixels/")]
    assert len(keys) == 1
    token = client.get(f"/api/frames/{fid}/deletion").json()["token"]
    res = client.delete(f"/api/frames/{fid}", params={"token": token})
    assert res.status_code == 200, res.text
    assert not any(k.startswith("superpixels/") for k in storage.keys())


def test_encode_round_trips_through_pillow():
    labels = np.arange(70000, dtype=np.uint32).reshape(200, 350) % 65536
    data = superpixels.encode(labels.astype(np.uint16))
    assert np.array_equal(superpixels.decode(data), labels.astype(np.uint16))


def test_a_cancelled_job_leaves_nothing_and_asking_again_queues_anew(client, project, dispatcher):
    fid = _frame(client, project["id"])
    url = f"/api/frames/{fid}/superpixels"
    job = client.post(url, json={}).json()["job"]
    assert client.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    assert _run(client, job["id"]) == "skipped"
    assert client.get(url).status_code == 404
    again = client.post(url, json={})
    assert again.status_code == 202 and again.json()["job"]["id"] != job["id"]
    assert dispatcher.sent == [job["id"], again.json()["job"]["id"]]
