"""A full disk: every write route answers 507 with a sentence, jobs fail with it, nothing is
half-written (no temporary file left, no row without its file, no file without its row).

The disk fills by injection here (a file whose writes raise ENOSPC past a few bytes, a database
whose inserts or commits report "disk full"); tests/api/test_disk_full_tmpfs.py fills a real one.
"""

import errno
import io
import os
import sqlite3
import zipfile

import numpy as np
import psycopg.errors
import pytest
from PIL import Image
from sqlalchemy import func, select

from backend.api import uploads
from backend.db import session_scope
from backend.errors import DISK_FULL_MESSAGE
from backend.models import Frame, Job, Mask, Project, SegModel, Video
from backend.services.datasets.imports import run_import
from backend.services.sampling import run_sampling
from backend.storage import is_owner_lock
from tests.videos import make_video
from worker.runner import run_job

TABLES = (Project, Video, Frame, Mask, SegModel, Job)


class _FillingFile:
    """A real file on a disk with `room` bytes free: a write past that raises ENOSPC."""

    def __init__(self, handle, room: int):
        self.handle, self.room = handle, room

    def write(self, data) -> int:
        if len(data) > self.room:
            self.handle.write(bytes(data[: self.room]))  # a partial file, as on a real disk
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


def fill_disk(monkeypatch, module, room: int = 0) -> None:
    """Make the files `module` opens for writing fail with ENOSPC after `room` bytes."""

    def filling_open(file, mode="r", *args, **kwargs):
        handle = open(file, mode, *args, **kwargs)
        return _FillingFile(handle, room) if "w" in mode else handle

    monkeypatch.setattr(module, "open", filling_open, raising=False)


def _full_error(settings):
    if settings.effective_database_url.startswith("sqlite"):
        return sqlite3.OperationalError("database or disk is full")
    return psycopg.errors.DiskFull("could not extend file: No space left on device")


def fill_database(monkeypatch, app, at: str) -> None:
    """Make the database report a full disk at the first INSERT, or at the commit after one."""
    dialect, error = app.state.engine.dialect, _full_error(app.state.settings)
    wrote: set[int] = set()

    def checked(real):
        def execute(cursor, statement, *args) -> None:
            if statement.lstrip().upper().startswith("INSERT"):
                if at == "insert":
                    raise error
                wrote.add(id(cursor.connection))
            real(cursor, statement, *args)

        return execute

    def do_commit(connection, real=dialect.do_commit, undo=dialect.do_rollback) -> None:
        raw = id(getattr(connection, "dbapi_connection", connection))  # the pool's proxy
        if raw in wrote:
            wrote.discard(raw)
            # Both databases end the transaction when a commit fails for a full disk.
            undo(connection)
            raise error
        real(connection)

    for name in ("do_execute", "do_executemany", "do_execute_no_params"):
        monkeypatch.setattr(dialect, name, checked(getattr(dialect, name)))
    monkeypatch.setattr(dialect, "do_commit", do_commit)


def snapshot(client) -> tuple[dict[str, int], set[str]]:
    """Row counts of the tables uploads write, and every file under the media root."""
    with session_scope(client.app.state.sessions) as session:
        rows = {
            t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in TABLES
        }
    root = client.app.state.storage.root
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    # The process's own temp-file lock (made on first use) is not a partial file.
    return rows, {f for f in files if not (f.startswith(".tmp/") and is_owner_lock(f[5:]))}


def assert_507(res) -> None:
    assert res.status_code == 507, res.text
    assert res.json() == {"detail": DISK_FULL_MESSAGE}
    assert "out of disk space" in DISK_FULL_MESSAGE


