"""Superpixels computed by a real Celery worker, then served from the cache."""

import io

import numpy as np
import pytest
from PIL import Image

from tests import http
from tests.labeled import png

pytestmark = pytest.mark.integration


def test_a_worker_computes_and_the_cache_serves(live_server):
    url = live_server.url
    pid = http.post(f"{url}/api/projects", json={"name": "streets"}).json()["id"]
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = (250, 250, 250)
    files = [("files", ("two.png", png(image)))]
    fid = http.post(f"{url}/api/projects/{pid}/images", files=files).json()[0]["id"]
    res = http.post(f"{url}/api/frames/{fid}/superpixels", json={"granularity": "coarse"})
    assert res.status_code == 202, res.text
    job = live_server.wait_job(res.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["count"] >= 2
    served = http.get(f"{url}/api/frames/{fid}/superpixels", params={"granularity": "coarse"})
    assert served.status_code == 200
    labels = np.asarray(Image.open(io.BytesIO(served.content)))
    assert labels.shape == (40, 60) and labels.max() + 1 == job["result"]["count"]
    # No superpixel straddles the black/white edge.
    for label in np.unique(labels):
        sides = np.unique(np.nonzero(labels == label)[1] >= 30)
        assert len(sides) == 1, label
    assert http.post(f"{url}/api/frames/{fid}/superpixels", json={"granularity": "coarse"}).json()[
        "ready"
    ]
