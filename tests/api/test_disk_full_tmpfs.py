"""A really full disk: the data directory on a tiny tmpfs, filled to the last byte.

Mounting needs root (CI runs as root); elsewhere these tests skip, and tests/api/test_disk_full.py
covers the same routes with an injected ENOSPC.
"""

import errno
import os
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.config import Settings
from backend.db import upgrade_database
from backend.errors import DISK_FULL_MESSAGE
from backend.services.sampling import run_sampling
from tests.accounts import ADMIN_EMAIL, add_user, bearer
from tests.api.test_disk_full import UPLOADS, assert_507, snapshot, upload
from tests.conftest import REQUIRE_SERVICES, RecordingDispatcher
from worker.runner import run_job


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 4 MB tmpfs, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs: {done.stderr.decode().strip()}"
        if REQUIRE_SERVICES and os.geteuid() == 0:
            pytest.fail(reason)
        pytest.skip(reason)
    yield mount
    # Lazy: a connection a failed test left open must not keep the mount alive.
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk with one file; returns it (delete it to free them)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(bytes(64 * 1024))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:
                fh.write(b"\0")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _client(settings, data_dir: Path, database_url: str | None = None):
    changed = {"data_dir": data_dir}
    if database_url is not None:
        changed["database_url"] = database_url
    moved = Settings(**(settings.model_dump() | changed))  # a copy would keep data_path cached
    upgrade_database(moved)
    client = TestClient(create_app(moved, dispatcher=RecordingDispatcher()))
    client.headers.update(bearer(add_user(moved, ADMIN_EMAIL, is_admin=True)))
    return client


def test_every_write_route_on_a_full_disk_is_507(settings, tiny_disk, tmp_path):
    on_sqlite = not settings.database_url
    with _client(settings, tiny_disk) as client:  # on SQLite the database is on it too
        project = client.post("/api/projects", json={"name": "full"}).json()
        frame = upload(client, "images", project, tmp_path).json()[0]
        filler = fill(tiny_disk)
        before = snapshot(client)
        for what in [*UPLOADS, "mask"]:
            assert_507(upload(client, what, project, tmp_path, frame))
        created = upload(client, "project", project, tmp_path)
        if on_sqlite:
            assert_507(created)
        else:  # PostgreSQL keeps its data elsewhere
            assert created.status_code == 201
            before[0]["projects"] += 1
        assert snapshot(client) == before  # no temporary file, no row, no file
        filler.unlink()
        assert upload(client, "mask", project, tmp_path, frame).status_code == 200


def test_a_job_on_a_full_disk_fails_with_the_sentence(settings, tiny_disk, tmp_path):
    # The database elsewhere (as PostgreSQL is): the job can still record why it failed.
    database = settings.database_url or f"sqlite:///{tmp_path / 'elsewhere.db'}"
    with _client(settings, tiny_disk, database) as client:
        project = client.post("/api/projects", json={"name": "full"}).json()
        video = upload(client, "video", project, tmp_path).json()
        job = client.post(f"/api/videos/{video['id']}/sample", json={"every_n_frames": 1}).json()
        fill(tiny_disk)
        before = snapshot(client)
        state = client.app.state
        outcome = run_job(job["id"], run_sampling, state.sessions, state.storage, state.settings)
        done = client.get(f"/api/jobs/{job['id']}").json()
        assert outcome == "failed" and done["error"] == DISK_FULL_MESSAGE, done
        assert snapshot(client) == before
