"""The S3 backend against a real S3-compatible server (moto's standalone server)."""

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from backend.config import Settings
from backend.storage import make_storage


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto_server on a free loopback port for the duration of this module."""
    port = _port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "moto_server did not start"
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait()


@pytest.fixture
def storage(s3_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    bucket = f"segtune-{os.getpid()}-{time.monotonic_ns()}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    settings = Settings(
        data_dir=tmp_path / "worker-a",
        s3_bucket=bucket,
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        s3_prefix="media",
    )
    return make_storage(settings), settings


def _machine(settings: Settings, data_dir: Path) -> Settings:
    """The same settings on another machine (model_copy would keep the cached data_path)."""
    return Settings(**{**settings.model_dump(), "data_dir": data_dir})


def test_round_trip_between_two_machines(storage, tmp_path):
    store, settings = storage
    store.put_bytes("projects/1/masks/ab/x.png", b"mask bytes")
    with store.open_write("projects/1/frames/cd/y.png") as fh:
        fh.write(b"frame bytes")
    # Another worker with an empty cache sees the same objects.
    other = make_storage(_machine(settings, tmp_path / "worker-b"))
    assert other.path("projects/1/masks/ab/x.png").read_bytes() == b"mask bytes"
    with other.open_read("projects/1/frames/cd/y.png") as fh:
        assert fh.read() == b"frame bytes"
    assert other.exists("projects/1/frames/cd/y.png")
    other.delete_tree("projects/1")
    third = make_storage(_machine(settings, tmp_path / "worker-c"))
    assert not third.exists("projects/1/masks/ab/x.png")
    with pytest.raises(FileNotFoundError):
        third.path("projects/1/masks/ab/x.png")


def test_failed_write_leaves_no_object(storage):
    store, _ = storage
    with pytest.raises(RuntimeError), store.open_write("projects/2/frames/aa/z.png") as fh:
        fh.write(b"partial")
        raise RuntimeError("crash mid-write")
    assert not store.exists("projects/2/frames/aa/z.png")


def test_large_object_streams_in_parts(storage, tmp_path):
    store, settings = storage
    big = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(big, "wb") as fh:
        for i in range(40):  # 40 MB: several multipart parts
            block = bytes([i]) * 2**20
            fh.write(block)
            digest.update(block)
    store.put_file(big, "models/ee/big.pth")
    other = make_storage(_machine(settings, tmp_path / "fresh"))
    got = hashlib.sha256(other.path("models/ee/big.pth").read_bytes()).hexdigest()
    assert got == digest.hexdigest()


def test_hostile_keys_are_refused(storage):
    store, _ = storage
    with pytest.raises(ValueError):
        store.put_bytes("../escape", b"x")


def test_fsck_on_s3_finds_orphans_and_stale_cache_copies(storage, tmp_path):
    from backend.db import make_engine, make_sessionmaker, upgrade_database
    from backend.services.fsck import check_storage

    store, settings = storage
    other_settings = _machine(settings, tmp_path / "worker-b")
    other = make_storage(other_settings)
    upgrade_database(other_settings)
    engine = make_engine(other_settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    store.put_bytes("projects/1/frames/ab/orphan.png", b"no row")
    store.put_bytes("projects/1/frames/cd/gone.png", b"deleted elsewhere")
    cached = other.path("projects/1/frames/cd/gone.png")  # worker b keeps a local copy
    store.delete("projects/1/frames/cd/gone.png")  # worker a deletes the object
    (other.tmp_dir / "0123456789abcdef-download").write_bytes(b"half")  # a killed download
    try:
        report = check_storage(sessions, other, other_settings, min_age_s=0)
        assert sorted((p.kind, p.path) for p in report.problems) == [
            ("orphan file", "projects/1/frames/ab/orphan.png"),
            ("stale cache copy", str(cached)),
            ("stale temporary file", str(other.tmp_dir / "0123456789abcdef-download")),
        ]
        check_storage(sessions, other, other_settings, delete=True, min_age_s=0)
        fresh = make_storage(_machine(settings, tmp_path / "worker-c"))
        assert not cached.exists() and not fresh.exists("projects/1/frames/ab/orphan.png")
        assert check_storage(sessions, other, other_settings, min_age_s=0).problems == []
    finally:
        engine.dispose()
