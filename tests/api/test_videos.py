"""Video upload: streamed, probed, limited; bad files leave nothing behind."""

import pytest

from backend.storage import is_owner_lock
from tests.videos import make_video


def _media_files(settings):
    """Stored and temporary files (a live process's temp-owner lock file is no leftover)."""
    root = settings.data_path / "media"
    return sorted(p for p in root.rglob("*") if p.is_file() and not is_owner_lock(p.name))


def test_upload_mp4(client, project, tmp_path, settings):
    path = make_video(tmp_path / "clip.mp4", fps=25, seconds=2.0, width=320, height=240)
    with open(path, "rb") as fh:
        res = client.post(f"/api/projects/{project['id']}/videos", files={"file": ("clip.mp4", fh)})
    assert res.status_code == 201, res.text
    body = res.json()
    assert {k: body[k] for k in ("filename", "fps", "width", "height", "codec", "frame_count")} == {
        "filename": "clip.mp4",
        "fps": 25.0,
        "width": 320,
        "height": 240,
        "codec": "h264",
        "frame_count": 50,
    }
    assert body["duration_s"] == pytest.approx(2.0)
    assert len(_media_files(settings)) == 1
    assert client.get(f"/api/projects/{project['id']}/videos").json()[0]["id"] == body["id"]


def test_hostile_file_name_is_only_a_label(client, project, tmp_path, settings):
    path = make_video(tmp_path / "clip.mp4", seconds=0.5)
    with open(path, "rb") as fh:
        files = {"file": ("..\\..\\etc/<b>passwd.mp4", fh)}
        res = client.post(f"/api/projects/{project['id']}/videos", files=files)
    assert res.status_code == 201
    assert res.json()["filename"] == "<b>passwd.mp4"
    (stored,) = _media_files(settings)
    assert "passwd" not in str(stored) and stored.is_relative_to(settings.data_path / "media")


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"", "no"),
        (b"hello, I am text", "not a readable video"),
        (bytes(range(256)) * 1000, "not a readable video"),
    ],
    ids=["empty", "text", "random"],
)
def test_bad_video_is_422_and_leaves_nothing(client, project, settings, content, needle):
    res = client.post(f"/api/projects/{project['id']}/videos", files={"file": ("x.mp4", content)})
    assert res.status_code == 422
    assert needle in res.json()["detail"].lower()
    assert client.get(f"/api/projects/{project['id']}/videos").json() == []
    assert _media_files(settings) == []


def test_truncated_video_is_422(client, project, tmp_path, settings):
    data = make_video(tmp_path / "clip.mp4", seconds=2).read_bytes()
    res = client.post(
        f"/api/projects/{project['id']}/videos", files={"file": ("x.mp4", data[: len(data) // 2])}
    )
    assert res.status_code == 422
    assert _media_files(settings) == []


def test_oversized_upload_is_413(client, project, settings):
    settings.max_upload_mb = 1
    res = client.post(
        f"/api/projects/{project['id']}/videos", files={"file": ("big.mp4", b"\0" * (2 * 2**20))}
    )
    assert res.status_code == 413
    assert "1 MB" in res.json()["detail"]
    assert _media_files(settings) == []


def test_upload_needs_multipart_file(client, project):
    res = client.post(f"/api/projects/{project['id']}/videos", content=b"raw")
    assert res.status_code == 422
    res = client.post(f"/api/projects/{project['id']}/videos", files={"other": ("a", b"x")})
    assert res.status_code == 422 and "file" in res.json()["detail"]


def test_upload_to_missing_project_is_404(client, tmp_path, settings):
    path = make_video(tmp_path / "clip.mp4", seconds=0.5)
    with open(path, "rb") as fh:
        res = client.post("/api/projects/42/videos", files={"file": ("clip.mp4", fh)})
    assert res.status_code == 404
    assert _media_files(settings) == []


def test_sample_request_validation(client, project, tmp_path, dispatcher):
    path = make_video(tmp_path / "clip.mp4", seconds=1)
    with open(path, "rb") as fh:
        video = client.post(
            f"/api/projects/{project['id']}/videos", files={"file": ("c.mp4", fh)}
        ).json()
    url = f"/api/videos/{video['id']}/sample"
    assert client.post(url, json={}).status_code == 422
    assert client.post(url, json={"fps": 2, "every_n_frames": 3}).status_code == 422
    assert client.post(url, json={"fps": -1}).status_code == 422
    assert client.post(url, json={"fps": 2, "start_s": 5, "end_s": 1}).status_code == 422
    assert client.post("/api/videos/999/sample", json={"fps": 2}).status_code == 404
    res = client.post(url, json={"fps": 2})
    assert res.status_code == 202
    job = res.json()
    assert job["status"] == "queued" and job["kind"] == "sample"
    assert dispatcher.sent == [job["id"]]
