"""kill -9 amid mask saves, uploads, an import and sampling: the old state or the new, never torn.

After each kill: every acknowledged mask version reads back byte for byte, no row points at a
missing file, every stored mask is a whole PNG of its frame's size, each frame's version is its
newest mask row, and an import left no frames behind. What a kill can leave (a file written
just before its row, a half-written temporary file) `segtune fsck` lists, and `fsck --delete`
removes, after which fsck finds nothing.
"""

import io
import itertools
import threading
import time
import uuid
import zipfile
from unittest import mock

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from backend.cli import app as cli_app
from backend.cli_jobs import console
from backend.db import make_engine
from backend.models import Frame, Mask, Video
from backend.services.mask_codec import check_mask
from backend.storage import make_storage
from tests.live import LiveServer
from tests.videos import make_video

pytestmark = pytest.mark.integration
# Big enough for a mask PNG to be a real multi-row image; every cost of the test scales with it.
W, H = 640, 360


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _mask(seed: int, width: int = W, height: int = H) -> bytes:
    rng = np.random.default_rng(seed)
    labels = np.zeros((height, width), np.uint8)
    for value in (1, 2, 255):
        x, y = rng.integers(0, width // 2), rng.integers(0, height // 2)
        labels[y : y + height // 3, x : x + width // 3] = value
    return _png(labels, "L")


def _wait(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def assert_consistent(settings) -> None:
    """No row without its file; masks whole and of their frame's size; versions line up."""
    storage = make_storage(settings)
    engine = make_engine(settings.effective_database_url)
    with Session(engine) as session:
        frames = {f.id: f for f in session.scalars(select(Frame))}
        masks = list(session.scalars(select(Mask)))
        videos = list(session.scalars(select(Video)))
    engine.dispose()
    for row in [*frames.values(), *masks, *videos]:
        assert storage.exists(row.storage_key), f"{row!r} points at missing {row.storage_key}"
    for video in videos:
        assert storage.path(video.storage_key).stat().st_size == video.size_bytes
    newest: dict[int, int] = {}
    for mask in masks:
        frame = frames[mask.frame_id]
        with storage.open_read(mask.storage_key) as fh:
            check_mask(fh.read(), frame.width, frame.height, 256)
        newest[frame.id] = max(newest.get(frame.id, 0), mask.version)
    assert {f.id: f.mask_version for f in frames.values()} == {f: newest.get(f, 0) for f in frames}


def _fsck(server: LiveServer, *args: str):
    """`segtune fsck` with the server's settings, run in this process: a fresh interpreter
    per call spent seconds importing, 24 calls a backend."""
    # Wide enough that no table cell or summary wraps (a subprocess got COLUMNS=200).
    with mock.patch.object(console, "_width", 200):
        result = CliRunner().invoke(cli_app, ["fsck", "--min-age", "0", *args], env=server.env())
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash, not fsck's "problems found" exit status
    return result


def assert_fsck_repairs(server: LiveServer, left_something: bool = False) -> str:
    """fsck exits 1 exactly when it lists problems; --delete fixes them; then fsck finds none."""
    found = _fsck(server)
    clean = ", 0 problems" in found.stdout
    assert found.exit_code == (0 if clean else 1), found.output
    assert not (left_something and clean), found.stdout
    fixed = _fsck(server, "--delete")
    assert fixed.exit_code == 0, fixed.output
    again = _fsck(server)
    assert again.exit_code == 0 and ", 0 problems" in again.stdout, again.output
    return found.stdout


def _project_with_frames(server: LiveServer, n: int, width: int = W, height: int = H):
    """A new project's id and its n frames."""
    with server.client(timeout=120) as http:
        project = http.post("/api/projects", json={"name": "crash"}).json()
        if not n:
            return project["id"], []
        image = _png(np.full((height, width, 3), 100, np.uint8))
        files = [("files", (f"f{i}.png", image)) for i in range(n)]
        res = http.post(f"/api/projects/{project['id']}/images", files=files)
        return project["id"], res.json()


@pytest.fixture
def server(settings, tmp_path):
    """The web app alone (tests that need a worker start one)."""
    live = LiveServer(settings, tmp_path / "logs")
    live.start(worker_queues=())
    yield live
    live.stop()


def _annotate(server, frame_id: int, bodies, acked: list, errors: list, stop) -> None:
    """Save masks one after another (If-Match the last acknowledged version) until cut off."""
    with server.client(timeout=30) as http:
        version = int(http.get(f"/api/frames/{frame_id}/mask").headers["etag"].strip('"'))
        for i in itertools.count(frame_id):
            if stop.is_set():
                return
            body = bodies[i % len(bodies)]
            headers = {"If-Match": f'"{version}"', "Content-Type": "image/png"}
            try:
                res = http.put(f"/api/frames/{frame_id}/mask", content=body, headers=headers)
            except httpx.TransportError:
                errors.append(None)  # the server died under this request: not acknowledged
                return
            if res.status_code != 200:
                errors.append(res.text)
                return
            version = res.json()["version"]
            acked.append((frame_id, version, body))


def test_kill_web_during_mask_saves(server, settings):
    _, frames = _project_with_frames(server, 4)
    bodies = [_mask(seed) for seed in range(5)]
    acked, errors = [], []
    for _round in range(3):
        stop, before = threading.Event(), len(acked)
        threads = [
            threading.Thread(target=_annotate, args=(server, f["id"], bodies, acked, errors, stop))
            for f in frames
        ]
        for thread in threads:
            thread.start()
        _wait(lambda b=before: len(acked) >= b + 15, what="mask saves")
        server.kill_web()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert None in errors, "the kill did not cut off any save"
        assert not [e for e in errors if e is not None], errors
        errors.clear()
        server.restart_web()
        assert_consistent(settings)
        assert_fsck_repairs(server)
    with server.client(timeout=30) as http:
        for frame_id, version, body in acked:
            res = http.get(f"/api/frames/{frame_id}/masks/{version}")
            assert res.status_code == 200 and res.content == body, (frame_id, version)
        for frame in frames:
            newest = max(v for f, v, _ in acked if f == frame["id"])
            current = http.get(f"/api/frames/{frame['id']}/mask").headers["etag"]
            assert int(current.strip('"')) in (newest, newest + 1)  # +1: saved, reply lost


def _slow_multipart(boundary: str, sent: list, stop) -> bytes:
    """A multipart body whose file part never ends before the server is killed."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    chunk = bytes(256 * 1024)
    while not stop.is_set():
        sent.append(len(chunk))
        yield chunk
        time.sleep(0.01)
    yield f"\r\n--{boundary}--\r\n".encode()


def test_kill_web_during_video_uploads(server, settings, tmp_path):
    project_id, _ = _project_with_frames(server, 0)
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0).read_bytes()
    acked, sent, outcome, stop = [], [], [], threading.Event()

    def slow_upload() -> None:
        boundary = uuid.uuid4().hex
        try:
            with server.client(timeout=60) as http:
                res = http.post(
                    f"/api/projects/{project_id}/videos",
                    content=_slow_multipart(boundary, sent, stop),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                )
            outcome.append(res.status_code)
        except httpx.TransportError:
            outcome.append("cut off")

    def small_uploads() -> None:
        with server.client(timeout=30) as http:
            while not stop.is_set():
                try:
                    res = http.post(
                        f"/api/projects/{project_id}/videos?duplicates=keep",
                        files={"file": ("c.mp4", clip)},
                    )
                except httpx.TransportError:
                    return
                assert res.status_code == 201, res.text
                acked.append(res.json()["id"])

    threads = [threading.Thread(target=slow_upload), threading.Thread(target=small_uploads)]
    for thread in threads:
        thread.start()
    storage = make_storage(settings)
    _wait(lambda: sum(sent) > 16 * 2**20 and len(acked) >= 3, what="uploads under way")
    spooled = _wait(
        lambda: [p for p in storage.tmp_dir.iterdir() if p.stat().st_size > 2**20],
        what="a spooled upload",
    )
    storage.sweep_temp()  # another process's sweep leaves a live process's upload alone
    assert all(p.exists() for p in spooled)
    server.kill_web()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert outcome == ["cut off"]
    server.restart_web()
    assert not any(p.exists() for p in spooled)  # its process is gone: swept at start
    assert_consistent(settings)
    assert_fsck_repairs(server)
    with server.client(timeout=30) as http:
        videos = http.get(f"/api/projects/{project_id}/videos").json()
        assert set(acked) <= {v["id"] for v in videos}
        assert all(v["filename"] == "c.mp4" for v in videos)  # nothing of the cut-off upload
        url = f"/api/projects/{project_id}/videos?duplicates=keep"  # the same clip again
        res = http.post(url, files={"file": ("c.mp4", clip)})
        assert res.status_code == 201, res.text


def _dataset_zip(n: int) -> bytes:
    """A plain-layout zip of n noisy 320x240 images with masks (seconds to import)."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            zf.writestr(f"images/{i}.png", _png(rng.integers(0, 256, (240, 320, 3), np.uint8)))
            zf.writestr(f"masks/{i}.png", _mask(i, 320, 240))
    return buf.getvalue()


def test_kill_worker_during_import(settings, tmp_path):
    server = LiveServer(settings, tmp_path / "logs")
    server.start()
    try:
        project_id, _ = _project_with_frames(server, 1, 64, 48)
        n = 480  # several seconds of import, so the kill lands midway on an idle machine too
        with server.client(timeout=120) as http:
            res = http.post(
                f"/api/projects/{project_id}/imports",
                files={"file": ("ds.zip", _dataset_zip(n), "application/zip")},
            )
            assert res.status_code == 202, res.text
            job_id = res.json()["id"]

            def midway():
                job = http.get(f"/api/jobs/{job_id}").json()
                assert job["status"] in ("queued", "running"), job
                return job["status"] == "running" and 0.1 <= job["progress"] < 0.9

            _wait(midway, what="the import to be half done")
            server.kill_worker(server.workers[0])
            server.kill_web()
            server.restart_web()
            assert len(http.get(f"/api/projects/{project_id}/frames").json()) == 1
            assert_consistent(settings)
            server.start_worker()
            job = server.wait_job(job_id, timeout=120)
            assert job["status"] == "failed" and "worker lost" in job["error"], job
            assert len(http.get(f"/api/projects/{project_id}/frames").json()) == 1
            # The converted images and masks of the lost run have no rows; the zip stays.
            assert "orphan file" in assert_fsck_repairs(server, left_something=True)
            http.post(f"/api/jobs/{job_id}/retry").raise_for_status()
            job = server.wait_job(job_id, timeout=180)
            assert job["status"] == "succeeded", job
            assert len(http.get(f"/api/projects/{project_id}/frames").json()) == 1 + n
        assert_consistent(settings)
        assert "clean:" in assert_fsck_repairs(server)
    finally:
        server.stop()


def test_kill_worker_during_sampling(settings, tmp_path):
    server = LiveServer(settings, tmp_path / "logs")
    server.start()
    try:
        project_id, _ = _project_with_frames(server, 0)
        clip = make_video(tmp_path / "long.mp4", codec="mpeg4", width=480, height=270, seconds=20)
        with server.client(timeout=120) as http:
            with open(clip, "rb") as fh:
                res = http.post(f"/api/projects/{project_id}/videos", files={"file": ("l.mp4", fh)})
            assert res.status_code == 201, res.text
            res = http.post(f"/api/videos/{res.json()['id']}/sample", json={"every_n_frames": 1})
            job_id = res.json()["id"]

            def midway():
                job = http.get(f"/api/jobs/{job_id}").json()
                assert job["status"] in ("queued", "running"), job
                return job["status"] == "running" and 0.1 <= job["progress"] < 0.8

            _wait(midway, what="sampling to be under way")
            server.kill_worker(server.workers[0])
            job = server.wait_job(job_id, timeout=60)  # the web's reaper: worker lost
            assert job["status"] == "failed" and "worker lost" in job["error"], job
            assert_consistent(settings)
            kept = len(http.get(f"/api/projects/{project_id}/frames").json())
            assert 0 < kept < 600
            # Frames encoded but not yet inserted, and the pool's half-written temporary files.
            assert_fsck_repairs(server, left_something=True)
            assert len(http.get(f"/api/projects/{project_id}/frames").json()) == kept
            server.start_worker()
            http.post(f"/api/jobs/{job_id}/retry").raise_for_status()
            job = server.wait_job(job_id, timeout=180)
            assert job["status"] == "succeeded", job
            assert (
                job["result"]["frames_existing"] == kept
                and job["result"]["frames_added"] == 600 - kept
            )
        assert_consistent(settings)
        assert "clean:" in assert_fsck_repairs(server)
    finally:
        server.stop()
