"""Job rows: cancel, retry, queue position, the reaper for lost workers, readable errors."""

import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from backend.db import session_scope
from backend.errors import Invalid, Unavailable
from backend.models import Job
from backend.models.base import utcnow
from backend.services import jobs
from tests.accounts import add_user, bearer
from worker.runner import run_job


def _job(client, status="queued", **kw) -> int:
    with session_scope(client.app.state.sessions) as session:
        job = Job(kind="sample", params={}, status=status, **kw)
        session.add(job)
        session.flush()
        return job.id


def test_cancel_queued_job(client, dispatcher):
    job_id = _job(client)
    res = client.post(f"/api/jobs/{job_id}/cancel")
    assert res.json()["status"] == "cancelled"
    assert dispatcher.revoked == [job_id]
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 409


def test_cancel_running_job_sets_flag(client):
    job_id = _job(client, status="running", heartbeat_at=utcnow())
    assert client.post(f"/api/jobs/{job_id}/cancel").json()["status"] == "running"
    with session_scope(client.app.state.sessions) as session:
        assert jobs.report_progress(session, job_id, 0.5, "x") is True


def test_retry_failed_job(client, dispatcher):
    job_id = _job(client, status="failed", error="boom")
    res = client.post(f"/api/jobs/{job_id}/retry")
    assert res.json()["status"] == "queued" and res.json()["error"] is None
    assert dispatcher.sent == [job_id]
    assert client.post(f"/api/jobs/{job_id}/retry").status_code == 409


def test_queue_position(client):
    first, second = _job(client), _job(client)
    assert client.get(f"/api/jobs/{first}").json()["queue_position"] == 0
    assert client.get(f"/api/jobs/{second}").json()["queue_position"] == 1
    assert client.get("/api/jobs/999").status_code == 404


def test_reaper_fails_jobs_without_heartbeat(client, settings):
    old = utcnow() - timedelta(seconds=settings.worker_lost_after_s + 5)
    stale, fresh = (
        _job(client, status="running", heartbeat_at=old),
        _job(client, status="running", heartbeat_at=utcnow()),
    )
    with session_scope(client.app.state.sessions) as session:
        # The app's own background reaper may get there first; either way only `stale` goes.
        assert {job.id for job in jobs.reap_lost_jobs(session, settings)} <= {stale}
    body = client.get(f"/api/jobs/{stale}").json()
    assert body["status"] == "failed" and "worker lost" in body["error"]
    assert client.get(f"/api/jobs/{fresh}").json()["status"] == "running"


def test_claim_only_once(client):
    job_id = _job(client)
    with session_scope(client.app.state.sessions) as session:
        assert jobs.claim_job(session, job_id, "w1") is True
    with session_scope(client.app.state.sessions) as session:
        assert jobs.claim_job(session, job_id, "w2") is False


def test_lost_jobs_can_be_requeued_until_max_attempts(client, settings, dispatcher):
    settings.lost_jobs, settings.max_attempts = "requeue", 2
    old = utcnow() - timedelta(seconds=settings.worker_lost_after_s + 5)
    first = _job(client, status="running", heartbeat_at=old, attempts=1)
    last = _job(client, status="running", heartbeat_at=old, attempts=2)
    with session_scope(client.app.state.sessions) as session:
        reaped = jobs.reap_lost_jobs(session, settings)
        jobs.redispatch(session, reaped, dispatcher.dispatch)
    assert client.get(f"/api/jobs/{first}").json()["status"] == "queued"
    assert first in dispatcher.sent
    body = client.get(f"/api/jobs/{last}").json()
    assert body["status"] == "failed" and "worker lost" in body["error"]


def _crash(_ctx):
    raise ValueError("cache slot 7 is out of range")


def test_a_crashed_job_says_one_sentence_and_only_admins_see_the_traceback(
    client, settings, caplog
):
    owner = TestClient(client.app)
    owner.headers.update(bearer(add_user(settings, "olga@example.org")))
    project = owner.post("/api/projects", json={"name": "olga's streets"}).json()
    job_id = _job(client, project_id=project["id"])
    state = client.app.state
    with caplog.at_level(logging.ERROR, logger="segtune.worker"):
        assert run_job(job_id, _crash, state.sessions, state.storage, state.settings) == "failed"
    (logged,) = [r for r in caplog.records if r.getMessage() == f"job {job_id} crashed"]
    assert logged.exc_info[0] is ValueError  # the worker's log has the traceback

    seen = owner.get(f"/api/jobs/{job_id}").json()
    assert seen["status"] == "failed" and "error_detail" not in seen
    error = seen["error"]
    assert "\n" not in error and "Traceback" not in error and "out of range" not in error
    assert "(ValueError)" in error and "administrator" in error
    assert error.endswith(".") and error.count(". ") == 0  # one sentence
    listed = owner.get(f"/api/jobs?project_id={project['id']}").json()
    assert [j["id"] for j in listed] == [job_id] and "error_detail" not in listed[0]

    as_admin = client.get(f"/api/jobs/{job_id}").json()
    assert as_admin["error"] == error
    detail = as_admin["error_detail"]
    assert detail.startswith("Traceback (most recent call last):")
    assert "in _crash" in detail and detail.rstrip().endswith("cache slot 7 is out of range")
    assert client.get("/api/jobs").json()[0]["error_detail"] == detail

    retried = owner.post(f"/api/jobs/{job_id}/retry").json()
    assert retried["status"] == "queued" and retried["error"] is None
    assert "error_detail" not in client.get(f"/api/jobs/{job_id}").json()  # cleared


def test_an_expected_failure_keeps_its_own_sentence_without_detail(client):
    def refuse(_ctx):
        raise Invalid("The zip holds no images.")

    job_id = _job(client)
    state = client.app.state
    assert run_job(job_id, refuse, state.sessions, state.storage, state.settings) == "failed"
    body = client.get(f"/api/jobs/{job_id}").json()
    assert body["error"] == "The zip holds no images." and "error_detail" not in body


def test_a_job_the_broker_never_got_says_so_in_a_sentence(client):
    def broker_down(_job):
        raise ConnectionRefusedError(111, "Connection refused")

    with session_scope(client.app.state.sessions) as session:
        job = jobs.create_job(session, "sample", {}, None)
        with pytest.raises(Unavailable):
            jobs.enqueue(session, job, broker_down)
        job_id = job.id
    body = client.get(f"/api/jobs/{job_id}").json()
    assert body["status"] == "failed" and body["error"] == jobs.BROKER_DOWN
    assert "Connection refused" in body["error_detail"]


def test_a_model_job_names_the_device_it_ran_on_and_a_retry_forgets_it(client):
    import torch

    job_id = _job(client, queue="gpu")
    state = client.app.state
    queued = client.get(f"/api/jobs/{job_id}").json()
    assert queued["device"] is None and "worker" not in queued  # no host names for users
    assert run_job(job_id, lambda ctx: {}, state.sessions, state.storage, state.settings) == (
        "succeeded"
    )
    done = client.get(f"/api/jobs/{job_id}").json()
    expected = "CPU" if not torch.cuda.is_available() else torch.cuda.get_device_name(0)
    assert expected in done["device"], done
    with session_scope(state.sessions) as session:
        session.get(Job, job_id).status = "failed"
    assert client.post(f"/api/jobs/{job_id}/retry").json()["device"] is None
    # A job on the CPU queue never loads torch for a label.
    cpu_job = _job(client)
    assert run_job(cpu_job, lambda ctx: {}, state.sessions, state.storage, state.settings) == (
        "succeeded"
    )
    assert client.get(f"/api/jobs/{cpu_job}").json()["device"] is None
