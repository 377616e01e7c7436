"""fsck: orphan files, rows whose file is missing, what --delete does about both, the CLI."""

import io
import os
import time

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from backend.cli import app as cli
from backend.db import session_scope
from backend.models import Frame, Job, Mask, SegModel, Video
from backend.services.fsck import check_storage
from backend.services.sampling import run_sampling
from backend.storage import new_key
from tests.videos import make_video
from worker.runner import run_job


def _png(shape=(30, 40, 3), value=50) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full(shape, value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _fsck(client, delete=False, min_age_s=0.0):
    state = client.app.state
    return check_storage(state.sessions, state.storage, state.settings, delete, min_age_s)


def _save_mask(client, frame_id: int, version: int, value: int) -> None:
    res = client.put(
        f"/api/frames/{frame_id}/mask",
        content=_png((30, 40), value),
        headers={"If-Match": f'"{version}"', "Content-Type": "image/png"},
    )
    assert res.status_code == 200, res.text


def _add(client, row, key: str | None = None, data: bytes = b"x"):
    """Insert a row (and store a file for it); returns its id."""
    state = client.app.state
    if key:
        state.storage.put_bytes(key, data)
    with session_scope(state.sessions) as session:
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture
def world(client, project, tmp_path) -> dict:
    """A project with every kind of stored file: frames, mask versions, a video with sampled
    frames, models with ONNX exports, an export zip, predictions, a timeline, a report cache."""
    pid = project["id"]
    files = [("files", (f"f{i}.png", _png())) for i in range(2)]
    a, b = (f["id"] for f in client.post(f"/api/projects/{pid}/images", files=files).json())
    for frame_id in (a, b):
        _save_mask(client, frame_id, 0, 1)
        _save_mask(client, frame_id, 1, 2)
    clip = make_video(tmp_path / "street.cam.mp4", width=64, height=48, seconds=0.5)
    with open(clip, "rb") as fh:
        video = client.post(f"/api/projects/{pid}/videos", files={"file": ("street.cam.mp4", fh)})
    job = client.post(f"/api/videos/{video.json()['id']}/sample", json={"every_n_frames": 5})
    state = client.app.state
    status = run_job(job.json()["id"], run_sampling, state.sessions, state.storage, state.settings)
    assert status == "succeeded"
    models = [
        _add(
            client,
            SegModel(
                project_id=pid,
                name=f"m{i}",
                storage_key=f"models/m{i}.pth",
                onnx_key=f"models/onnx/model{i}.onnx",
                filename="m.pth",
            ),
            f"models/m{i}.pth",
        )  # fmt: skip
        for i in range(2)
    ]
    for i in range(2):
        state.storage.put_bytes(f"models/onnx/model{i}.onnx", b"onnx")
    export_key = new_key(f"projects/{pid}/exports", ".zip")
    export = _add(client, Job(kind="export", status="succeeded", project_id=pid,
                              result={"storage_key": export_key}), export_key)  # fmt: skip
    train = _add(client, Job(kind="train", status="succeeded", project_id=pid))
    keys = [f"jobs/{train}/after/00{k}_f.png" for k in range(2)]
    overlay = f"jobs/{train}/timeline/00001_0.png"
    for key in [*keys, overlay, f"jobs/{train}/report/abc/report.json"]:
        state.storage.put_bytes(key, b"png")
    with session_scope(state.sessions) as session:
        row = session.get(Job, train)
        row.result = {"test": {"after": {"prediction_keys": keys}}, "model_id": models[0]}
        row.detail = {"timeline": [{"iteration": 1, "overlays": [{"key": overlay, "frame": "a"}]}]}
    zip_key = new_key(f"projects/{pid}/imports", ".zip")  # a worker-lost import keeps its zip
    _add(client, Job(kind="import", status="failed", project_id=pid,
                     params={"zip_key": zip_key}), zip_key)  # fmt: skip
    return {"project": pid, "frames": (a, b), "video": video.json()["id"], "models": models,
            "export": export, "train": train, "predictions": keys, "overlay": overlay}  # fmt: skip


def test_a_clean_tree_reports_nothing(client, world):
    report = _fsck(client)
    assert report.problems == [] and report.left_alone == 0
    # 2 images + 4 masks + video + 3 sampled frames + 2 models + 2 ONNX + export + 2 predictions
    # + overlay + report cache + import zip
    assert report.files == 20


def test_orphan_files_are_found_then_deleted(client, world):
    storage, pid = client.app.state.storage, world["project"]
    orphans = [
        new_key(f"projects/{pid}/frames", ".png"),  # a frame whose row never came
        new_key(f"projects/{pid}/exports", ".zip"),
        new_key("models", ".pth"),
        "jobs/999/before/000_x.png",  # of a job that is gone
        f"projects/{pid + 1}/masks/ab/cd.png",  # of a deleted project
    ]
    for key in orphans:
        storage.put_bytes(key, b"junk")
    report = _fsck(client)
    assert sorted(p.path for p in report.problems) == sorted(orphans)
    assert {p.kind for p in report.problems} == {"orphan file"}
    assert all(storage.exists(k) for k in orphans)  # listing deletes nothing
    fixed = _fsck(client, delete=True)
    assert len(fixed.problems) == 5 and not any(storage.exists(k) for k in orphans)
    assert _fsck(client).problems == []
    assert storage.exists(world["predictions"][0])


def test_caches_live_as_long_as_their_frame_or_mask(client, world):
    """Thumbnails and superpixels of stored frames and masks are not orphans; of gone ones, are."""
    state = client.app.state
    with session_scope(state.sessions) as session:
        frame = session.get(Frame, world["frames"][0])
        mask = session.scalars(select(Mask).where(Mask.frame_id == frame.id)).first()
        frame_stem, mask_stem = frame.storage_key[:-4], mask.storage_key[:-4]
    kept = [
        f"thumbs/{frame_stem}.jpg",
        f"thumbs/{mask_stem}-0123abcd.png",
        f"superpixels/{frame_stem}-fine-slic1.png",
    ]
    gone = new_key(f"projects/{world['project']}/frames", "")
    orphans = [f"thumbs/{gone}.jpg", f"superpixels/{gone}-coarse-slic1.png"]
    for key in kept + orphans:
        state.storage.put_bytes(key, b"cache")
    report = _fsck(client, delete=True)
    assert sorted(p.path for p in report.problems) == sorted(orphans)
    assert all(state.storage.exists(k) for k in kept)
    assert not any(state.storage.exists(k) for k in orphans)


def test_work_in_progress_is_left_alone(client, world):
    state, pid = client.app.state, world["project"]
    recent = new_key("models", ".pth")
    state.storage.put_bytes(recent, b"being registered")
    report = _fsck(client, delete=True, min_age_s=600)
    assert report.problems == [] and report.left_alone == 1 and state.storage.exists(recent)
    # A running job's project folder: its files get their rows later.
    job = _add(client, Job(kind="sample", status="running", project_id=pid))
    pending = new_key(f"projects/{pid}/frames", ".png")
    state.storage.put_bytes(pending, b"frame")
    old = time.time() - 3600
    os.utime(state.storage.path(pending), (old, old))
    report = _fsck(client, delete=True)
    assert [p.path for p in report.problems] == [recent] and state.storage.exists(pending)
    with session_scope(state.sessions) as session:
        session.get(Job, job).status = "failed"
    assert [p.path for p in _fsck(client).problems] == [pending]


def _rows(client, model, *where):
    with session_scope(client.app.state.sessions) as session:
        return list(session.scalars(select(model).where(*where)))


def test_rows_whose_file_is_missing_are_repaired(client, world):
    storage, pid = client.app.state.storage, world["project"]
    a, b = world["frames"]
    (frame_a,) = _rows(client, Frame, Frame.id == a)
    masks_a = _rows(client, Mask, Mask.frame_id == a)
    (newest_b,) = _rows(client, Mask, Mask.frame_id == b, Mask.version == 2)
    (video,) = _rows(client, Video, Video.id == world["video"])
    m0, m1 = world["models"]
    for key in (frame_a.storage_key, newest_b.storage_key, video.storage_key,
                f"models/m{0}.pth", "models/onnx/model1.onnx",
                world["predictions"][1], world["overlay"]):  # fmt: skip
        storage.delete(key)
    export = _rows(client, Job, Job.id == world["export"])[0].result["storage_key"]
    storage.delete(export)
    report = _fsck(client)
    assert {p.kind for p in report.problems} == {"missing file"} and len(report.problems) == 8
    actions = {p.row: p.action for p in report.problems}
    assert actions[f"frame {a}"] == "delete the frame and its 2 mask versions"
    assert (
        actions[f"mask version 2 of frame {b}"]
        == "delete mask version 2; version 1 is current again"
    )
    assert (
        actions[f"video {video.id}"] == "delete the video row; its 3 frames stay, without a video"
    )
    assert actions[f"model {m0}"] == "delete the model row and its ONNX file"
    assert actions[f"ONNX export of model {m1}"].startswith("forget the ONNX export")
    assert _rows(client, Frame, Frame.id == a)  # nothing changed yet

    fixed = _fsck(client, delete=True)
    assert len(fixed.problems) == 8
    assert _fsck(client).problems == []
    assert not _rows(client, Frame, Frame.id == a) and not _rows(client, Mask, Mask.frame_id == a)
    assert not any(storage.exists(m.storage_key) for m in masks_a)
    (frame_b,) = _rows(client, Frame, Frame.id == b)
    assert frame_b.mask_version == 1 and client.get(f"/api/frames/{b}/mask").status_code == 200
    _save_mask(client, b, 1, 0)  # the painter carries on from the version now current
    assert not _rows(client, Video)
    sampled = _rows(client, Frame, Frame.project_id == pid, Frame.source_name.like("street%"))
    assert sorted(f.source_name for f in sampled) == [
        "street.cam_000000.png", "street.cam_000005.png", "street.cam_000010.png"
    ]  # fmt: skip
    assert all(f.video_id is None and storage.exists(f.storage_key) for f in sampled)
    assert [m.id for m in _rows(client, SegModel)] == [m1]
    assert not storage.exists("models/onnx/model0.onnx")
    assert _rows(client, SegModel)[0].onnx_key is None
    (train,) = _rows(client, Job, Job.id == world["train"])
    assert train.result["test"]["after"]["prediction_keys"] == [world["predictions"][0], None]
    assert train.detail["timeline"] == [{"iteration": 1, "overlays": []}]
    assert _rows(client, Job, Job.id == world["export"])[0].result["storage_key"] is None
    assert client.get(f"/api/exports/{world['export']}/download").status_code == 404


def test_temp_files_of_dead_processes_and_finished_runs(client, world):
    state = client.app.state
    dead = state.storage.tmp_dir / "0123456789abcdef-upload.mp4"  # its owner's lock is gone
    dead.write_bytes(b"half an upload")
    live = state.storage.temp_path(".mp4")
    runs = state.settings.data_path / "runs"
    failed = _add(client, Job(kind="train", status="failed", project_id=world["project"]))
    for job_id in (world["train"], failed, 999):
        (runs / f"job{job_id}").mkdir(parents=True)
        (runs / f"job{job_id}" / "latest.pt").write_bytes(b"checkpoint")
    report = _fsck(client, delete=True)
    assert {(p.kind, p.path) for p in report.problems} == {
        ("orphan run folder", str(runs / "job999")),
        ("orphan run folder", str(runs / f"job{world['train']}")),
        ("stale temporary file", str(dead)),
    }
    assert not dead.exists() and live.exists()
    assert (runs / f"job{failed}" / "latest.pt").exists()  # a retry resumes from it
    assert _fsck(client).problems == []


def test_command_line_exit_codes(client, world, settings, monkeypatch):
    monkeypatch.setenv("SEGTUNE_DATA_DIR", str(settings.data_path))
    monkeypatch.setenv("SEGTUNE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("COLUMNS", "200")  # file paths on one line each
    runner = CliRunner()
    clean = runner.invoke(cli, ["fsck", "--min-age", "0"])
    assert clean.exit_code == 0, clean.output
    assert "clean: 20 files and 19 file references checked, 0 problems" in clean.output
    storage = client.app.state.storage
    storage.put_bytes("models/zz/orphan.pth", b"junk")
    storage.delete(_rows(client, Frame, Frame.id == world["frames"][0])[0].storage_key)
    found = runner.invoke(cli, ["fsck", "--min-age", "0"])
    assert found.exit_code == 1, found.output
    assert "2 problems found (1 missing file, 1 orphan file)" in found.output
    assert "models/zz/orphan.pth" in found.output
    recent = runner.invoke(cli, ["fsck"])  # the orphan is seconds old: maybe a save under way
    assert recent.exit_code == 1 and "left alone: 1 unreferenced" in recent.output
    fixed = runner.invoke(cli, ["fsck", "--delete", "--min-age", "0"])
    assert fixed.exit_code == 0 and "2 problems fixed" in fixed.output, fixed.output
    again = runner.invoke(cli, ["fsck", "--min-age", "0"])
    assert again.exit_code == 0 and ", 0 problems" in again.output, again.output
