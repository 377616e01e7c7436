"""Class maps per compared model and models used across projects, checked before any job exists.

Models are registry rows made in the database (ready, with classes): nothing here loads weights.
"""

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from backend.db import session_scope
from backend.models import Job, SegModel
from tests.accounts import add_user, bearer
from tests.api.test_frames import _png
from worker.ml.presets import PRESETS, default_class_map

CITY = [
    {"index": c["index"], "name": c["name"], "color": "#000000"} for c in PRESETS["cityscapes19"]
]
PROJECT = ["background", "car", "traffic sign"]
CITY_NAMES = [c["name"] for c in CITY]
T1 = default_class_map(CITY, PROJECT)  # traffic light -> background
T2 = [2 if n == "traffic light" else t for n, t in zip(CITY_NAMES, T1, strict=True)]
OWN = [{"index": i, "name": n, "color": "#000000"} for i, n in enumerate(PROJECT)]


def _model(client, project_id, name, classes, **lineage) -> int:
    with session_scope(client.app.state.sessions) as session:
        row = SegModel(project_id=project_id, name=name, kind=lineage.pop("kind", "base"),
                       status="ready", classes=classes, storage_key=f"models/{name}.pth",
                       filename=f"{name}.pth", size_bytes=1, **lineage)  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def _finetune(client, project_id, name, base_id, table, base_classes=CITY) -> int:
    names = [c["name"] for c in base_classes]
    return _model(client, project_id, name, OWN, kind="finetuned", base_model_id=base_id,
                  class_map=table, base_class_names=names)  # fmt: skip


def _jobs(client, kind="evaluate") -> int:
    with session_scope(client.app.state.sessions) as session:
        return session.scalar(select(func.count()).select_from(Job).where(Job.kind == kind))


def _as(client, settings, email) -> TestClient:
    other = TestClient(client.app)
    other.headers.update(bearer(add_user(settings, email)))
    return other


@pytest.fixture
def lineage(client, project) -> dict:
    """A shared 19-class base, fine-tuned with T2 (traffic light counted as sign), then again."""
    base = _model(client, None, "city base", CITY)
    first = _finetune(client, project["id"], "first", base, T2)
    second = _finetune(client, project["id"], "second", first, [0, 1, 2], OWN)
    return {"base": base, "first": first, "second": second, "pid": project["id"]}


def _evaluate(client, pid, **body):
    return client.post(f"/api/projects/{pid}/evaluate", json=body)


def test_the_base_defaults_to_the_map_its_compared_fine_tune_was_trained_with(client, lineage):
    pid, base, first = lineage["pid"], lineage["base"], lineage["first"]
    res = _evaluate(client, pid, model_ids=[base, first])
    assert res.status_code == 202, res.text
    mappings = res.json()["params"]["mappings"]
    assert mappings[str(base)]["source"] == "lineage" and mappings[str(base)]["via"] == first
    assert mappings[str(base)]["table"] == T2
    assert mappings[str(first)] == {"source": "direct", "via": None, "table": None,
                                    "groups": mappings[str(base)]["groups"]}  # fmt: skip
    assert "traffic light" in mappings[str(base)]["groups"]["traffic sign"]
    assert res.json()["params"]["mapping_differs"] == []
    # Down a chain: the fine-tune of the fine-tune reaches the same base with the same map.
    chained = _evaluate(client, pid, model_ids=[lineage["second"], base]).json()["params"]
    assert chained["mappings"][str(base)]["via"] == lineage["second"]
    assert chained["mappings"][str(base)]["table"] == T2
    # Alone, or next to an unrelated model, a base is matched by name.
    alone = _evaluate(client, pid, model_ids=[base]).json()["params"]["mappings"][str(base)]
    assert alone["source"] == "name" and alone["table"] == T1


def test_differing_maps_need_a_confirmation_and_are_recorded(client, dispatcher, lineage):
    pid, base, first = lineage["pid"], lineage["base"], lineage["first"]
    body = {"model_ids": [base, first], "class_maps": {str(base): T1}}
    refused = _evaluate(client, pid, **body)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert f"Model {base} and model {first}" in detail and "confirm_mapping_differs" in detail
    assert "traffic sign (traffic light only with model" in detail and "background (" in detail
    assert refused.json()["differs"][0]["classes"] == ["background", "traffic sign"]
    assert _jobs(client) == 0 and dispatcher.sent == []
    confirmed = _evaluate(client, pid, **body, confirm_mapping_differs=True)
    assert confirmed.status_code == 202, confirmed.text
    params = confirmed.json()["params"]
    assert params["mappings"][str(base)]["source"] == "given"
    assert params["mapping_differs"][0]["models"] == [base, first]
    # Two fine-tunes of the same base trained with different tables differ the same way.
    other = _finetune(client, pid, "by name", base, T1)
    res = _evaluate(client, pid, model_ids=[first, other])
    assert res.status_code == 422 and "traffic light" in res.json()["detail"]
    assert _jobs(client) == 1


@pytest.mark.parametrize(
    "class_maps, message",
    [
        ({"B": [0, 1]}, "needs 19 entries, one per class of the model; it has 2"),
        ({"B": [0] * 18 + [7]}, "targets [7], which are not project class indices"),
        ({"999": [0] * 19}, "class_maps names models [999]"),
    ],
)
def test_bad_class_maps_are_422_before_any_job(client, dispatcher, lineage, class_maps, message):
    maps = {str(lineage["base"]) if k == "B" else k: v for k, v in class_maps.items()}
    res = _evaluate(client, lineage["pid"], model_ids=[lineage["base"]], class_maps=maps)
    assert res.status_code == 422 and message in res.json()["detail"], res.text
    assert _jobs(client) == 0 and dispatcher.sent == []


