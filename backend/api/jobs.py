"""Job routes: status, cancel, retry."""

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, by, listing
from backend.api.deps import DbSession, get_dispatcher
from backend.schemas.jobs import JobOut
from backend.services import access, jobs
from backend.services.auth import Identity

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def _out(session: Session, job, identity: Identity) -> JobOut:
    out = JobOut.of(job, admin=identity.user.is_admin)
    out.queue_position = jobs.queue_position(session, job)
    return out


@router.get("", response_model=list[JobOut], openapi_extra=listing())
def list_jobs(
    project_id: int | None = None, identity: Identity = CurrentUser, session: Session = DbSession
):
    """Newest jobs first, of your projects (optionally of one project)."""
    visible = access.visible_projects(session, identity.user)
    found = jobs.list_jobs(session, project_id, visible=visible)
    return [_out(session, job, identity) for job in found]


@router.get("/{job_id}", response_model=JobOut, openapi_extra=by("job_id"))
def get_job(job_id: int, identity: Identity = CurrentUser, session: Session = DbSession):
    """A job's status, progress, message, error (its detail for administrators) and result."""
    return _out(session, jobs.get_job(session, job_id), identity)


@router.post("/{job_id}/cancel", response_model=JobOut, openapi_extra=by("job_id"))
def cancel_job(
    job_id: int,
    identity: Identity = CurrentUser,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
):
    """Cancel a queued job, or ask a running one to stop at its next step."""
    return _out(session, jobs.cancel_job(session, job_id, dispatcher.revoke), identity)


@router.post("/{job_id}/retry", response_model=JobOut, openapi_extra=by("job_id"))
def retry_job(
    job_id: int,
    identity: Identity = CurrentUser,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
):
    """Queue a failed or cancelled job again."""
    job = jobs.enqueue(session, jobs.retry_job(session, job_id), dispatcher.dispatch)
    return _out(session, job, identity)
