"""Import and export through the real web and worker processes."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests import http

pytestmark = pytest.mark.integration


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_import_then_export_through_a_worker(live_server):
    url = live_server.url
    project = http.post(f"{url}/api/projects", json={"name": "it"}).json()
    rng = np.random.default_rng(0)
    labels = rng.choice(np.array([0, 6, 8, 11], np.uint8), (12, 16))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("train/a.png", _png(rng.integers(0, 256, (12, 16, 3), np.uint8)))
        zf.writestr("trainannot/a.png", _png(labels))
    res = http.post(
        f"{url}/api/projects/{project['id']}/imports",
        params={"mapping": "camvid-default"},
        files={"file": ("cv.zip", buf.getvalue(), "application/zip")},
    )
    assert res.status_code == 202, res.text
    job = live_server.wait_job(res.json()["id"])
    assert job["status"] == "succeeded", job
    (frame,) = http.get(f"{url}/api/projects/{project['id']}/frames").json()
    mask = np.asarray(
        Image.open(io.BytesIO(http.get(f"{url}/api/frames/{frame['id']}/mask").content))
    )
    lut = np.zeros(256, np.uint8)
    lut[[8, 6, 11]] = [1, 2, 255]
    assert np.array_equal(mask, lut[labels])
    res = http.post(f"{url}/api/projects/{project['id']}/exports", json={"coco": True})
    job = live_server.wait_job(res.json()["id"])
    assert job["status"] == "succeeded", job
    data = http.get(f"{url}/api/exports/{job['id']}/download").content
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "manifest.json" in names and "coco.json" in names