def test_unknown_model_is_404(client, dispatcher, lineage):
    res = _evaluate(client, lineage["pid"], model_ids=[lineage["base"], 999])
    assert res.status_code == 404 and res.json()["detail"] == "Model 999 does not exist."
    assert _jobs(client) == 0 and dispatcher.sent == []


def test_check_answers_the_mappings_and_queues_nothing(client, lineage):
    body = {"model_ids": [lineage["base"], lineage["first"]]}
    res = client.post(f"/api/projects/{lineage['pid']}/evaluate/check", json=body)
    assert res.status_code == 200, res.text
    assert res.json()["mappings"][str(lineage["base"])]["source"] == "lineage"
    assert res.json()["differs"] == [] and res.json()["class_names"] == PROJECT
    assert _jobs(client) == 0


def test_a_deleted_base_leaves_its_names_on_the_fine_tune(client, lineage):
    with session_scope(client.app.state.sessions) as session:
        session.delete(session.get(SegModel, lineage["base"]))
    other = _finetune(client, lineage["pid"], "by name", None, T1)
    res = _evaluate(client, lineage["pid"], model_ids=[lineage["first"], other])
    assert res.status_code == 422 and "traffic light" in res.json()["detail"]
    assert client.get(f"/api/models/{lineage['first']}").json()["base_model_id"] is None


def _labeled_train_frame(user, pid) -> int:
    frame = user.post(f"/api/projects/{pid}/images", files={"files": ("f.png", _png(40, 30))})
    fid = frame.json()[0]["id"]
    mask = io.BytesIO()
    Image.new("L", (40, 30), 1).save(mask, format="PNG")
    headers = {"Content-Type": "image/png", "If-Match": '"0"'}
    assert user.put(f"/api/frames/{fid}/mask", content=mask.getvalue(), headers=headers).is_success
    assert user.patch(f"/api/frames/{fid}", json={"split": "train"}).is_success
    return fid


def test_models_travel_to_projects_their_reader_owns(client, settings, dispatcher, lineage):
    olga, sam = _as(client, settings, "olga@example.org"), _as(client, settings, "sam@example.org")
    theirs = olga.post("/api/projects", json={"name": "olga's streets"}).json()["id"]
    tuned = _finetune(client, theirs, "olga's tune", lineage["base"], T2)
    own = sam.post("/api/projects", json={"name": "sam's streets"}).json()["id"]
    fid = _labeled_train_frame(sam, own)
    calls = [
        ("evaluate", {"model_ids": [tuned]}),
        ("evaluate/check", {"model_ids": [tuned]}),
        ("prelabel", {"model_id": tuned, "frame_ids": [fid], "overwrite": True}),
        ("train", {"base_model_id": tuned, "force": True}),
    ]
    for route, body in calls:
        res = sam.post(f"/api/projects/{own}/{route}", json=body)
        assert res.status_code == 404, (route, res.text)
        assert res.json()["detail"] == f"Model {tuned} does not exist."
    assert tuned not in {m["id"] for m in sam.get("/api/models").json()}
    assert dispatcher.sent == []

    member = {"email": "sam@example.org", "role": "viewer"}
    assert olga.put(f"/api/projects/{theirs}/members", json=member).status_code == 200
    listed = {m["id"]: m for m in sam.get("/api/models").json()}
    assert listed[tuned]["project_id"] == theirs
    assert listed[tuned]["project_name"] == "olga's streets"
    assert listed[tuned]["class_map"] == T2 and listed[tuned]["base_model_id"] == lineage["base"]
    assert listed[tuned]["base_class_names"] == CITY_NAMES
    for route, body in calls:
        res = sam.post(f"/api/projects/{own}/{route}", json=body)
        assert res.status_code in (200, 202), (route, res.text)
    jobs = [client.get(f"/api/jobs/{i}").json() for i in dispatcher.sent]
    assert [j["kind"] for j in jobs] == ["evaluate", "prelabel", "train"]
    # Same class names: used directly; as a training base its classes map to themselves.
    assert jobs[0]["params"]["mappings"][str(tuned)]["source"] == "direct"
    assert jobs[1]["params"]["class_map"] is None
    assert jobs[2]["params"]["base_model_id"] == tuned and jobs[2]["params"]["class_map"] == [
        0,
        1,
        2,
    ]
    # Still only theirs to change.
    assert sam.post(f"/api/models/{tuned}/onnx").status_code == 403


def test_a_fine_tune_of_other_classes_is_read_like_a_base(client, project, dispatcher):
    vehicles = client.post(
        "/api/projects",
        json={"name": "vehicles", "classes": [{"name": "background", "color": "#000000"},
                                              {"name": "car", "color": "#0000ff"}]},
    ).json()  # fmt: skip
    two = [{"index": i, "name": n, "color": "#000000"} for i, n in enumerate(("background", "car"))]
    tuned = _model(client, vehicles["id"], "two classes", two, kind="finetuned")
    pid = project["id"]
    res = _evaluate(client, pid, model_ids=[tuned])
    assert res.json()["params"]["mappings"][str(tuned)]["table"] == [0, 1]
    assert res.json()["params"]["mappings"][str(tuned)]["source"] == "name"
    client.post(f"/api/projects/{pid}/images", files={"files": ("f.png", _png(40, 30))})
    url = f"/api/projects/{pid}/prelabel"
    wrong = client.post(url, json={"model_id": tuned, "class_map": [0]})
    assert wrong.status_code == 422 and "needs 2 entries" in wrong.json()["detail"]
    assert _jobs(client, "prelabel") == 0
    given = client.post(url, json={"model_id": tuned, "class_map": [0, 2]})
    assert given.status_code == 202, given.text
    assert given.json()["params"]["class_map"] == [0, 2]
    assert given.json()["params"]["mapping"]["source"] == "given"
