"""The review workflow: label status transitions by role, comments, drafts, assignment, filters."""

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from backend.db import make_engine, make_sessionmaker, session_scope
from backend.models import Frame
from backend.services.masks import save_mask
from backend.services.prelabel import human_edited
from tests.accounts import add_user, bearer
from tests.api.test_frames import _png

W, H = 40, 30


def _mask(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((H, W), value, np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _member(client, settings, pid: int, email: str, role: str) -> TestClient:
    """A signed-in client for a new user with this role in the project."""
    user = TestClient(client.app)
    user.headers.update(bearer(add_user(settings, email)))
    res = client.put(f"/api/projects/{pid}/members", json={"email": email, "role": role})
    assert res.status_code == 200, res.text
    user.id = res.json()["user_id"]
    return user


@pytest.fixture
def team(client, settings, project):
    """A project with three frames, an annotator, a reviewer and a viewer."""
    pid = project["id"]
    files = [("files", (f"f{i}.png", _png(W, H))) for i in range(3)]
    frames = client.post(f"/api/projects/{pid}/images", files=files).json()
    return {
        "pid": pid,
        "frames": [f["id"] for f in frames],
        "ann": _member(client, settings, pid, "ann@example.org", "annotator"),
        "rev": _member(client, settings, pid, "rev@example.org", "reviewer"),
        "viewer": _member(client, settings, pid, "vic@example.org", "viewer"),
    }


def _put(user, fid: int, value: int, version: int):
    headers = {"Content-Type": "image/png", "If-Match": f'"{version}"'}
    res = user.put(f"/api/frames/{fid}/mask", content=_mask(value), headers=headers)
    assert res.status_code == 200, res.text
    return res.json()["version"]


def _status(user, fid: int, status: str, comment: str | None = None):
    body = {"label_status": status, **({"review_comment": comment} if comment else {})}
    return user.patch(f"/api/frames/{fid}", json=body)


def test_annotator_labels_reviewer_decides_and_the_comment_reaches_the_annotator(client, team):
    ann, rev, fid = team["ann"], team["rev"], team["frames"][0]
    _put(ann, fid, 1, 0)
    assert ann.get(f"/api/frames/{fid}").json()["label_status"] == "in_progress"
    # Only a frame marked done can be reviewed.
    early = _status(rev, fid, "reviewed")
    assert early.status_code == 409 and "only frames marked done" in early.json()["detail"]
    assert _status(ann, fid, "done").status_code == 200
    refused = _status(ann, fid, "reviewed")
    assert refused.status_code == 403 and "only reviewers and owners" in refused.json()["detail"]
    assert _status(ann, fid, "changes_requested", "mine").status_code == 403
    no_comment = _status(rev, fid, "changes_requested")
    assert no_comment.status_code == 422 and "review_comment" in no_comment.json()["detail"]
    asked = _status(rev, fid, "changes_requested", "  The kerb is road, not sidewalk.  ")
    assert asked.status_code == 200, asked.text
    seen = ann.get(f"/api/frames/{fid}").json()
    assert seen["label_status"] == "changes_requested"
    warnings = client.get(f"/api/projects/{team['pid']}/train/check").json()["warnings"]
    assert "1 frames have changes requested by a reviewer (not fixed yet)." in warnings
    assert seen["review_comment"] == "The kerb is road, not sidewalk."
    assert seen["reviewed_by_id"] == rev.id and seen["reviewed_at"]
    # Fixing keeps the request (and its comment) in view until the annotator marks it done.
    _put(ann, fid, 2, 1)
    assert ann.get(f"/api/frames/{fid}").json()["label_status"] == "changes_requested"
    assert _status(ann, fid, "done").status_code == 200
    assert _status(rev, fid, "reviewed").status_code == 200
    # An owner (here the administrator) may also decide, and revise a decision.
    assert _status(client, fid, "changes_requested", "one more pass").status_code == 200
    assert _status(client, fid, "reviewed").json()["review_comment"] is None


def test_a_reviewed_frame_is_reopened_by_a_reviewer_or_by_a_new_mask(client, team):
    ann, rev, fid = team["ann"], team["rev"], team["frames"][0]
    _put(ann, fid, 1, 0)
    _status(ann, fid, "done")
    assert _status(rev, fid, "reviewed").status_code == 200
    reopen = _status(ann, fid, "in_progress")
    assert reopen.status_code == 403 and "reviewed" in reopen.json()["detail"]
    comment = ann.patch(f"/api/frames/{fid}", json={"review_comment": "hi"})
    assert comment.status_code == 422
    assert _status(rev, fid, "in_progress").status_code == 200
    _status(ann, fid, "done")
    _status(rev, fid, "reviewed")
    # Any new version (here the annotator's) moves a reviewed frame back to in progress.
    _put(ann, fid, 2, 1)
    frame = ann.get(f"/api/frames/{fid}").json()
    assert frame["label_status"] == "in_progress" and frame["mask_version"] == 2
    assert _status(team["viewer"], fid, "done").status_code == 403
    assert _status(ann, fid, "finished").status_code == 422


def _draft(client, settings, fid: int) -> None:
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            save_mask(session, client.app.state.storage, fid, _mask(1), 0, source="prelabel")
    finally:
        engine.dispose()


def test_a_model_draft_is_flagged_filtered_and_accepted_as_a_persons_mask(client, settings, team):
    ann, pid = team["ann"], team["pid"]
    fid, other = team["frames"][0], team["frames"][1]
    _draft(client, settings, fid)
    _put(ann, other, 2, 0)
    frame = ann.get(f"/api/frames/{fid}").json()
    assert frame["draft"] and frame["mask_source"] == "prelabel"
    drafts = ann.get(f"/api/projects/{pid}/frames", params={"draft": "true"}).json()
    assert [f["id"] for f in drafts] == [fid]
    human = ann.get(f"/api/projects/{pid}/frames", params={"draft": "false"}).json()
    assert [f["id"] for f in human] == [other, team["frames"][2]]
    stale = ann.post(f"/api/frames/{fid}/mask/accept", headers={"If-Match": '"0"'})
    assert stale.status_code == 409 and stale.json()["current_version"] == 1
    assert team["viewer"].post(f"/api/frames/{fid}/mask/accept").status_code == 403
    accepted = ann.post(f"/api/frames/{fid}/mask/accept", headers={"If-Match": '"1"'})
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["draft"], body["mask_source"], body["label_status"]) == (False, "accepted", "done")
    assert body["mask_version"] == 2
    versions = ann.get(f"/api/frames/{fid}/masks").json()
    assert [v["source"] for v in versions] == ["accepted", "prelabel"]
    assert (
        ann.get(f"/api/frames/{fid}/masks/2").content
        == ann.get(f"/api/frames/{fid}/masks/1").content
    )
    again = ann.post(f"/api/frames/{fid}/mask/accept", headers={"If-Match": '"2"'})
    assert again.status_code == 409 and "not a model draft" in again.json()["detail"]
    painted = ann.post(f"/api/frames/{other}/mask/accept", headers={"If-Match": '"1"'})
    assert painted.status_code == 409
    # An accepted draft is a person's mask: a later pre-label keeps it unless told otherwise.
    with session_scope(make_sessionmaker(client.app.state.engine)) as session:
        assert human_edited(session, session.get(Frame, fid))


def test_owners_assign_frames_and_annotators_filter_their_own(client, team):
    ann, rev, pid = team["ann"], team["rev"], team["pid"]
    a, b, c = team["frames"]
    url = f"/api/projects/{pid}/assignments"
    members = client.get(f"/api/projects/{pid}/members").json()
    assert [m["role"] for m in members] == ["owner", "reviewer", "annotator", "viewer"]
    assert ann.post(url, json={"frame_ids": [a], "assignee_id": ann.id}).status_code == 403
    viewer = client.post(url, json={"frame_ids": [a], "assignee_id": team["viewer"].id})
    assert viewer.status_code == 422 and "viewer" in viewer.json()["detail"]
    stranger = client.post(url, json={"frame_ids": [a], "assignee_id": 99999})
    assert stranger.status_code == 422 and "not a member" in stranger.json()["detail"]
    foreign = client.post(url, json={"frame_ids": [a, 99999], "assignee_id": ann.id})
    assert foreign.status_code == 422 and "99999" in foreign.json()["detail"]
    assert client.post(url, json={"frame_ids": [], "assignee_id": ann.id}).status_code == 422
    assert ann.get(f"/api/frames/{a}").json()["assignee_id"] is None  # nothing half-done
    done = client.post(url, json={"frame_ids": [a, b], "assignee_id": ann.id})
    assert done.status_code == 200 and done.json() == {"assigned": 2}
    assert client.post(url, json={"frame_ids": [c], "assignee_id": rev.id}).status_code == 200

    def ids(user, **params):
        res = user.get(f"/api/projects/{pid}/frames", params=params)
        assert res.status_code == 200, res.text
        return [f["id"] for f in res.json()]

    assert ids(ann, assignee="me") == [a, b]
    assert ids(rev, assignee="me") == [c]
    assert ids(client, assignee=str(ann.id)) == [a, b]
    assert ids(client, assignee="none") == []
    assert ann.get(f"/api/projects/{pid}/frames", params={"assignee": "x"}).status_code == 422
    _put(ann, a, 1, 0)
    _status(ann, a, "done")
    _status(rev, a, "reviewed")
    assert ids(ann, assignee="me", label_status="reviewed") == [a]
    assert ids(ann, label_status="in_progress") == []
    assert client.post(url, json={"frame_ids": [b], "assignee_id": None}).json()["assigned"] == 1
    assert ids(client, assignee="none") == [b]
    # Leaving the project, or becoming a viewer, gives the frames back.
    client.put(f"/api/projects/{pid}/members", json={"email": "rev@example.org", "role": "viewer"})
    assert client.delete(f"/api/projects/{pid}/members/{ann.id}").status_code == 204
    assert ids(client, assignee="none") == [a, b, c]


def test_only_labeled_exports_count_reviewed_frames(client, team):
    from backend.services.datasets.exports import _select

    ann, rev, fid = team["ann"], team["rev"], team["frames"][0]
    _put(ann, fid, 1, 0)
    _status(ann, fid, "done")
    _status(rev, fid, "reviewed")
    engine = client.app.state.engine
    with session_scope(make_sessionmaker(engine)) as session:
        assert [f.id for f in _select(session, team["pid"], None, True)] == [fid]
