"""Mask API: exact round trip, versions, conflicts and every rejection."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.api.test_frames import _png


def _mask_png(labels: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(labels, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def frame(client, project) -> dict:
    res = client.post(
        f"/api/projects/{project['id']}/images", files={"files": ("f.png", _png(40, 30))}
    )
    return res.json()[0]


def _put(client, frame_id, data, version):
    headers = {"Content-Type": "image/png"}
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    return client.put(f"/api/frames/{frame_id}/mask", content=data, headers=headers)


def _read(res) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(res.content)))


def test_blank_mask_is_unlabeled_version_0(client, frame):
    res = client.get(f"/api/frames/{frame['id']}/mask")
    assert res.headers["etag"] == '"0"'
    labels = _read(res)
    assert labels.shape == (30, 40) and labels.dtype == np.uint8 and (labels == 255).all()


def test_background_start_mask(client):
    project = client.post("/api/projects", json={"name": "b", "initial_mask": "background"}).json()
    frame = client.post(
        f"/api/projects/{project['id']}/images", files={"files": ("f.png", _png())}
    ).json()[0]
    assert (_read(client.get(f"/api/frames/{frame['id']}/mask")) == 0).all()


def test_save_and_read_back_exactly(client, frame):
    labels = np.full((30, 40), 255, np.uint8)
    labels[5:10, 5:20] = 1
    labels[20:, :3] = 2
    labels[0, 0] = 0
    res = _put(client, frame["id"], _mask_png(labels), 0)
    assert res.status_code == 200, res.text
    assert res.json() == {
        "version": 1,
        "class_pixel_counts": {"0": 1, "1": 75, "2": 30, "255": 1200 - 106},
    }
    got = client.get(f"/api/frames/{frame['id']}/mask")
    assert got.headers["etag"] == '"1"'
    assert np.array_equal(_read(got), labels)
    body = client.get(f"/api/frames/{frame['id']}").json()
    assert body["label_status"] == "in_progress" and body["mask_version"] == 1


def test_stale_version_is_409_and_nothing_is_lost(client, frame):
    first = np.zeros((30, 40), np.uint8)
    second = np.ones((30, 40), np.uint8)
    assert _put(client, frame["id"], _mask_png(first), 0).status_code == 200
    stale = _put(client, frame["id"], _mask_png(second), 0)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 1 and "reload" in stale.json()["detail"]
    assert np.array_equal(_read(client.get(f"/api/frames/{frame['id']}/mask")), first)
    assert _put(client, frame["id"], _mask_png(second), 1).json()["version"] == 2


def test_versions_are_kept_and_restorable(client, frame):
    a, b = np.zeros((30, 40), np.uint8), np.full((30, 40), 2, np.uint8)
    _put(client, frame["id"], _mask_png(a), 0)
    _put(client, frame["id"], _mask_png(b), 1)
    versions = client.get(f"/api/frames/{frame['id']}/masks").json()
    assert [v["version"] for v in versions] == [2, 1]
    old = client.get(f"/api/frames/{frame['id']}/masks/1")
    assert np.array_equal(_read(old), a)
    res = client.post(f"/api/frames/{frame['id']}/masks/1/restore", headers={"If-Match": '"2"'})
    assert res.json()["version"] == 3
    assert np.array_equal(_read(client.get(f"/api/frames/{frame['id']}/mask")), a)
    assert client.get(f"/api/frames/{frame['id']}/masks/9").status_code == 404


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda: b"not a png", "must be a PNG"),
        (lambda: _mask_png(np.zeros((30, 41), np.uint8)), "41x30"),
        (lambda: _mask_png(np.zeros((30, 40, 3), np.uint8), "RGB"), "one 8-bit channel"),
        (lambda: _mask_png(np.full((30, 40), 3, np.uint8)), "value 3"),
        (lambda: _mask_png(np.full((30, 40), 254, np.uint8)), "value 254"),
        (lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "corrupt"),
    ],
    ids=["not-png", "wrong-size", "rgb", "unknown-class", "254", "corrupt"],
)
def test_bad_masks_are_422_and_store_nothing(client, frame, settings, make, needle):
    res = _put(client, frame["id"], make(), 0)
    assert res.status_code == 422
    assert needle in res.json()["detail"]
    assert client.get(f"/api/frames/{frame['id']}/masks").json() == []
    assert not list((settings.data_path / "media").glob("projects/*/masks/*/*.png"))


def test_if_match_is_required_and_checked(client, frame):
    data = _mask_png(np.zeros((30, 40), np.uint8))
    assert _put(client, frame["id"], data, None).status_code == 428
    res = client.put(f"/api/frames/{frame['id']}/mask", content=data, headers={"If-Match": "abc"})
    assert res.status_code == 422
    assert _put(client, 999, data, 0).status_code == 404
