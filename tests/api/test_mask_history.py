"""Mask history authors, frame navigation (next of a kind, jump to N) and mask thumbnails."""

import io

import numpy as np
import pytest
from PIL import Image

from backend.services.masks import save_mask
from tests.accounts import ADMIN_EMAIL, add_user, bearer
from tests.api.test_frames import _png


def _mask_png(labels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(labels, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _put(client, frame_id, labels, version, headers=None):
    res = client.put(
        f"/api/frames/{frame_id}/mask",
        content=_mask_png(labels),
        headers={"Content-Type": "image/png", "If-Match": f'"{version}"', **(headers or {})},
    )
    assert res.status_code == 200, res.text
    return res.json()


def _frames(client, project, count):
    files = [("files", (f"f{i}.png", _png(40, 30), "image/png")) for i in range(count)]
    res = client.post(f"/api/projects/{project['id']}/images", files=files)
    assert res.status_code == 201, res.text
    return res.json()


def _draft(client, frame_id, labels, version):
    """A model draft, saved as the pre-label job saves it (no author)."""
    session = client.app.state.sessions()
    try:
        storage, png = client.app.state.storage, _mask_png(labels)
        save_mask(session, storage, frame_id, png, version, "prelabel")
    finally:
        session.close()


def test_versions_name_who_saved_them(client, project, settings):
    (frame,) = _frames(client, project, 1)
    pid, fid = project["id"], frame["id"]
    token = add_user(settings, "ann@example.org")
    member = {"email": "ann@example.org", "role": "annotator"}
    res = client.put(f"/api/projects/{pid}/members", json=member)
    assert res.status_code in (200, 201), res.text
    ann = bearer(token)
    a, b = np.zeros((30, 40), np.uint8), np.full((30, 40), 2, np.uint8)
    _put(client, fid, a, 0)
    _put(client, fid, b, 1, headers=ann)
    _draft(client, fid, a, 2)
    res = client.post(f"/api/frames/{fid}/masks/2/restore", headers={**ann, "If-Match": '"3"'})
    assert res.status_code == 200, res.text

    versions = client.get(f"/api/frames/{fid}/masks").json()
    seen = [(v["version"], v["source"], v["author_email"]) for v in versions]
    assert seen == [
        (4, "restore", "ann@example.org"),
        (3, "prelabel", None),
        (2, "painter", "ann@example.org"),
        (1, "painter", ADMIN_EMAIL),
    ]
    assert versions[0]["author_id"] == versions[2]["author_id"] != versions[3]["author_id"]
    assert all("created_at" in v and "author_name" in v for v in versions)


def test_next_of_a_kind_wraps_and_jump_to_position(client, project):
    frames = [f["id"] for f in _frames(client, project, 5)]
    zeros = np.zeros((30, 40), np.uint8)
    _put(client, frames[1], zeros, 0)  # in progress
    client.patch(f"/api/frames/{frames[2]}", json={"label_status": "done"})
    _draft(client, frames[3], zeros, 0)  # a model draft
    _draft(client, frames[0], zeros, 0)
    client.patch(f"/api/frames/{frames[0]}", json={"label_status": "done"})  # accepted draft

    def nxt(frame_id, kind):
        res = client.get(f"/api/frames/{frame_id}/next", params={"kind": kind})
        assert res.status_code == 200, res.text
        return res.json()

    assert nxt(frames[0], "any") == {"frame_id": frames[1], "position": 2, "total": 5}
    assert nxt(frames[4], "any")["frame_id"] == frames[0]  # wraps around
    assert nxt(frames[1], "unlabeled")["frame_id"] == frames[4]
    assert nxt(frames[4], "unlabeled") == {"frame_id": None, "position": None, "total": 5}
    assert nxt(frames[4], "open")["frame_id"] == frames[1]  # skips the done frame 0
    assert nxt(frames[1], "open")["frame_id"] == frames[3]  # skips the done frame 2
    assert nxt(frames[4], "draft")["frame_id"] == frames[3]  # frame 0's draft is done
    assert nxt(frames[3], "draft")["frame_id"] is None
    bad = client.get(f"/api/frames/{frames[0]}/next", params={"kind": "maybe"})
    assert bad.status_code == 422 and "unlabeled" in bad.json()["detail"]

    at = client.get(f"/api/projects/{project['id']}/frame-at", params={"position": 3})
    assert at.json() == {"frame_id": frames[2], "position": 3, "total": 5}
    far = client.get(f"/api/projects/{project['id']}/frame-at", params={"position": 6})
    assert far.status_code == 404 and "1 to 5" in far.json()["detail"]
    zero = client.get(f"/api/projects/{project['id']}/frame-at", params={"position": 0})
    assert zero.status_code == 422


@pytest.mark.parametrize("saved", [False, True], ids=["blank", "saved"])
def test_mask_thumbnail_colours_and_etag(client, project, saved):
    (frame,) = _frames(client, project, 1)
    fid = frame["id"]
    labels = np.full((30, 40), 255, np.uint8)
    labels[:, :20] = 1
    if saved:
        _put(client, fid, labels, 0)
    res = client.get(f"/api/frames/{fid}/mask/thumbnail")
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(res.content))
    assert image.mode == "P" and image.size == (40, 30)
    rgba = np.asarray(image.convert("RGBA"))
    assert (rgba[:, 20:, 3] == 0).all()  # unlabeled is transparent
    if saved:
        colour = client.get(f"/api/projects/{project['id']}").json()["classes"][1]["color"]
        want = [int(colour[i : i + 2], 16) for i in (1, 3, 5)] + [255]
        assert (rgba[:, :20] == want).all()
    else:
        assert (rgba[..., 3] == 0).all()
    etag = res.headers["etag"]
    again = client.get(f"/api/frames/{fid}/mask/thumbnail", headers={"If-None-Match": etag})
    assert again.status_code == 304
    _put(client, fid, labels, 1 if saved else 0)
    fresh = client.get(f"/api/frames/{fid}/mask/thumbnail", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
