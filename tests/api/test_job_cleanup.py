"""A failed, cancelled or orphaned job leaves no file no row refers to, and no half-made row."""

import io
import logging
import re

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select, update

from backend.db import session_scope
from backend.models import Frame, Job, SegModel
from backend.services.fsck import check_storage
from backend.services.jobs import create_job
from backend.services.projects import delete_project
from backend.services.sampling import run_sampling
from backend.storage import new_key
from tests.videos import make_video
from worker.runner import PROJECT_DELETED, run_job


def _png(shape=(30, 40, 3)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full(shape, 90, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _job(client, project_id: int, kind: str = "sample") -> int:
    with session_scope(client.app.state.sessions) as session:
        return create_job(session, kind, {}, project_id).id


def _run(client, job_id: int, body, observer=None) -> str:
    state = client.app.state
    return run_job(job_id, body, state.sessions, state.storage, state.settings, observer)


def _clean(client) -> bool:
    state = client.app.state
    report = check_storage(state.sessions, state.storage, state.settings, min_age_s=0)
    return report.problems == []


def _cancel(client, job_id: int) -> None:
    with session_scope(client.app.state.sessions) as session:
        session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))


def _delete_project(client, project_id: int, files: bool) -> None:
    """What DELETE /api/projects/{id} does (files=False: the web died before its files went)."""
    state = client.app.state
    with session_scope(state.sessions) as session:
        prefixes = delete_project(session, project_id)
    if files:
        for prefix in prefixes:
            state.storage.delete_tree(prefix)


@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
def test_a_run_takes_back_what_it_wrote(client, project, outcome):
    storage, pid = client.app.state.storage, project["id"]
    job_id = _job(client, pid)
    seen = {}

    def body(ctx):
        seen["kept"] = new_key(f"projects/{pid}/frames", ".png")
        ctx.storage.put_bytes(seen["kept"], _png())
        with session_scope(ctx.sessions) as session:  # committed: the frame is whole
            session.add(Frame(project_id=pid, storage_key=seen["kept"], width=40, height=30))
        seen["lost"] = new_key(f"projects/{pid}/frames", ".png")
        with ctx.storage.open_write(seen["lost"]) as fh:
            fh.write(_png())
        seen["model"] = new_key("models", ".pth")
        ctx.storage.put_bytes(seen["model"], b"weights")
        with session_scope(ctx.sessions) as session:
            model = SegModel(project_id=pid, name="half", storage_key=seen["model"], filename="m")
            session.add(model)
            session.flush()
            seen["model_id"] = model.id
        ctx.made_row(SegModel, seen["model_id"])
        seen["temp"] = ctx.storage.temp_path(".onnx")
        ctx.work_dir.mkdir(parents=True)
        (ctx.work_dir / "latest.pt").write_bytes(b"checkpoint")
        if outcome == "cancelled":
            _cancel(client, job_id)
        ctx.progress(0.5, "half way")
        raise RuntimeError("the body crashed")

    assert _run(client, job_id, body) == outcome
    assert storage.exists(seen["kept"]) and not storage.exists(seen["lost"])
    assert not storage.exists(seen["model"]) and not seen["temp"].exists()
    with session_scope(client.app.state.sessions) as session:
        assert session.get(SegModel, seen["model_id"]) is None
        assert session.scalar(select(Frame.storage_key)) == seen["kept"]
    work_dir = client.app.state.settings.data_path / "runs" / f"job{job_id}"
    assert work_dir.exists() == (outcome == "failed")  # a retry of a failure resumes from it
    assert _clean(client)


def test_a_succeeded_run_keeps_its_files_and_drops_its_scratch(client, project):
    storage, pid = client.app.state.storage, project["id"]
    job_id = _job(client, pid, "export")
    key = new_key(f"projects/{pid}/exports", ".zip")

    def body(ctx):
        ctx.storage.put_bytes(key, b"zip")
        ctx.storage.temp_path()
        ctx.work_dir.mkdir(parents=True)
        return {"storage_key": key}

    assert _run(client, job_id, body) == "succeeded"
    runs = client.app.state.settings.data_path / "runs"
    assert storage.exists(key) and not (runs / f"job{job_id}").exists()
    assert not storage.temp_files()
    assert _clean(client)


def _sampling_job(client, project, tmp_path) -> int:
    clip = make_video(tmp_path / "clip.mp4", width=64, height=48, seconds=2.0)
    with open(clip, "rb") as fh:
        res = client.post(f"/api/projects/{project['id']}/videos", files={"file": ("c.mp4", fh)})
    job = client.post(f"/api/videos/{res.json()['id']}/sample", json={"every_n_frames": 1})
    return job.json()["id"]


