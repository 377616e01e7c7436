"""Mask propagation: refusals before any work, roles, and the job run on a synthetic video."""

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import update

from backend.db import session_scope
from backend.models import Job, SegModel
from backend.services.sampling import run_sampling
from tests.api.test_model_jobs import model  # noqa: F401 - a registered model fixture
from tests.api.test_review import _member
from tests.labeled import png
from tests.videos import BOX, box_left, make_moving_box_video
from worker.propagation import run_propagation
from worker.runner import run_job

STEP = 3  # video frames between sampled frames
FLICKER = (slice(170, 230), slice(200, 300))


def _run(client, job_id: int, body) -> dict:
    state = client.app.state
    run_job(job_id, body, state.sessions, state.storage, state.settings)
    return client.get(f"/api/jobs/{job_id}").json()


def box_mask(index: int) -> np.ndarray:
    """The truth of sampled video frame `index`: car (1) in the box, background elsewhere."""
    top, height, width = BOX
    mask = np.zeros((240, 320), np.uint8)
    mask[top : top + height, box_left(index) : box_left(index) + width] = 1
    return mask


def _labels(client, frame_id: int) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(client.get(f"/api/frames/{frame_id}/mask").content)))


def _sources(client, frame_id: int) -> list[str]:
    return [v["source"] for v in client.get(f"/api/frames/{frame_id}/masks").json()]


def _put(client, frame_id: int, mask: np.ndarray, version: int = 0) -> None:
    res = client.put(
        f"/api/frames/{frame_id}/mask",
        content=png(mask, "L"),
        headers={"If-Match": f'"{version}"', "Content-Type": "image/png"},
    )
    assert res.status_code == 200, res.text


def video_frames(client, project_id: int, tmp_path, **video_kw) -> list[dict]:
    """Sampled frames (every STEP-th) of a moving-box clip, in video order."""
    path = make_moving_box_video(tmp_path / "box.mp4", frames=16, **video_kw)
    with open(path, "rb") as fh:
        video = client.post(
            f"/api/projects/{project_id}/videos", files={"file": ("box.mp4", fh)}
        ).json()
    job = client.post(f"/api/videos/{video['id']}/sample", json={"every_n_frames": STEP}).json()
    assert _run(client, job["id"], run_sampling)["status"] == "succeeded"
    frames = client.get(f"/api/projects/{project_id}/frames").json()
    return sorted((f for f in frames if f["video_id"] == video["id"]), key=lambda f: f["index"])


def iou(got: np.ndarray, truth: np.ndarray) -> float:
    """IoU of the car class."""
    return ((got == 1) & (truth == 1)).sum() / ((got == 1) | (truth == 1)).sum()


@pytest.fixture
def clip(client, project, tmp_path) -> list[dict]:
    """The clip's sampled frames; the first one labeled by a person."""
    frames = video_frames(client, project["id"], tmp_path)
    _put(client, frames[0]["id"], box_mask(frames[0]["index"]))
    return frames


def test_bad_requests_are_refused_before_any_job(client, project, clip, model):  # noqa: F811
    url = f"/api/frames/{clip[0]['id']}/propagate"
    image = client.post(
        f"/api/projects/{project['id']}/images", files=[("files", ("a.png", png(box_mask(0))))]
    ).json()[0]
    _put(client, image["id"], box_mask(0))
    cases = [
        (f"/api/frames/{clip[1]['id']}/propagate", {}, 422, "has no mask yet"),
        (f"/api/frames/{image['id']}/propagate", {}, 422, "imported image"),
        (url, {"count": 0}, 422, "count"),
        (url, {"count": 51}, 422, "count"),
        (url, {"direction": "sideways"}, 422, "direction"),
        (url, {"direction": "backward"}, 422, "No sampled frame of this video comes before"),
        (url, {"model_id": 9999}, 404, "9999"),
        ("/api/frames/9999/propagate", {}, 404, "9999"),
    ]
    for path, body, status, text in cases:
        res = client.post(path, json=body)
        assert res.status_code == status, (body, res.text)
        assert text in res.text, (body, res.text)
    with session_scope(client.app.state.sessions) as session:  # as if it were still registering
        session.execute(update(SegModel).values(status="registering"))
    res = client.post(url, json={"model_id": model["id"]})
    assert res.status_code == 422 and "not ready" in res.text
    kinds = [j["kind"] for j in client.get("/api/jobs").json()]
    assert "propagate" not in kinds


def test_annotators_may_propagate_viewers_may_not(client, settings, project, clip, dispatcher):
    url = f"/api/frames/{clip[0]['id']}/propagate"
    viewer = _member(client, settings, project["id"], "vic@example.org", "viewer")
    annotator = _member(client, settings, project["id"], "ann@example.org", "annotator")
    assert viewer.post(url, json={"count": 2}).status_code == 403
    res = annotator.post(url, json={"count": 2})
    assert res.status_code == 202, res.text
    job = res.json()
    assert job["kind"] == "propagate" and job["queue"] == "cpu"
    assert job["params"]["chains"] == {"forward": [clip[1]["id"], clip[2]["id"]]}
    assert dispatcher.sent[-1] == job["id"]