def _noise_png(size: int = 64) -> bytes:
    pixels = np.random.default_rng(size).integers(0, 256, (size, size, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _dataset_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"images/{i}.png", _noise_png(16 + i))
            labels = np.random.default_rng(i).integers(0, 3, (16 + i, 16 + i), np.uint8)
            mask = io.BytesIO()
            Image.fromarray(labels).save(mask, format="PNG")
            zf.writestr(f"masks/{i}.png", mask.getvalue())
    return buf.getvalue()


@pytest.fixture
def frame(client, project) -> dict:
    res = client.post(
        f"/api/projects/{project['id']}/images", files={"files": ("f.png", _noise_png())}
    )
    assert res.status_code == 201, res.text
    return res.json()[0]


def _mask(frame) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ones((frame["height"], frame["width"]), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _video(tmp_path) -> bytes:
    return make_video(tmp_path / "clip.mp4", width=64, height=48, seconds=0.4).read_bytes()


def upload(client, what: str, project: dict, tmp_path, frame=None):
    """One write request of each kind the server takes."""
    pid = project["id"]
    if what == "video":
        files = {"file": ("clip.mp4", _video(tmp_path))}
        return client.post(f"/api/projects/{pid}/videos", files=files)
    if what == "images":
        files = [("files", ("a.png", _noise_png(48))), ("files", ("b.png", _noise_png(56)))]
        return client.post(f"/api/projects/{pid}/images", files=files)
    if what == "import":
        files = {"file": ("data.zip", _dataset_zip())}
        return client.post(f"/api/projects/{pid}/imports", files=files)
    if what == "model":
        files = {"file": ("weights.pth", os.urandom(20_000))}
        return client.post("/api/models", files=files, data={"project_id": str(pid)})
    if what == "mask":
        headers = {"Content-Type": "image/png", "If-Match": '"0"'}
        return client.put(f"/api/frames/{frame['id']}/mask", content=_mask(frame), headers=headers)
    if what == "project":
        return client.post("/api/projects", json={"name": "another"})
    raise AssertionError(what)


UPLOADS = ["video", "images", "import", "model"]


@pytest.mark.parametrize("what", UPLOADS)
def test_upload_filling_the_disk_is_507_and_leaves_no_partial_file(
    client, project, monkeypatch, tmp_path, what
):
    before = snapshot(client)
    fill_disk(monkeypatch, uploads, room=1000)  # the spooled upload stops part-way
    assert_507(upload(client, what, project, tmp_path))
    assert snapshot(client) == before
    monkeypatch.undo()
    assert upload(client, what, project, tmp_path).status_code in (201, 202)


def test_storing_frames_or_a_mask_on_a_full_disk_is_507(
    client, project, frame, monkeypatch, tmp_path
):
    from backend import storage

    before = snapshot(client)
    fill_disk(monkeypatch, storage, room=100)  # the upload spools; storing its PNG fails
    assert_507(upload(client, "images", project, tmp_path))
    assert_507(upload(client, "mask", project, tmp_path, frame))
    assert snapshot(client) == before
    assert client.get(f"/api/frames/{frame['id']}/mask").headers["etag"] == '"0"'


@pytest.mark.parametrize("at", ["insert", "commit"])
@pytest.mark.parametrize("what", [*UPLOADS, "mask", "project"])
def test_a_full_database_is_507_and_keeps_no_file_without_its_row(
    client, project, frame, monkeypatch, tmp_path, what, at
):
    before = snapshot(client)
    fill_database(monkeypatch, client.app, at)
    assert_507(upload(client, what, project, tmp_path, frame))
    assert snapshot(client) == before


def _run(client, job_id: int, body) -> dict:
    state = client.app.state
    assert run_job(job_id, body, state.sessions, state.storage, state.settings) == "failed"
    return client.get(f"/api/jobs/{job_id}").json()


def assert_failed_for_space(job: dict) -> None:
    assert job["status"] == "failed" and job["error"] == DISK_FULL_MESSAGE, job
    assert "No space left on device" in job["error_detail"]  # the admin's traceback


def test_sampling_job_on_a_full_disk_fails_with_the_sentence(
    client, project, monkeypatch, tmp_path
):
    from backend import storage

    video = upload(client, "video", project, tmp_path).json()
    job = client.post(f"/api/videos/{video['id']}/sample", json={"every_n_frames": 2}).json()
    before = snapshot(client)
    fill_disk(monkeypatch, storage)
    assert_failed_for_space(_run(client, job["id"], run_sampling))
    after = snapshot(client)
    assert after[1] == before[1] and after[0]["frames"] == before[0]["frames"]


def test_import_job_on_a_full_disk_fails_with_the_sentence(client, project, monkeypatch, tmp_path):
    from backend import storage

    job = upload(client, "import", project, tmp_path).json()
    rows, files = snapshot(client)
    fill_disk(monkeypatch, storage)
    assert_failed_for_space(_run(client, job["id"], run_import))
    after_rows, after_files = snapshot(client)
    assert after_rows["frames"] == rows["frames"] and after_rows["masks"] == rows["masks"]
    assert after_files == {f for f in files if "/imports/" not in f}  # the zip goes as well
