"""Job rows: cancel, retry, queue position and the reaper for lost workers."""

from datetime import timedelta

from backend.db import session_scope
from backend.models import Job
from backend.models.base import utcnow
from backend.services import jobs


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
