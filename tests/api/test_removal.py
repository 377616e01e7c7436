"""Deleting and renaming projects, videos, frames and models: previews, jobs, files, reports."""

import io
import re

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from backend.db import session_scope
from backend.models import Frame, Job, Mask, SegModel, Video
from backend.services import removal
from backend.services.fsck import check_storage
from backend.services.jobs import create_job
from backend.services.sampling import run_sampling
from tests.api.test_frames import _png
from tests.api.test_model_lineage import _as
from tests.videos import make_video
from worker.runner import run_job


def _mask(width=40, height=30, value=1) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width), value, np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _images(client, pid, n=2) -> list[dict]:
    files = [("files", (f"street{i}.png", _png(40, 30))) for i in range(n)]
    res = client.post(f"/api/projects/{pid}/images", files=files)
    assert res.status_code == 201, res.text
    return res.json()


def _label(client, frame_id) -> None:
    frame = client.get(f"/api/frames/{frame_id}").json()
    headers = {"Content-Type": "image/png", "If-Match": f'"{frame["mask_version"]}"'}
    data = _mask(frame["width"], frame["height"])
    res = client.put(f"/api/frames/{frame_id}/mask", content=data, headers=headers)
    assert res.status_code == 200, res.text


def _job(client, pid, kind, params=None, status="queued", result=None) -> int:
    with session_scope(client.app.state.sessions) as session:
        job = create_job(session, kind, params or {}, pid)
        job.status, job.result, job.task_id = status, result, f"task-{kind}"
        session.flush()
        return job.id


def _row(client, model, row_id):
    with session_scope(client.app.state.sessions) as session:
        return session.get(model, row_id)


def _keys(client) -> set[str]:
    return set(client.app.state.storage.keys())


def _clean(client) -> bool:
    state = client.app.state
    report = check_storage(state.sessions, state.storage, state.settings, min_age_s=0)
    return report.problems == []


def _model(client, pid, name, status="ready", **extra) -> int:
    storage = client.app.state.storage
    key = f"models/{name}.pth"
    storage.put_bytes(key, b"weights")
    if extra.pop("onnx", False):
        extra["onnx_key"] = f"models/{name}.onnx"
        storage.put_bytes(extra["onnx_key"], b"onnx")
    with session_scope(client.app.state.sessions) as session:
        row = SegModel(project_id=pid, name=name, status=status, storage_key=key,
                       filename=f"{name}.pth", size_bytes=7, **extra)  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def _scored(client, job_id, label, model_id) -> dict:
    """A scored side of a report whose prediction is stored under the job."""
    key = f"jobs/{job_id}/{label}/0.png"
    client.app.state.storage.put_bytes(key, _mask())
    return {"model_id": model_id, "prediction_keys": [key], "frame_confusions": [[[1]]]}


def _report(client, pid, kind, sides: dict, **result) -> int:
    job_id = _job(client, pid, kind, status="succeeded")
    scored = {label: _scored(client, job_id, label, mid) for label, mid in sides.items()}
    body = {"test": scored} if kind == "train" else {"models": list(scored.values())}
    with session_scope(client.app.state.sessions) as session:
        session.get(Job, job_id).result = {**body, **result}
    client.app.state.storage.put_bytes(f"jobs/{job_id}/report/confusion.png", _mask())
    return job_id


