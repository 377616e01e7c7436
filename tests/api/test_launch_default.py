"""A fine-tune starts from the project's base model unless someone chooses another start, and the
report names a start that is not the project's base.

Models are registry rows made in the database (ready, with classes): nothing here loads weights.
"""

import io

from markupsafe import escape
from PIL import Image

from backend.db import session_scope
from backend.models import Job
from tests.accounts import add_user, bearer
from tests.api.test_frames import _png
from tests.api.test_model_lineage import CITY, OWN, T1, _finetune, _model
from tests.api.test_reports import make_job


def _train_frame(client, pid) -> None:
    frame = client.post(f"/api/projects/{pid}/images", files={"files": ("f.png", _png(40, 30))})
    fid = frame.json()[0]["id"]
    mask = io.BytesIO()
    Image.new("L", (40, 30), 1).save(mask, format="PNG")
    headers = {"Content-Type": "image/png", "If-Match": '"0"'}
    assert client.put(
        f"/api/frames/{fid}/mask", content=mask.getvalue(), headers=headers
    ).is_success
    assert client.patch(f"/api/frames/{fid}", json={"split": "train"}).is_success


def _default(client, pid) -> int | None:
    res = client.get(f"/api/projects/{pid}/train/check")
    assert res.status_code == 200, res.text
    return res.json()["project_base_model_id"]


def test_the_default_is_the_base_not_the_newest_fine_tune(client, project):
    pid = project["id"]
    base = _model(client, pid, "espnet city", CITY)
    first = _finetune(client, pid, "fine-tune of job 5", base, T1)
    _finetune(client, pid, "fine-tune of job 6", first, [0, 1, 2], OWN)
    # A base registered later, newer than the one the fine-tunes came from.
    _model(client, pid, "another base", CITY)
    assert _default(client, pid) == base


def test_a_project_without_fine_tunes_starts_from_its_own_first_base(client, project):
    pid = project["id"]
    _model(client, None, "shared base", CITY)
    own = _model(client, pid, "own base", CITY)
    _model(client, pid, "second own base", CITY)
    assert _default(client, pid) == own


def test_else_the_first_shared_base_and_never_an_unreadable_one(client, settings, project):
    pid = project["id"]
    assert _default(client, pid) is None
    shared = _model(client, None, "shared base", CITY)
    _model(client, None, "newer shared base", CITY)
    assert _default(client, pid) == shared
    # Sam's project holds a fine-tune of Olga's base, which Sam cannot read: it is skipped.
    sam = client.__class__(client.app)
    sam.headers.update(bearer(add_user(settings, "sam@example.org")))
    his = sam.post("/api/projects", json={"name": "sam's"}).json()["id"]
    olgas = client.post("/api/projects", json={"name": "olga's"}).json()["id"]
    hers = _model(client, olgas, "olga's base", CITY)
    _finetune(client, his, "tune of olga's base", hers, T1)
    assert _default(sam, his) == shared
    assert _default(client, his) == hers  # an administrator reads it


def test_the_job_records_a_start_that_differs_and_the_report_names_it(client, dispatcher, project):
    pid = project["id"]
    base = _model(client, pid, "espnet city", CITY)
    tuned = _finetune(client, pid, "fine-tune of job 5", base, T1)
    _train_frame(client, pid)
    body = {"preset": "quick", "force": True}
    usual = client.post(f"/api/projects/{pid}/train", json={**body, "base_model_id": base})
    assert usual.status_code == 202, usual.text
    assert usual.json()["params"]["start"] == {
        "model_id": base,
        "name": "espnet city",
        "project_base_id": base,
        "project_base_name": "espnet city",
    }
    other = client.post(f"/api/projects/{pid}/train", json={**body, "base_model_id": tuned})
    start = other.json()["params"]["start"]
    assert start["model_id"] == tuned and start["project_base_id"] == base

    job = make_job(client, project)
    with session_scope(client.app.state.sessions) as session:
        session.get(Job, job["id"]).params = {"start": start}
    report = client.get(f"/api/jobs/{job['id']}/report").json()
    assert report["start"]["differs"] is True
    sentence = report["start"]["sentence"]
    assert sentence.startswith("Started from “fine-tune of job 5” (not the project's base")
    assert "“espnet city”" in sentence
    assert str(escape(sentence)) in client.get(f"/api/jobs/{job['id']}/report.html").text


def test_the_usual_start_and_old_jobs_are_not_flagged(client, project):
    job = make_job(client, project)
    assert client.get(f"/api/jobs/{job['id']}/report").json()["start"] is None
    start = {"model_id": 3, "name": "espnet city", "project_base_id": 3, "project_base_name": "x"}
    with session_scope(client.app.state.sessions) as session:
        session.get(Job, job["id"]).params = {"start": start}
    note = client.get(f"/api/jobs/{job['id']}/report").json()["start"]
    assert note["differs"] is False
    assert note["sentence"] == "Started from “espnet city”, the project's base model."
    # Random initialisation while the project has a base: a different start, named as such.
    with session_scope(client.app.state.sessions) as session:
        session.get(Job, job["id"]).params = {"start": {**start, "model_id": None, "name": None}}
    note = client.get(f"/api/jobs/{job['id']}/report").json()["start"]
    assert note["differs"] and note["sentence"].startswith(
        "Started from random initialisation (not"
    )


def test_a_first_fine_tune_from_another_shared_base_is_not_flagged(client, dispatcher, project):
    pid = project["id"]
    _model(client, None, "shared base", CITY)
    newer = _model(client, None, "newer shared base", CITY)
    _train_frame(client, pid)
    res = client.post(
        f"/api/projects/{pid}/train",
        json={"preset": "quick", "force": True, "base_model_id": newer},
    )
    assert res.json()["params"]["start"]["project_base_id"] is None
