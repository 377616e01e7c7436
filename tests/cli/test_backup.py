"""segtune backup / restore: every row and media file survives, SQLite to either backend."""

import io

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from backend.app import create_app
from backend.cli import app
from backend.config import Settings
from backend.db import upgrade_database
from tests.accounts import ADMIN_EMAIL, add_user, bearer
from tests.conftest import RecordingDispatcher

runner = CliRunner()


def _png(array, mode=None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _env(monkeypatch, settings: Settings) -> None:
    monkeypatch.setenv("SEGTUNE_DATA_DIR", str(settings.data_path))
    monkeypatch.setenv("SEGTUNE_DATABASE_URL", settings.database_url)


def _client(settings: Settings, token: str) -> TestClient:
    client = TestClient(create_app(settings, dispatcher=RecordingDispatcher()))
    client.headers.update(bearer(token))
    return client


def _snapshot(settings: Settings, token: str) -> dict:
    with _client(settings, token) as client:
        projects = client.get("/api/projects").json()
        frames = client.get(f"/api/projects/{projects[0]['id']}/frames").json()
        masks = [client.get(f"/api/frames/{f['id']}/mask") for f in frames]
        images = [client.get(f"/api/frames/{f['id']}/image").content for f in frames]
        return {
            "projects": projects,
            "frames": frames,
            "masks": [(m.headers["etag"], m.content) for m in masks],
            "images": images,
            "versions": client.get(f"/api/frames/{frames[0]['id']}/masks").json(),
        }


def test_backup_then_restore(tmp_path, monkeypatch, settings):
    source = Settings(data_dir=tmp_path / "source")
    upgrade_database(source)
    token = add_user(source, ADMIN_EMAIL, is_admin=True)
    with _client(source, token) as client:
        project = client.post("/api/projects", json={"name": "backed up"}).json()
        image = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
        frame = client.post(
            f"/api/projects/{project['id']}/images", files={"files": ("a.png", _png(image))}
        ).json()[0]
        for version, value in enumerate((1, 2)):
            client.put(
                f"/api/frames/{frame['id']}/mask",
                content=_png(np.full((30, 40), value, np.uint8), "L"),
                headers={"If-Match": f'"{version}"', "Content-Type": "image/png"},
            )
    before = _snapshot(source, token)
    archive = tmp_path / "backup.tar.gz"
    _env(monkeypatch, source)
    res = runner.invoke(app, ["backup", str(archive)])
    assert res.exit_code == 0, res.output

    # `settings` is a fresh, migrated SQLite or PostgreSQL database with empty media.
    _env(monkeypatch, settings)
    res = runner.invoke(app, ["restore", str(archive)])
    assert res.exit_code == 0, res.output
    after = _snapshot(settings, token)  # accounts and tokens come back too
    assert after == before
    again = runner.invoke(app, ["restore", str(archive)])
    assert again.exit_code == 1 and "not empty" in again.output.replace("\n", " ")
    # New rows after a restore get fresh ids (sequences moved past restored ids).
    with _client(settings, token) as client:
        assert client.post("/api/projects", json={"name": "new"}).json()["id"] > project["id"]


def test_restore_rejects_other_files(tmp_path, monkeypatch, settings):
    junk = tmp_path / "junk.tar.gz"
    import tarfile

    with tarfile.open(junk, "w:gz"):
        pass
    _env(monkeypatch, settings)
    res = runner.invoke(app, ["restore", str(junk)])
    assert res.exit_code == 1 and "SegTune backup" in res.output.replace("\n", " ")