def test_deleting_a_frame_removes_its_image_masks_and_thumbnail_and_cancels_its_jobs(
    client, project, dispatcher
):
    pid = project["id"]
    frame, other = _images(client, pid)
    _label(client, frame["id"])
    _label(client, frame["id"])
    assert client.get(f"/api/frames/{frame['id']}/thumbnail").status_code == 200
    client.patch(f"/api/frames/{frame['id']}", json={"split": "test"})
    queued = _job(client, pid, "prelabel", {"model_id": 1, "frame_ids": [frame["id"]]})
    running = _job(client, pid, "train", status="running")
    untouched = _job(client, pid, "prelabel", {"model_id": 1, "frame_ids": [other["id"]]})
    report = _report(client, pid, "train", {"after": None}, test_frame_ids=[frame["id"]])
    before = _keys(client)

    preview = client.get(f"/api/frames/{frame['id']}/deletion").json()
    assert preview["counts"] == {"frames": 1, "masks": 2, "labeled": 1}
    assert {j["id"] for j in preview["jobs_cancelled"]} == {queued, running}
    assert preview["reports_refreshed"] == [report]
    assert "2 mask versions" in preview["lines"] and _row(client, Frame, frame["id"])

    res = client.delete(f"/api/frames/{frame['id']}", params={"token": preview["token"]})
    assert res.status_code == 200, res.text
    assert client.get(f"/api/frames/{frame['id']}").status_code == 404
    assert client.get(f"/api/frames/{other['id']}").status_code == 200
    gone = before - _keys(client)
    assert len([k for k in gone if "/masks/" in k]) == 2
    assert len([k for k in gone if k.startswith("thumbs/")]) == 1
    assert len([k for k in gone if k.endswith("/report/confusion.png")]) == 1
    assert f"jobs/{report}/after/0.png" in _keys(client) and _row(client, Job, report)
    assert _row(client, Job, queued).status == "cancelled"
    assert (
        _row(client, Job, running).cancel_requested
        and _row(client, Job, running).status == "running"
    )
    assert _row(client, Job, untouched).status == "queued"
    assert set(dispatcher.revoked) == {queued, running}
    assert _clean(client)


def test_a_delete_confirmed_on_an_older_preview_is_refused(client, project):
    frame = _images(client, project["id"], 1)[0]
    token = client.get(f"/api/frames/{frame['id']}/deletion").json()["token"]
    _label(client, frame["id"])  # a new mask version since the person looked
    res = client.delete(f"/api/frames/{frame['id']}", params={"token": token})
    assert res.status_code == 409 and "1 mask version" in res.json()["detail"]
    assert client.get(f"/api/frames/{frame['id']}").status_code == 200


def test_deleting_a_video_removes_its_file_frames_and_masks_and_cancels_its_sampling(
    client, project, tmp_path, dispatcher
):
    pid = project["id"]
    clip = make_video(tmp_path / "clip.mp4", width=64, height=48, seconds=1.0)
    with open(clip, "rb") as fh:
        video = client.post(f"/api/projects/{pid}/videos", files={"file": ("c.mp4", fh)}).json()
    job = client.post(f"/api/videos/{video['id']}/sample", json={"every_n_frames": 10}).json()
    state = client.app.state
    assert (
        run_job(job["id"], run_sampling, state.sessions, state.storage, state.settings)
        == "succeeded"
    )
    frames = client.get(f"/api/projects/{pid}/frames").json()
    _label(client, frames[0]["id"])
    image = _images(client, pid, 1)[0]
    again = client.post(f"/api/videos/{video['id']}/sample", json={"every_n_frames": 5}).json()

    preview = client.get(f"/api/videos/{video['id']}/deletion").json()
    assert preview["counts"] == {"video_file": 1, "frames": 3, "masks": 1, "labeled": 1}
    assert [j["id"] for j in preview["jobs_cancelled"]] == [again["id"]]
    res = client.delete(f"/api/videos/{video['id']}", params={"token": preview["token"]})
    assert res.status_code == 200, res.text
    assert client.get(f"/api/videos/{video['id']}").status_code == 404
    left = client.get(f"/api/projects/{pid}/frames").json()
    assert [f["id"] for f in left] == [image["id"]]
    assert not [k for k in _keys(client) if "/videos/" in k or "/masks/" in k]
    assert client.get(f"/api/jobs/{again['id']}").json()["status"] == "cancelled"
    assert client.get(f"/api/jobs/{job['id']}").json()["status"] == "succeeded"
    assert again["id"] in dispatcher.revoked
    assert _clean(client)