def test_sampling_cancelled_midway_keeps_whole_frames_only(client, project, tmp_path):
    job_id = _sampling_job(client, project, tmp_path)

    def observer(_fraction, message):
        if re.fullmatch(r"[1-9]\d*/60 frames", message):
            _cancel(client, job_id)

    assert _run(client, job_id, run_sampling, observer) == "cancelled"
    frames = client.get(f"/api/projects/{project['id']}/frames").json()
    assert 0 < len(frames) < 60
    assert _clean(client)


@pytest.mark.parametrize("files", [True, False], ids=["route", "web-died-before-files"])
def test_project_deleted_while_sampling_cancels_and_cleans(
    client, project, tmp_path, files, caplog
):
    job_id = _sampling_job(client, project, tmp_path)

    def observer(_fraction, message):
        if re.fullmatch(r"[1-9]\d*/60 frames", message):
            _delete_project(client, project["id"], files)

    with caplog.at_level(logging.INFO, logger="segtune.worker"):
        assert _run(client, job_id, run_sampling, observer) == "cancelled"
    assert PROJECT_DELETED in caplog.text
    left = list(client.app.state.storage.keys())
    # Every frame this run wrote is gone, committed or not; the web's video only with the route.
    assert left == ([] if files else [k for k in left if "/videos/" in k]) and len(left) < 2
    assert _clean(client) == files


def test_project_deleted_under_a_body_that_then_trips_on_it(client, project):
    storage, pid = client.app.state.storage, project["id"]
    job_id = _job(client, pid)
    key = new_key(f"projects/{pid}/frames", ".png")

    def body(ctx):
        _delete_project(client, pid, files=True)  # another process, between two steps
        ctx.storage.put_bytes(key, _png())
        with session_scope(ctx.sessions) as session:  # the project's row is gone: FK error
            session.add(Frame(project_id=pid, storage_key=key, width=40, height=30))
        return {}

    assert _run(client, job_id, body) == "cancelled"
    assert not storage.exists(key) and _clean(client)


def _labeled_project(client, project) -> None:
    """Eight 64x48 frames with a 'car' box and a 'sign' box, masks to match, split 4/2/2."""
    rng = np.random.default_rng(0)
    files, masks = [], []
    for i in range(8):
        image, mask = np.full((48, 64, 3), 90, np.uint8), np.zeros((48, 64), np.uint8)
        x, y = rng.integers(0, 40), rng.integers(0, 28)
        image[y : y + 16, x : x + 20], mask[y : y + 16, x : x + 20] = (20, 20, 200), 1
        image[2:10, 2:8], mask[2:10, 2:8] = (230, 230, 0), 2
        files.append(("files", (f"f{i}.png", _png_of(image))))
        masks.append(mask)
    frames = client.post(f"/api/projects/{project['id']}/images", files=files).json()
    for frame, mask in zip(frames, masks, strict=True):
        headers = {"If-Match": '"0"', "Content-Type": "image/png"}
        client.put(f"/api/frames/{frame['id']}/mask", content=_png_of(mask), headers=headers)
        client.patch(f"/api/frames/{frame['id']}", json={"label_status": "done"})
    split = {"train": 4, "val": 2, "test": 2}
    assert client.post(f"/api/projects/{project['id']}/splits", json=split).json() == split


def _png_of(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_a_fine_tune_failing_while_scoring_takes_its_model_back(
    client, dispatcher, project, tmp_path
):
    from tests.labeled import random_checkpoint
    from worker.registration import run_registration
    from worker.training import run_training

    with open(random_checkpoint(tmp_path / "base.pth"), "rb") as fh:
        data = {"preset": "cityscapes19", "name": "base"}
        base = client.post("/api/models", files={"file": ("base.pth", fh)}, data=data).json()
    assert _run(client, dispatcher.sent[-1], run_registration) == "succeeded"
    _labeled_project(client, project)
    body = {"base_model_id": base["id"], "preset": "quick", "iterations": 1, "crop_size": 32,
            "device": "cpu"}  # fmt: skip
    job_id = client.post(f"/api/projects/{project['id']}/train", json=body).json()["id"]

    def observer(_fraction, message):
        if message.startswith("scoring after"):  # the model is kept, "before" is scored
            raise RuntimeError("out of memory")

    assert _run(client, job_id, run_training, observer) == "failed"
    storage = client.app.state.storage
    assert [m["id"] for m in client.get("/api/models").json()] == [base["id"]]
    assert not [k for k in storage.keys() if k.startswith(f"jobs/{job_id}/before/")]
    assert [k for k in storage.keys() if "/timeline/" in k]  # the failed job still shows them
    assert (client.app.state.settings.data_path / "runs" / f"job{job_id}" / "latest.pt").exists()
    assert _clean(client)
    assert client.post(f"/api/jobs/{job_id}/retry").status_code == 200
    assert _run(client, job_id, run_training) == "succeeded"  # resumes, makes the model once
    assert len(client.get("/api/models").json()) == 2 and _clean(client)
