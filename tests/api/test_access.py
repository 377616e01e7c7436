"""Roles per project: strangers get 404, viewers read, annotators label, owners run things."""

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.accounts import add_user, bearer
from tests.api.test_frames import _png


def _as(client, settings, email: str) -> TestClient:
    other = TestClient(client.app)
    other.headers.update(bearer(add_user(settings, email)))
    return other


def _mask(value: int = 1) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((30, 40), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _put_mask(user, frame_id, version=0):
    headers = {"Content-Type": "image/png", "If-Match": f'"{version}"'}
    return user.put(f"/api/frames/{frame_id}/mask", content=_mask(), headers=headers)


@pytest.fixture
def world(client, settings):
    """Owner Olga's project with one frame and one job; Sam is a stranger to it."""
    olga = _as(client, settings, "olga@example.org")
    project = olga.post("/api/projects", json={"name": "olga's streets"}).json()
    frame = olga.post(
        f"/api/projects/{project['id']}/images", files={"files": ("f.png", _png(40, 30))}
    ).json()[0]
    export = olga.post(f"/api/projects/{project['id']}/exports", json={}).json()
    return {
        "olga": olga,
        "sam": _as(client, settings, "sam@example.org"),
        "project": project,
        "frame": frame,
        "job": export,
    }


def test_strangers_get_404_for_everything_of_a_project(world):
    sam, pid = world["sam"], world["project"]["id"]
    frame_id, job_id = world["frame"]["id"], world["job"]["id"]
    for path, noun in [
        (f"/api/projects/{pid}", "Project"),
        (f"/api/projects/{pid}/frames", "Project"),
        (f"/api/projects/{pid}/members", "Project"),
        (f"/api/frames/{frame_id}", "Frame"),
        (f"/api/frames/{frame_id}/image", "Frame"),
        (f"/api/frames/{frame_id}/mask", "Frame"),
        (f"/api/jobs/{job_id}", "Job"),
        (f"/api/exports/{job_id}/download", "Job"),
        (f"/api/jobs?project_id={pid}", "Project"),
    ]:
        res = sam.get(path)
        assert res.status_code == 404, path
        assert res.json()["detail"].startswith(noun) and "does not exist" in res.json()["detail"]
    # The same answer as for an id that does not exist at all.
    assert sam.get("/api/projects/999999").json() == {"detail": "Project 999999 does not exist."}
    assert sam.get(f"/api/projects/{pid}").json() == {"detail": f"Project {pid} does not exist."}
    assert _put_mask(sam, frame_id).status_code == 404
    assert sam.delete(f"/api/projects/{pid}").status_code == 404
    assert sam.get("/api/projects").json() == [] and sam.get("/api/jobs").json() == []
    assert sam.get(f"/projects/{pid}").status_code == 404
    assert sam.get(f"/frames/{frame_id}").status_code == 404


def test_viewers_read_but_do_not_change(world):
    olga, sam, pid = world["olga"], world["sam"], world["project"]["id"]
    added = olga.put(
        f"/api/projects/{pid}/members", json={"email": "sam@example.org", "role": "viewer"}
    )
    assert added.status_code == 200 and added.json()["role"] == "viewer"
    frame_id = world["frame"]["id"]
    assert [(p["id"], p["role"]) for p in sam.get("/api/projects").json()] == [(pid, "viewer")]
    assert [p["role"] for p in olga.get("/api/projects").json()] == ["owner"]
    assert sam.get(f"/api/frames/{frame_id}/mask").status_code == 200
    assert sam.get(f"/projects/{pid}").status_code == 200
    refused = _put_mask(sam, frame_id)
    assert refused.status_code == 403 and "viewer" in refused.json()["detail"]
    assert sam.patch(f"/api/projects/{pid}", json={"name": "mine"}).status_code == 403
    done = sam.patch(f"/api/frames/{frame_id}", json={"label_status": "done"})
    assert done.status_code == 403


def test_annotators_label_but_do_not_run_the_project(world):
    olga, sam, pid = world["olga"], world["sam"], world["project"]["id"]
    olga.put(f"/api/projects/{pid}/members", json={"email": "sam@example.org", "role": "annotator"})
    frame_id = world["frame"]["id"]
    saved = _put_mask(sam, frame_id)
    assert saved.status_code == 200 and saved.json()["version"] == 1
    restored = sam.post(f"/api/frames/{frame_id}/masks/1/restore", headers={"If-Match": '"1"'})
    assert restored.status_code == 200
    done = sam.patch(f"/api/frames/{frame_id}", json={"label_status": "done"})
    assert done.status_code == 200 and done.json()["label_status"] == "done"
    assert sam.patch(f"/api/frames/{frame_id}", json={"split": "test"}).status_code == 403
    for method, path, body in [
        ("POST", f"/api/projects/{pid}/splits", {"strategy": "random"}),
        ("POST", f"/api/projects/{pid}/train", {}),
        ("POST", f"/api/projects/{pid}/exports", {}),
        ("PUT", f"/api/projects/{pid}/members", {"email": "sam@example.org", "role": "owner"}),
        ("DELETE", f"/api/projects/{pid}", None),
    ]:
        res = sam.request(method, path, json=body)
        assert res.status_code == 403, (method, path, res.text)
    assert olga.get(f"/api/frames/{frame_id}").json()["split"] != "test"


def test_members_keep_an_owner(world):
    olga, pid = world["olga"], world["project"]["id"]
    members = olga.get(f"/api/projects/{pid}/members").json()
    assert [(m["email"], m["role"]) for m in members] == [("olga@example.org", "owner")]
    me = members[0]["user_id"]
    demote = olga.put(
        f"/api/projects/{pid}/members", json={"email": "olga@example.org", "role": "viewer"}
    )
    assert demote.status_code == 409
    assert olga.delete(f"/api/projects/{pid}/members/{me}").status_code == 409
    unknown = olga.put(
        f"/api/projects/{pid}/members", json={"email": "who@example.org", "role": "viewer"}
    )
    assert unknown.status_code == 404
    bad_role = olga.put(
        f"/api/projects/{pid}/members", json={"email": "sam@example.org", "role": "god"}
    )
    assert bad_role.status_code == 422
    olga.put(f"/api/projects/{pid}/members", json={"email": "sam@example.org", "role": "owner"})
    assert olga.delete(f"/api/projects/{pid}/members/{me}").status_code == 204
    assert olga.get(f"/api/projects/{pid}").status_code == 404  # she left


def test_admins_see_every_project(client, world):
    listed = {p["id"]: p["role"] for p in client.get("/api/projects").json()}
    assert listed[world["project"]["id"]] == "owner"  # admins are owners everywhere


def test_models_of_other_projects_stay_hidden(client, world, settings):
    sam = world["sam"]
    own = sam.post("/api/projects", json={"name": "sam's"}).json()
    shared = client.post(
        "/api/models", files={"file": ("base.pt", b"not checked here")}, data={"name": "shared"}
    )
    assert shared.status_code == 202
    olgas = (
        world["olga"]
        .post(
            "/api/models",
            files={"file": ("o.pt", b"x")},
            data={"name": "olga's", "project_id": str(world["project"]["id"])},
        )
        .json()
    )
    names = {m["name"] for m in sam.get("/api/models").json()}
    assert "shared" in names and "olga's" not in names
    assert sam.get(f"/api/models/{olgas['id']}").status_code == 404
    assert sam.get(f"/api/models/{shared.json()['id']}").status_code == 200
    # Registering a model for everyone is an administrator's job.
    refused = sam.post("/api/models", files={"file": ("m.pt", b"x")}, data={"name": "mine"})
    assert refused.status_code == 403
    # Someone else's model cannot be used as a base, even by id.
    res = sam.post(f"/api/projects/{own['id']}/evaluate", json={"model_ids": [olgas["id"]]})
    assert res.status_code == 404


def test_hostile_project_names_are_escaped_in_pages(world):
    olga = world["olga"]
    project = olga.post("/api/projects", json={"name": "<script>alert(1)</script>"}).json()
    page = olga.get(f"/projects/{project['id']}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_pages_show_the_role_and_hide_owner_controls(world):
    olga, sam, pid = world["olga"], world["sam"], world["project"]["id"]
    olga.put(f"/api/projects/{pid}/members", json={"email": "sam@example.org", "role": "viewer"})
    page = sam.get(f"/projects/{pid}").text
    assert 'data-role="viewer"' in page and "You are a viewer here" in page
    assert 'class="card owner-only"' in page
    painter = sam.get(f"/frames/{world['frame']['id']}").text
    assert 'data-testid="read-only"' in painter
    assert 'data-role="owner"' in olga.get(f"/projects/{pid}").text
