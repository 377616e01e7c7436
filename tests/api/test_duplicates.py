"""Identical uploads: reported as 409 with the existing object's id, skipped or kept on request."""

import hashlib

from sqlalchemy import select

from backend.db import session_scope
from backend.models import Frame, Video
from tests.api.test_frames import _png
from tests.api.test_videos import _media_files
from tests.videos import make_video


def _post_video(client, project_id: int, data: bytes, name: str = "clip.mp4", **params):
    files = {"file": (name, data)}
    return client.post(f"/api/projects/{project_id}/videos", files=files, params=params)


def test_identical_video_is_409_with_the_existing_id_and_kept_on_request(
    client, project, tmp_path, settings
):
    data = make_video(tmp_path / "clip.mp4", seconds=0.5).read_bytes()
    first = _post_video(client, project["id"], data)
    assert first.status_code == 201, first.text
    with session_scope(client.app.state.sessions) as session:
        stored = session.scalar(select(Video.content_sha256))
    assert stored == hashlib.sha256(data).hexdigest()

    again = _post_video(client, project["id"], data, name="copy.mp4")
    assert again.status_code == 409, again.text
    body = again.json()
    assert "copy.mp4 is identical to clip.mp4" in body["detail"]
    assert body["duplicates"] == [
        {
            "index": 0,
            "filename": "copy.mp4",
            "kind": "video",
            "existing_id": first.json()["id"],
            "existing_name": "clip.mp4",
        }
    ]
    assert len(client.get(f"/api/projects/{project['id']}/videos").json()) == 1
    assert len(_media_files(settings)) == 1  # the refused upload left no file

    kept = _post_video(client, project["id"], data, name="copy.mp4", duplicates="keep")
    assert kept.status_code == 201, kept.text
    assert len(client.get(f"/api/projects/{project['id']}/videos").json()) == 2


def test_same_video_in_another_project_is_not_a_duplicate(client, project, tmp_path):
    data = make_video(tmp_path / "clip.mp4", seconds=0.5).read_bytes()
    other = client.post("/api/projects", json={"name": "other"}).json()
    assert _post_video(client, project["id"], data).status_code == 201
    assert _post_video(client, other["id"], data).status_code == 201


def test_bad_duplicates_mode_is_422(client, project, tmp_path):
    data = make_video(tmp_path / "clip.mp4", seconds=0.5).read_bytes()
    res = _post_video(client, project["id"], data, duplicates="skip")
    assert res.status_code == 422
    res = client.post(
        f"/api/projects/{project['id']}/images",
        files={"files": ("a.png", _png())},
        params={"duplicates": "maybe"},
    )
    assert res.status_code == 422 and "duplicates" in res.text


def _post_images(client, project_id: int, images: dict[str, bytes], **params):
    files = [("files", (name, data)) for name, data in images.items()]
    return client.post(f"/api/projects/{project_id}/images", files=files, params=params)


def test_identical_images_are_refused_skipped_or_kept(client, project):
    red, blue, green = _png(color=(200, 0, 0)), _png(color=(0, 0, 200)), _png(color=(0, 200, 0))
    first = _post_images(client, project["id"], {"red.png": red})
    assert first.status_code == 201, first.text
    red_id = first.json()[0]["id"]

    # One duplicate of a stored frame refuses the whole upload (all or none).
    batch = {"blue.png": blue, "red-again.png": red}
    refused = _post_images(client, project["id"], batch)
    assert refused.status_code == 409, refused.text
    assert refused.json()["duplicates"] == [
        {
            "index": 1,
            "filename": "red-again.png",
            "kind": "frame",
            "existing_id": red_id,
            "existing_name": "red.png",
        }
    ]
    assert f"red-again.png is identical to red.png (frame {red_id})" in refused.json()["detail"]
    assert len(client.get(f"/api/projects/{project['id']}/frames").json()) == 1

    # Copies within one upload are not duplicates of anything stored.
    skipped = _post_images(
        client, project["id"], {**batch, "green.png": green, "g2.png": green}, duplicates="skip"
    )
    assert skipped.status_code == 201, skipped.text
    assert [f["source_name"] for f in skipped.json()] == ["blue.png", "green.png", "g2.png"]

    only_dupes = _post_images(client, project["id"], {"red3.png": red}, duplicates="skip")
    assert only_dupes.status_code == 201 and only_dupes.json() == []

    kept = _post_images(client, project["id"], {"red4.png": red}, duplicates="keep")
    assert kept.status_code == 201 and len(kept.json()) == 1
    with session_scope(client.app.state.sessions) as session:
        hashes = session.scalars(select(Frame.content_sha256).order_by(Frame.id)).all()
    assert hashes[0] == hashes[-1] == hashlib.sha256(red).hexdigest()
    assert len(hashes) == 5
