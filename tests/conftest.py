"""Shared fixtures: settings per database backend, an API client, and a live server + worker."""

import functools
import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from backend.config import Settings
from backend.db import alembic_config, make_engine, upgrade_database
from backend.models import Base
from tests.accounts import ADMIN_EMAIL, add_user, bearer
from tests.live import LiveServer

PG_URL = os.environ.get("SEGTUNE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SEGTUNE_TEST_BROKER_URL")
REQUIRE_SERVICES = os.environ.get("SEGTUNE_REQUIRE_SERVICES") == "1"
BACKENDS = ["sqlite", "postgres"]


def _need_services() -> None:
    """Skip (locally) or fail (CI) when PostgreSQL/Redis were not configured."""
    if not (PG_URL and REDIS_URL):
        message = "SEGTUNE_TEST_DATABASE_URL / SEGTUNE_TEST_BROKER_URL are not set"
        if REQUIRE_SERVICES:
            pytest.fail(message + " but SEGTUNE_REQUIRE_SERVICES=1")
        pytest.skip(message)


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    _need_services()
    server = make_url(PG_URL)
    name = f"segtune_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - turn an unreachable server into a clear failure
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_broker():
    """A Redis database for this test session, emptied before use."""
    _need_services()
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
    return REDIS_URL


def _empty(url: str) -> None:
    """Delete every row, children first. (TRUNCATE swaps each table's files and took about
    0.3 s a test; DELETE of the few rows a test leaves takes milliseconds.)"""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    tables = reversed(Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql("; ".join(f"DELETE FROM {table.name}" for table in tables))
    engine.dispose()


@functools.cache
def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _migrate(settings: Settings) -> None:
    """Migrate to head unless the database is there already: alembic's own no-op check
    re-reads every migration file (about 0.1 s a test)."""
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no alembic_version table yet
        current = None
    finally:
        engine.dispose()
    if current != _head_revision():
        upgrade_database(settings)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite database migrated to head once, copied for each test (a fresh migration
    costs about 0.3 s, hundreds of times a session)."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    upgrade_database(Settings(data_dir=folder, database_url=""))
    return folder / "segtune.db"


@pytest.fixture(params=BACKENDS)
def settings(request, tmp_path: Path) -> Settings:
    """Settings on SQLite + filesystem broker, or PostgreSQL + Redis, migrated and empty."""
    if request.param == "postgres":
        db_url = request.getfixturevalue("pg_database")
        broker = request.getfixturevalue("redis_broker")
    else:
        db_url, broker = "", ""
    result = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        broker_url=broker,
        heartbeat_s=0.5,
        # Jobs start within 0.1 s on the filesystem broker too (its default polls each second).
        broker_poll_s=0.1,
        worker_lost_after_s=4.0,
        # One web process keeps live-server tests light on two cores; the two-process default
        # has its own test (tests/integration/test_web_processes.py).
        web_workers=1,
    )
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), result.data_path / "segtune.db")
    _migrate(result)  # a test may have downgraded the shared PostgreSQL database
    if request.param == "postgres":
        _empty(db_url)
    return result


class RecordingDispatcher:
    """Stands in for the broker in API tests that must not run jobs."""

    def __init__(self):
        self.sent, self.revoked = [], []

    def dispatch(self, job) -> None:
        """Remember the job instead of queueing it."""
        self.sent.append(job.id)

    def revoke(self, job) -> None:
        """Remember the revoke."""
        self.revoked.append(job.id)


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    """A dispatcher that records jobs."""
    return RecordingDispatcher()


@pytest.fixture
def client(settings: Settings, dispatcher: RecordingDispatcher):
    """An in-process API client signed in as an administrator (jobs are recorded, not run)."""
    from fastapi.testclient import TestClient

    from backend.app import create_app

    token = add_user(settings, ADMIN_EMAIL, is_admin=True)
    with TestClient(create_app(settings, dispatcher=dispatcher)) as test_client:
        test_client.headers.update(bearer(token))
        yield test_client


@pytest.fixture
def project(client) -> dict:
    """A project with the default classes."""
    return client.post("/api/projects", json={"name": "streets"}).json()


@pytest.fixture
def live_server(settings: Settings, tmp_path: Path):
    """The web app and a real Celery worker as separate processes."""
    server = LiveServer(settings, tmp_path / "logs")
    server.start()
    yield server
    server.stop()