def test_drafts_follow_the_motion_and_keep_a_persons_mask(client, clip):
    kept = box_mask(clip[2]["index"])
    _put(client, clip[2]["id"], kept)  # a person's mask on the way: kept, and the chain goes on
    job = client.post(f"/api/frames/{clip[0]['id']}/propagate", json={"count": 4}).json()
    done = _run(client, job["id"], run_propagation)
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["saved"] == 3 and result["skipped"] == 1
    assert result["frames"][1] == {
        "frame_id": clip[2]["id"],
        "saved": False,
        "reason": "human-edited mask kept",
    }
    assert np.array_equal(_labels(client, clip[2]["id"]), kept)
    for frame in (clip[1], clip[3], clip[4]):
        got = _labels(client, frame["id"])
        truth = box_mask(frame["index"])
        # The box moved 6 px a step; a copy of the first mask would score about 0.6 here.
        assert iou(got, truth) > 0.85, frame
        assert iou(got, truth) > iou(box_mask(clip[0]["index"]), truth) + 0.1
        assert _sources(client, frame["id"]) == ["propagation"]
        assert client.get(f"/api/frames/{frame['id']}").json()["draft"] is True
    # Where the box uncovered the background, the flow check fails: left unlabeled.
    uncovered = slice(box_left(clip[0]["index"]) + 1, box_left(clip[1]["index"]) - 1)
    trail = _labels(client, clip[1]["id"])[BOX[0] + 10 : BOX[0] + 50, uncovered]
    assert (trail == 255).mean() > 0.8
    assert _sources(client, clip[0]["id"]) == ["painter"]
    # A draft may be replaced by a newer propagation; overwrite=true replaces a person's too.
    again = client.post(
        f"/api/frames/{clip[0]['id']}/propagate", json={"count": 2, "overwrite": True}
    ).json()
    assert _run(client, again["id"], run_propagation)["result"]["saved"] == 2
    assert _sources(client, clip[2]["id"]) == ["propagation", "painter"]


def test_unreliable_flow_falls_back_to_unlabeled_or_the_model(
    client,
    project,
    tmp_path,
    model,  # noqa: F811
):
    from worker.ml.checkpoints import load_model
    from worker.ml.evaluate import predict
    from worker.ml.runtime import resolve_device

    frames = video_frames(client, project["id"], tmp_path, flicker=FLICKER)
    assert (frames[1]["index"] - frames[0]["index"]) % 2  # the flicker turned dark or bright
    first = box_mask(frames[0]["index"])
    _put(client, frames[0]["id"], first)
    url = f"/api/frames/{frames[0]['id']}/propagate"
    plain = client.post(url, json={"count": 1}).json()
    assert _run(client, plain["id"], run_propagation)["status"] == "succeeded"
    target = frames[1]["id"]
    flicker = _labels(client, target)[FLICKER]
    assert (flicker == 255).mean() > 0.7  # the labeled background there could not be carried
    assert (_labels(client, target)[:60, :] == 0).mean() > 0.95  # still background elsewhere

    job = client.post(url, json={"count": 1, "model_id": model["id"]}).json()
    assert job["queue"] == "gpu"
    done = _run(client, job["id"], run_propagation)
    assert done["status"] == "succeeded", done
    got = _labels(client, target)
    image = np.asarray(
        Image.open(io.BytesIO(client.get(f"/api/frames/{target}/image").content)).convert("RGB")
    )
    net, meta = load_model(model["path"])
    predicted = predict(net, image, meta.mean, meta.std, resolve_device("auto"))
    filled = flicker == 255  # where the flow-only draft had nothing
    assert (got[FLICKER] != 255).all()
    assert np.array_equal(got[FLICKER][filled], predicted[FLICKER][filled])
    assert _sources(client, target) == ["propagation", "propagation"]


def test_the_chain_stops_where_the_frames_no_longer_match(client, project, tmp_path):
    frames = video_frames(client, project["id"], tmp_path, flicker=(slice(None), slice(None)))
    _put(client, frames[0]["id"], box_mask(frames[0]["index"]))
    job = client.post(f"/api/frames/{frames[0]['id']}/propagate", json={"count": 2}).json()
    done = _run(client, job["id"], run_propagation)
    assert done["status"] == "succeeded", done
    assert [f["reason"] for f in done["result"]["frames"]] == ["flow lost", "flow lost"]
    assert all(
        client.get(f"/api/frames/{f['id']}").json()["mask_version"] == 0 for f in frames[1:3]
    )


def test_a_cancelled_job_writes_nothing(client, clip):
    job = client.post(f"/api/frames/{clip[0]['id']}/propagate", json={"count": 3}).json()
    with session_scope(client.app.state.sessions) as session:
        session.execute(update(Job).where(Job.id == job["id"]).values(cancel_requested=True))
    assert _run(client, job["id"], run_propagation)["status"] == "cancelled"
    for frame in clip[1:4]:
        assert client.get(f"/api/frames/{frame['id']}").json()["mask_version"] == 0