def test_a_report_stays_while_another_model_it_scores_exists(client, project, dispatcher):
    pid = project["id"]
    base = _model(client, pid, "base")
    tuned = _model(client, pid, "tuned", kind="finetuned", base_model_id=base, onnx=True)
    scratch = _model(client, pid, "scratch", kind="finetuned")
    child = _model(client, pid, "child", kind="finetuned", base_model_id=tuned)
    own = _report(client, pid, "train", {"before": base, "after": tuned}, model_id=tuned)
    alone = _report(client, pid, "train", {"after": scratch}, model_id=scratch)
    compare = _report(client, pid, "evaluate", {"a": tuned, "b": scratch})
    export = _job(client, pid, "export_onnx", {"model_id": tuned})

    preview = client.get(f"/api/models/{scratch}/deletion").json()
    assert preview["reports_removed"] == [alone] and preview["reports_kept"] == [compare]
    assert client.delete(f"/api/models/{scratch}").status_code == 200
    assert _row(client, Job, alone) is None and _row(client, Job, compare) is not None
    assert not [k for k in _keys(client) if k.startswith(f"jobs/{alone}/")]
    assert "models/scratch.pth" not in _keys(client)

    preview = client.get(f"/api/models/{tuned}/deletion").json()
    # The evaluation now scores no remaining model; the fine-tune's report still scores its base.
    assert preview["reports_removed"] == [compare] and preview["reports_kept"] == [own]
    assert preview["counts"] == {"model_files": 2, "based": 1}
    assert [j["id"] for j in preview["jobs_cancelled"]] == [export]
    assert (
        client.delete(f"/api/models/{tuned}", params={"token": preview["token"]}).status_code == 200
    )
    keys = _keys(client)
    assert "models/tuned.pth" not in keys and "models/tuned.onnx" not in keys
    assert f"jobs/{own}/after/0.png" in keys and not [
        k for k in keys if k.startswith(f"jobs/{compare}/")
    ]
    assert client.get(f"/api/models/{child}").json()["base_model_id"] is None
    assert client.get(f"/api/jobs/{export}").json()["status"] == "cancelled"
    assert export in dispatcher.revoked
    assert _clean(client)


def test_failed_registrations_are_renamed_and_deleted_like_any_model(client, project):
    pid = project["id"]
    failed = _model(client, pid, "espnet", status="failed", error="file has 20 classes")
    check = _job(client, pid, "register_model", {"model_id": failed}, status="failed")
    res = client.patch(f"/api/models/{failed}", json={"name": "  ESPNetv2 try 1 "})
    assert res.status_code == 200 and res.json()["name"] == "ESPNetv2 try 1"
    assert client.patch(f"/api/models/{failed}", json={"name": "   "}).status_code == 422
    assert client.delete(f"/api/models/{failed}").status_code == 200
    assert client.get(f"/api/models/{failed}").status_code == 404
    assert "models/espnet.pth" not in _keys(client)
    assert client.get(f"/api/jobs/{check}").json()["status"] == "failed"  # history stays


def test_renaming_a_video_and_a_project(client, project, tmp_path):
    clip = make_video(tmp_path / "clip.mp4", width=64, height=48, seconds=0.5)
    with open(clip, "rb") as fh:
        video = client.post(
            f"/api/projects/{project['id']}/videos", files={"file": ("c.mp4", fh)}
        ).json()
    res = client.patch(f"/api/videos/{video['id']}", json={"filename": "Night drive 1"})
    assert res.status_code == 200 and res.json()["filename"] == "Night drive 1"
    assert client.patch(f"/api/videos/{video['id']}", json={"filename": ""}).status_code == 422
    res = client.patch(f"/api/projects/{project['id']}", json={"name": "Munich"})
    assert res.json()["name"] == "Munich"


def test_only_administrators_delete_or_rename_shared_models(client, project, settings):
    shared = _model(client, None, "city")
    owner = _as(client, settings, "olga@example.com")
    client.put(
        f"/api/projects/{project['id']}/members",
        json={"email": "olga@example.com", "role": "owner"},
    )
    assert owner.get(f"/api/models/{shared}").status_code == 200
    assert owner.get(f"/api/models/{shared}/deletion").status_code == 403
    assert owner.delete(f"/api/models/{shared}").status_code == 403
    assert owner.patch(f"/api/models/{shared}", json={"name": "x"}).status_code == 403
    own = _model(client, project["id"], "own")
    assert owner.patch(f"/api/models/{own}", json={"name": "mine"}).status_code == 200
    assert owner.delete(f"/api/models/{own}").status_code == 200
    assert client.delete(f"/api/models/{shared}").status_code == 200


