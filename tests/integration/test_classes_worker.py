"""A class merge and removal remapped by the real worker; the old versions stay restorable."""

import io

import numpy as np
import pytest
from PIL import Image

from tests import http
from tests.labeled import label_frames, png

pytestmark = pytest.mark.integration


def _read(res) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(res.content)))


def test_merge_and_remove_through_a_worker(live_server):
    url = live_server.url
    classes = [
        {"name": "road", "color": "#808080"},
        {"name": "car", "color": "#1f77ff"},
        {"name": "truck", "color": "#aa00aa"},
        {"name": "sign", "color": "#ffd200"},
    ]
    pid = http.post(f"{url}/api/projects", json={"name": "fleet", "classes": classes}).json()["id"]
    files = [
        ("files", (f"f{i}.png", png(np.full((24, 32, 3), 90 + i, np.uint8)))) for i in range(3)
    ]
    frames = http.post(f"{url}/api/projects/{pid}/images", files=files).json()
    bands = np.repeat(np.array([0, 1, 2, 3], np.uint8), 8)[None, :].repeat(24, 0)
    masks = [bands, np.zeros((24, 32), np.uint8), np.where(bands == 3, 255, bands).astype(np.uint8)]
    label_frames(url, frames, masks)
    current = http.get(f"{url}/api/projects/{pid}").json()
    # truck merges into car, sign goes to unlabeled, and road moves after car.
    body = {
        "version": current["classes_version"],
        "classes": [
            {"index": 1, "name": "vehicle", "color": "#1f77ff"},
            {"index": 0, "name": "road", "color": "#808080"},
        ],
        "remove": [{"index": 2, "into": 1}, {"index": 3, "into": None}],
    }
    res = http.put(f"{url}/api/projects/{pid}/classes", json=body)
    assert res.status_code == 200, res.text
    job = live_server.wait_job(res.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["result"]["masks"] == 3
    after = http.get(f"{url}/api/projects/{pid}").json()
    assert [(c["index"], c["name"]) for c in after["classes"]] == [(0, "vehicle"), (1, "road")]
    expected = np.array([1, 0, 0, 255], np.uint8)
    first = http.get(f"{url}/api/frames/{frames[0]['id']}/mask")
    assert first.headers["etag"] == '"2"'
    assert np.array_equal(_read(first)[0, ::8], expected)
    assert np.array_equal(_read(http.get(f"{url}/api/frames/{frames[1]['id']}/mask")), masks[1] + 1)
    versions = http.get(f"{url}/api/frames/{frames[0]['id']}/masks").json()
    assert [v["source"] for v in versions] == ["remap", "painter"]
    # Paint over the remapped mask, then restore the version saved before the change.
    res = http.put(
        f"{url}/api/frames/{frames[0]['id']}/mask",
        content=png(np.zeros((24, 32), np.uint8), "L"),
        headers={"If-Match": '"2"', "Content-Type": "image/png"},
    )
    assert res.status_code == 200, res.text
    res = http.post(
        f"{url}/api/frames/{frames[0]['id']}/masks/1/restore", headers={"If-Match": '"3"'}
    )
    assert res.status_code == 200, res.text
    restored = http.get(f"{url}/api/frames/{frames[0]['id']}/mask")
    assert restored.headers["etag"] == '"4"'
    assert np.array_equal(_read(restored)[0, ::8], expected)
