"""Class edits through the API: immediate renames, remap jobs, history and every refusal."""

import io

import numpy as np
import pytest
from PIL import Image

from backend.db import session_scope
from backend.models import Frame, Job
from backend.services.prelabel import human_edited
from tests.api.test_frames import _png
from worker.remap import run_remap
from worker.runner import run_job

# background, car, traffic sign as the editor sends them back unchanged.
KEEP = [
    {"index": 0, "name": "background", "color": "#000000"},
    {"index": 1, "name": "car", "color": "#1f77ff"},
    {"index": 2, "name": "traffic sign", "color": "#ffd200"},
]


def _mask(values: list[int]) -> bytes:
    """A 40x30 mask: one vertical band per value."""
    labels = np.repeat(np.array(values, np.uint8), 40 // len(values))[None, :].repeat(30, 0)
    buf = io.BytesIO()
    Image.fromarray(labels, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _read(res) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(res.content)))


def _save(client, frame_id: int, version: int, values: list[int]):
    return client.put(
        f"/api/frames/{frame_id}/mask",
        content=_mask(values),
        headers={"Content-Type": "image/png", "If-Match": f'"{version}"'},
    )


@pytest.fixture
def frames(client, project) -> list[int]:
    """Two frames: one with bands 0,1,2,255 (saved twice), one with only class 0."""
    files = [("files", (f"f{i}.png", _png(40, 30))) for i in range(2)]
    a, b = (
        f["id"] for f in client.post(f"/api/projects/{project['id']}/images", files=files).json()
    )
    assert _save(client, a, 0, [0, 0, 0, 0]).status_code == 200
    assert _save(client, a, 1, [0, 1, 2, 255]).status_code == 200
    assert _save(client, b, 0, [0, 0, 0, 0]).status_code == 200
    return [a, b]


def _change(client, pid: int, classes: list[dict], remove=(), version: int = 0, preview=False):
    body = {"version": version, "classes": classes, "remove": list(remove)}
    if preview:
        return client.post(f"/api/projects/{pid}/classes/preview", json=body)
    return client.put(f"/api/projects/{pid}/classes", json=body)


def _run(client, job_id: int) -> str:
    state = client.app.state
    return run_job(job_id, run_remap, state.sessions, state.storage, state.settings)


def test_rename_recolour_and_add_apply_at_once(client, project, dispatcher):
    classes = [
        {"index": 0, "name": "road", "color": "#808080"},
        {"index": 1, "name": "vehicle", "color": "#FF0000"},
        KEEP[2],
        {"index": None, "name": "person", "color": "#00ff00"},
    ]
    res = _change(client, project["id"], classes)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["job"] is None and dispatcher.sent == []
    assert [(c["index"], c["name"], c["color"]) for c in body["project"]["classes"]] == [
        (0, "road", "#808080"),
        (1, "vehicle", "#ff0000"),
        (2, "traffic sign", "#ffd200"),
        (3, "person", "#00ff00"),
    ]
    assert body["project"]["classes_version"] == 1
    # The same edit again was made on version 0: someone else's change is not overwritten.
    stale = _change(client, project["id"], classes)
    assert stale.status_code == 409 and stale.json()["current_version"] == 1


@pytest.mark.parametrize(
    ("classes", "remove", "message"),
    [
        ([*KEEP[:2], {**KEEP[2], "index": 7}], [], "Class ids [7] are not classes"),
        ([KEEP[0], KEEP[1]], [], "Class ids [2] are neither in the new list nor removed"),
        ([*KEEP, {**KEEP[1], "name": "bus"}], [], "listed more than once"),
        ([KEEP[0], {**KEEP[1], "name": "  "}, KEEP[2]], [], "1 to 100 characters"),
        ([KEEP[0], {**KEEP[1], "name": "Traffic Sign"}, KEEP[2]], [], "used twice"),
        ([KEEP[0], KEEP[1]], [{"index": 2, "into": 5}], "Class ids [5] are not classes"),
        ([KEEP[0]], [{"index": 1, "into": 2}, {"index": 2}], "which is removed too"),
    ],
)
def test_bad_changes_get_422_with_a_message(client, project, dispatcher, classes, remove, message):
    for preview in (True, False):
        res = _change(client, project["id"], classes, remove, preview=preview)
        assert res.status_code == 422, res.text
        assert message in res.json()["detail"]
    assert dispatcher.sent == []


def test_empty_name_is_refused_by_the_schema(client, project):
    res = _change(client, project["id"], [KEEP[0], {**KEEP[1], "name": ""}, KEEP[2]])
    assert res.status_code == 422


