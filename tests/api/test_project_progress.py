"""Project progress for the cards: frames, labeled and done per split, last activity."""

import numpy as np
from fastapi.testclient import TestClient

from tests.accounts import add_user, bearer
from tests.api.test_frames import _png
from tests.api.test_mask_history import _put


def test_counts_per_split_and_last_activity(client, project):
    other = client.post("/api/projects", json={"name": "empty"}).json()
    files = [("files", (f"f{i}.png", _png(40, 30), "image/png")) for i in range(4)]
    frames = client.post(f"/api/projects/{project['id']}/images", files=files).json()
    client.patch(f"/api/frames/{frames[0]['id']}", json={"split": "train"})
    client.patch(f"/api/frames/{frames[1]['id']}", json={"split": "train"})
    client.patch(f"/api/frames/{frames[2]['id']}", json={"split": "val"})
    _put(client, frames[0]["id"], np.zeros((30, 40), np.uint8), 0)  # in progress
    client.patch(f"/api/frames/{frames[0]['id']}", json={"label_status": "done"})
    _put(client, frames[2]["id"], np.zeros((30, 40), np.uint8), 0)

    res = client.get("/api/project-progress")
    assert res.status_code == 200, res.text
    by_id = {p["project_id"]: p for p in res.json()}
    stats = by_id[project["id"]]
    assert (stats["frames"], stats["labeled"], stats["done"]) == (4, 2, 1)
    assert stats["splits"] == {
        "train": {"frames": 2, "labeled": 1, "done": 1},
        "val": {"frames": 1, "labeled": 1, "done": 0},
        "test": {"frames": 0, "labeled": 0, "done": 0},
        "none": {"frames": 1, "labeled": 0, "done": 0},
    }
    saved = client.get(f"/api/frames/{frames[2]['id']}/masks").json()[0]["created_at"]
    assert stats["last_activity"] == saved  # the newest mask save
    empty = by_id[other["id"]]
    assert (empty["frames"], empty["last_activity"]) == (0, None)


def test_only_your_projects(client, project, settings):
    token = add_user(settings, "sam@example.org")
    sam = TestClient(client.app, headers=bearer(token))
    assert sam.get("/api/project-progress").json() == []
    client.put(
        f"/api/projects/{project['id']}/members",
        json={"email": "sam@example.org", "role": "viewer"},
    )
    assert [p["project_id"] for p in sam.get("/api/project-progress").json()] == [project["id"]]
