"""Schemathesis against the OpenAPI schema: no generated request to any operation gets a 5xx.

Each operation runs against a fresh app on seeded data (two projects, frames with mask versions,
a video, a model, jobs in several states): on SQLite a copy of one seeded data dir, on
PostgreSQL (when configured) a re-seeded database. Path ids are sometimes swapped for ids of
those rows so requests reach real data.
"""

import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import text

from backend.app import create_app
from backend.config import Settings
from backend.db import make_engine, upgrade_database
from backend.models import Base
from tests.accounts import ADMIN_EMAIL, add_user, bearer
from tests.conftest import RecordingDispatcher
from tests.videos import make_video

# Per operation: ~47 operations take about 45 s on two cores. The `dev` profile digs deeper.
DEV = os.environ.get("SEGTUNE_HYPOTHESIS_PROFILE") == "dev"
EXAMPLES = 300 if DEV else 30
# Wrong passwords are 401 by design; revoking token 1 signs the fuzzer's own token out.
SIGNS_OUT = {"/api/auth/login", "/api/tokens/{token_id}"}
REAL_IDS = {
    "project_id": [1, 2],
    "frame_id": [1, 2, 3],
    "video_id": [1],
    "model_id": [1],
    "job_id": [1, 2, 3, 4],
    "version": [1, 2],
    "user_id": [1],
    "token_id": [1],
}


def auth_headers(app) -> dict[str, str]:
    """Headers every generated request carries: the seeded administrator's token."""
    return bearer(app.state.test_token)


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _seed(client: TestClient, clip: Path) -> None:
    """Rows for REAL_IDS, made through the API as a user would."""
    ok = (200, 201, 202)
    project = client.post("/api/projects", json={"name": "streets"}).json()
    assert client.post("/api/projects", json={"name": "spare"}).status_code == 201
    grey = [_png(np.full((24, 32, 3), 40 * i, np.uint8)) for i in range(3)]
    images = [("files", (f"f{i}.png", data)) for i, data in enumerate(grey)]
    frames = client.post(f"/api/projects/{project['id']}/images", files=images).json()
    mask = np.zeros((24, 32), np.uint8)
    for version in (0, 1):
        mask[version, :] = 1
        res = client.put(
            f"/api/frames/{frames[0]['id']}/mask",
            content=_png(mask, "L"),
            headers={"If-Match": f'"{version}"', "Content-Type": "image/png"},
        )
        assert res.status_code == 200, res.text
    with open(clip, "rb") as fh:
        video = client.post(f"/api/projects/{project['id']}/videos", files={"file": ("c.mp4", fh)})
    assert video.status_code == 201, video.text
    jobs = [
        client.post(f"/api/videos/{video.json()['id']}/sample", json={"fps": 1}),
        client.post(f"/api/projects/{project['id']}/exports", json={}),
        client.post(
            "/api/models",
            files={"file": ("m.pth", b"not a checkpoint")},
            data={"preset": "cityscapes19", "name": "base"},
        ),
        client.post(f"/api/videos/{video.json()['id']}/sample", json={"every_n_frames": 5}),
    ]
    assert all(res.status_code in ok for res in jobs), [res.text for res in jobs]


def _seeded(settings: Settings, clip: Path) -> str:
    """Seed an empty, migrated database and its media folder; returns an admin token."""
    token = add_user(settings, ADMIN_EMAIL, is_admin=True)
    with TestClient(create_app(settings, dispatcher=RecordingDispatcher())) as client:
        client.headers.update(bearer(token))
        _seed(client, clip)
    engine = make_engine(settings.effective_database_url)
    with engine.begin() as conn:  # a failed and a cancelled job, so retry has something to do
        conn.execute(text("UPDATE jobs SET status = 'failed', error = 'x' WHERE id = 1"))
        conn.execute(text("UPDATE jobs SET status = 'cancelled' WHERE id = 4"))
    engine.dispose()
    return token


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A short video for the seeded project."""
    return make_video(tmp_path_factory.mktemp("clip") / "c.mp4", seconds=0.5, width=64, height=48)


@pytest.fixture(scope="module")
def template(tmp_path_factory, clip: Path) -> tuple[Path, str]:
    """A seeded SQLite data directory, copied for every operation, and its admin token."""
    data = tmp_path_factory.mktemp("openapi") / "data"
    settings = Settings(data_dir=data)
    upgrade_database(settings)
    return data, _seeded(settings, clip)


def _real_ids(_context, path_parameters: dict) -> st.SearchStrategy:
    """The generated path parameters, or the same with ids of seeded rows."""
    if not path_parameters:
        return st.just(path_parameters)
    real = {
        key: st.sampled_from(REAL_IDS[key])
        for key in path_parameters
        if key in REAL_IDS and isinstance(path_parameters[key], int)
    }
    if not real:
        return st.just(path_parameters)
    fixed = {key: st.just(value) for key, value in path_parameters.items()}
    return st.one_of(st.just(path_parameters), st.fixed_dictionaries({**fixed, **real}))


def _load_schema():
    """The app's OpenAPI document (it does not depend on the settings or the data)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp)), dispatcher=RecordingDispatcher())
        document = app.openapi()
        app.state.engine.dispose()
    loaded = schemathesis.openapi.from_dict(document)
    loaded.hook("flatmap_path_parameters")(_real_ids)
    return loaded


@pytest.fixture(params=["sqlite", "postgres"])
def app(request, tmp_path: Path, clip: Path):
    """A fresh app on freshly seeded data: a copy of the SQLite template, or PostgreSQL."""
    if request.param == "sqlite":
        data, token = request.getfixturevalue("template")
        shutil.copytree(data, tmp_path / "data")
        settings = Settings(data_dir=tmp_path / "data")
    else:
        url = request.getfixturevalue("pg_database")
        settings = Settings(data_dir=tmp_path / "data", database_url=url)
        upgrade_database(settings)
        engine = make_engine(url)
        with engine.begin() as conn:  # ids start at 1 again, as REAL_IDS expects
            tables = ", ".join(Base.metadata.tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        token = _seeded(settings, clip)
    app = create_app(settings, dispatcher=RecordingDispatcher())
    app.state.test_token = token
    yield app
    # Schemathesis keeps started lifespans (reaper task, connection pool) until exit: end them
    # now, so dozens of apps do not hold database connections.
    shutdown_lifespans()
    app.state.engine.dispose()


schema = _load_schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    database=None,
    deadline=None,
    derandomize=not DEV,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case, app):
    response = case.call(base_url="http://testserver", headers=auth_headers(app), app=app)
    if case.path not in SIGNS_OUT:  # the request got past authentication to the route itself
        assert response.status_code != 401, f"{case.method} {case.formatted_path}: 401"
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
        f"{case.as_curl_command()}"
    )