def test_deleting_a_project_removes_every_file_it_owned_and_cancels_other_projects_jobs(
    client, project, dispatcher
):
    pid = project["id"]
    other = client.post("/api/projects", json={"name": "other"}).json()["id"]
    frame = _images(client, pid, 1)[0]
    _label(client, frame["id"])
    client.get(f"/api/frames/{frame['id']}/thumbnail")
    model = _model(client, pid, "tuned", onnx=True)
    own_job = _job(client, pid, "train", status="running")
    client.app.state.storage.put_bytes(f"jobs/{own_job}/timeline/00001_0.png", _mask())
    foreign = _job(client, other, "prelabel", {"model_id": model, "frame_ids": None}, "running")
    kept_frame = _images(client, other, 1)[0]
    preview = client.get(f"/api/projects/{pid}/deletion").json()
    assert preview["counts"] == {"videos": 0, "frames": 1, "masks": 1, "models": 1, "jobs": 1}
    assert {j["id"] for j in preview["jobs_cancelled"]} == {own_job, foreign}

    res = client.delete(f"/api/projects/{pid}", params={"token": preview["token"]})
    assert res.status_code == 200, res.text
    assert client.get(f"/api/projects/{pid}").status_code == 404
    keys = _keys(client)
    assert not [k for k in keys if f"projects/{pid}/" in k or k.startswith(f"jobs/{own_job}/")]
    assert not [k for k in keys if k.startswith("models/")]
    assert (
        _row(client, Frame, kept_frame["id"]) is not None
        and _row(client, Job, foreign).cancel_requested
    )
    assert {own_job, foreign} <= set(dispatcher.revoked)
    assert _clean(client)


def test_a_failed_commit_leaves_rows_and_files_as_they_were(client, project, monkeypatch):
    frame = _images(client, project["id"], 1)[0]
    _label(client, frame["id"])
    before = _keys(client)
    state = client.app.state
    session = state.sessions()

    def broken_commit():
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(session, "commit", broken_commit)
    with pytest.raises(OperationalError):
        removal.delete(session, state.storage, "frame", frame["id"])
    session.close()
    assert _keys(client) == before
    with session_scope(state.sessions) as check:
        assert check.get(Frame, frame["id"]) is not None
        assert check.scalar(select(Mask.id).where(Mask.frame_id == frame["id"])) is not None
        assert check.scalar(select(Video.id)) is None
    assert _clean(client)


def test_a_video_deleted_while_it_is_sampled_cancels_the_run_and_leaves_no_file(
    client, project, tmp_path
):
    pid = project["id"]
    clip = make_video(tmp_path / "clip.mp4", width=64, height=48, seconds=2.0)
    with open(clip, "rb") as fh:
        video = client.post(f"/api/projects/{pid}/videos", files={"file": ("c.mp4", fh)}).json()
    job = client.post(f"/api/videos/{video['id']}/sample", json={"every_n_frames": 1}).json()
    answers = []

    def observer(_fraction, message):
        if not answers and re.fullmatch(r"[1-9]\d*/60 frames", message):
            answers.append(client.delete(f"/api/videos/{video['id']}"))

    state = client.app.state
    status = run_job(
        job["id"], run_sampling, state.sessions, state.storage, state.settings, observer
    )
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["jobs_cancelled"] == [
        {"id": job["id"], "kind": "sample", "status": "running"}
    ]
    assert (
        status == "cancelled"
        and client.get(f"/api/jobs/{job['id']}").json()["status"] == "cancelled"
    )
    assert client.get(f"/api/projects/{pid}/frames").json() == []
    assert list(state.storage.keys()) == []
    assert _clean(client)