def test_merge_runs_as_a_job_that_writes_remap_versions(client, project, frames, dispatcher):
    a, b = frames
    pid = project["id"]
    merge = ([KEEP[0], KEEP[2]], [{"index": 1, "into": 2}])
    preview = _change(client, pid, *merge, preview=True).json()
    # Frame a's car band (10x30 pixels) becomes sign, which keeps id 1; its sign band moves
    # from id 2 to 1. Frame b holds only class 0, which keeps its id.
    assert preview == {
        "remaps": True,
        "masks": 1,
        "pixels": 300,
        "class_pixels": {"0": 1500, "1": 300, "2": 300},
        "class_masks": {"0": 2, "1": 1, "2": 1},
        "table": [0, 1, 1],
    }
    res = _change(client, pid, *merge)
    assert res.status_code == 200, res.text
    job = res.json()["job"]
    assert job["kind"] == "remap" and dispatcher.sent == [job["id"]]
    # Until the job ends the old classes stand, and no one saves in the old ids.
    assert [c["name"] for c in res.json()["project"]["classes"]] == [
        "background",
        "car",
        "traffic sign",
    ]
    blocked = _save(client, b, 1, [0, 1, 1, 1])
    assert blocked.status_code == 409 and "being changed" in blocked.json()["detail"]
    again = _change(client, pid, KEEP)
    assert again.status_code == 409 and f"Job {job['id']}" in again.json()["detail"]
    export = client.post(f"/api/projects/{pid}/exports", json={})
    assert export.status_code == 409 and "class ids" in export.json()["detail"]
    patched = client.patch(f"/api/projects/{pid}", json={"classes": KEEP})
    assert patched.status_code == 409
    assert _run(client, job["id"]) == "succeeded"
    after = client.get(f"/api/projects/{pid}").json()
    assert [(c["index"], c["name"]) for c in after["classes"]] == [
        (0, "background"),
        (1, "traffic sign"),
    ]
    assert after["classes_version"] == 1
    current = client.get(f"/api/frames/{a}/mask")
    assert current.headers["etag"] == '"3"'
    assert np.array_equal(_read(current)[0, ::10], [0, 1, 1, 255])
    versions = client.get(f"/api/frames/{a}/masks").json()
    assert [(v["version"], v["source"]) for v in versions] == [
        (3, "remap"),
        (2, "painter"),
        (1, "painter"),
    ]
    assert versions[0]["class_pixel_counts"] == {"0": 300, "1": 600, "255": 300}
    # Frame b had no car or sign: it keeps its version.
    assert client.get(f"/api/frames/{b}/mask").headers["etag"] == '"1"'
    # The old version stays in the history, read in today's ids, and can be restored.
    old = client.get(f"/api/frames/{a}/masks/2")
    assert np.array_equal(_read(old)[0, ::10], [0, 1, 1, 255])
    restored = client.post(f"/api/frames/{a}/masks/2/restore", headers={"If-Match": '"3"'})
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == 4
    # A page loaded before the remap paints in the old ids: its saves are refused.
    res = client.put(
        f"/api/frames/{b}/mask",
        content=_mask([0, 1, 1, 1]),
        headers={"Content-Type": "image/png", "If-Match": '"1"', "X-Class-Ids-Version": "0"},
    )
    assert res.status_code == 412 and "reload" in res.json()["detail"]
    assert after["class_ids_version"] == 1
    res = client.put(
        f"/api/frames/{b}/mask",
        content=_mask([0, 1, 1, 1]),
        headers={"Content-Type": "image/png", "If-Match": '"1"', "X-Class-Ids-Version": "1"},
    )
    assert res.status_code == 200, res.text


def test_reorder_and_remove_to_unlabeled_compose_in_the_history(client, project, frames):
    a, _b = frames
    pid = project["id"]
    res = _change(client, pid, [KEEP[2], KEEP[0], KEEP[1]])
    assert _run(client, res.json()["job"]["id"]) == "succeeded"
    assert np.array_equal(_read(client.get(f"/api/frames/{a}/mask"))[0, ::10], [1, 2, 0, 255])
    reordered = client.get(f"/api/projects/{pid}").json()["classes"]
    assert [c["name"] for c in reordered] == ["traffic sign", "background", "car"]
    sign, background, _car = ({**c} for c in reordered)
    res = _change(client, pid, [sign, background], [{"index": 2, "into": None}], version=1)
    assert _run(client, res.json()["job"]["id"]) == "succeeded"
    assert np.array_equal(_read(client.get(f"/api/frames/{a}/mask"))[0, ::10], [1, 255, 0, 255])
    # Version 2 was saved before both changes: both tables apply to it.
    assert np.array_equal(_read(client.get(f"/api/frames/{a}/masks/2"))[0, ::10], [1, 255, 0, 255])
    # The remapped versions are still a person's work: a pre-label does not replace them.
    with session_scope(client.app.state.sessions) as session:
        assert human_edited(session, session.get(Frame, a))


def test_cancelled_remap_changes_nothing(client, project, frames, dispatcher):
    a, _b = frames
    pid = project["id"]
    job = _change(client, pid, [KEEP[0], KEEP[2]], [{"index": 1}]).json()["job"]
    with session_scope(client.app.state.sessions) as session:
        session.get(Job, job["id"]).cancel_requested = True
    assert _run(client, job["id"]) == "cancelled"
    project_now = client.get(f"/api/projects/{pid}").json()
    assert project_now["classes_version"] == 0 and len(project_now["classes"]) == 3
    assert client.get(f"/api/frames/{a}/mask").headers["etag"] == '"2"'
    assert _save(client, a, 2, [0, 1, 2, 2]).status_code == 200


def test_a_remap_waits_for_jobs_that_use_the_masks(client, project, frames, dispatcher):
    res = client.post(f"/api/projects/{project['id']}/exports", json={})
    assert res.status_code == 202, res.text
    refused = _change(client, project["id"], [KEEP[0], KEEP[2]], [{"index": 1}])
    assert refused.status_code == 409 and "(export)" in refused.json()["detail"]
    # A rename changes no ids and may go ahead.
    renamed = _change(client, project["id"], [KEEP[0], {**KEEP[1], "name": "auto"}, KEEP[2]])
    assert renamed.status_code == 200 and renamed.json()["job"] is None


def test_patch_cannot_drop_classes(client, project):
    res = client.patch(f"/api/projects/{project['id']}", json={"classes": KEEP[:2]})
    assert res.status_code == 422 and "PUT /api/projects/{id}/classes" in res.json()["detail"]


def test_start_mask_background_keeps_class_0_first(client):
    project = client.post("/api/projects", json={"name": "p", "initial_mask": "background"}).json()
    res = _change(client, project["id"], [KEEP[1], KEEP[0], KEEP[2]])
    assert res.status_code == 422 and "keep class 0 first" in res.json()["detail"]
