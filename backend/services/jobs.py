"""Job lifecycle: create, claim, report progress, finish, cancel and reap lost jobs."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.errors import Conflict, NotFound, Unavailable
from backend.models import Job
from backend.models.base import utcnow
from backend.models.job import FINISHED
from backend.services.projects import remap_running
from backend.storage import LocalStorage

Dispatcher = Callable[[Job], None]
Revoker = Callable[[Job], None]

WORKER_LOST = "worker lost: the worker stopped reporting while running this job"
# Fine-tunes have a queue of their own (worker/celery_app.py QUEUES).
TRAIN_QUEUE = "train"
BROKER_DOWN = "The job queue (broker) was unreachable, so the job never started; retry it later."
# Jobs that read or write a project's masks or class list: none starts while a class remap runs.
WAIT_FOR_REMAP = frozenset(
    {"train", "evaluate", "prelabel", "propagate", "suggest", "import", "export", "remap"}
)


class JobCancelled(Exception):
    """Raised inside a running job when the user asked to cancel it."""


def create_job(
    session: Session,
    kind: str,
    params: dict[str, Any],
    project_id: int | None,
    queue: str = "cpu",
) -> Job:
    """Insert a queued job row (the caller commits, then dispatches)."""
    if project_id is not None and kind in WAIT_FOR_REMAP:
        remap = remap_running(session, project_id)
        if remap is not None:
            raise Conflict(
                f"Job {remap} is changing this project's class ids; start this once it has ended."
            )
    job = Job(kind=kind, params=params, project_id=project_id, queue=queue, status="queued")
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> Job:
    """A job by id, or NotFound."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"Job {job_id} does not exist.")
    return job


def list_jobs(
    session: Session,
    project_id: int | None = None,
    limit: int = 200,
    visible: set[int] | None = None,
) -> list[Job]:
    """Newest jobs first, optionally of one project, of the projects in `visible` (None: all)."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if visible is not None:
        query = query.where(or_(Job.project_id.in_(visible), Job.project_id.is_(None)))
    if project_id is not None:
        query = query.where(Job.project_id == project_id)
    return list(session.scalars(query))


def cancel_job(session: Session, job_id: int, revoke: Revoker | None = None) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    job = get_job(session, job_id)
    if job.status in FINISHED:
        raise Conflict(f"Job {job_id} has already finished ({job.status}).")
    if job.status == "queued":
        job.status = "cancelled"
        job.finished_at = utcnow()
        job.message = "cancelled before it started"
    else:
        job.cancel_requested = True
        job.message = "cancelling…"
    session.flush()
    if revoke is not None:
        revoke(job)
    return job


def retry_job(session: Session, job_id: int) -> Job:
    """Put a failed or cancelled job back in the queue (the caller dispatches it)."""
    job = get_job(session, job_id)
    if job.status not in ("failed", "cancelled"):
        raise Conflict(
            f"Only failed or cancelled jobs can be retried; job {job_id} is {job.status}."
        )
    job.status, job.progress, job.error, job.message = "queued", 0.0, None, "queued again"
    if job.kind == "train":
        job.queue = TRAIN_QUEUE  # fine-tunes queued before it had its own queue move there
    job.error_detail = job.worker = None  # the next run names its own worker and device
    job.cancel_requested, job.finished_at, job.result = False, None, None
    session.flush()
    return job


def claim_job(session: Session, job_id: int, worker: str) -> bool:
    """Atomically move a queued job to running; False when it is not queued (a re-delivery)."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(
            status="running",
            attempts=Job.attempts + 1,
            worker=worker,
            started_at=now,
            heartbeat_at=now,
            message="started",
        )
    )
    return result.rowcount == 1


def record_worker(session: Session, job_id: int, worker: str) -> None:
    """Say which worker (and device) runs a job, once it has claimed it."""
    session.execute(update(Job).where(Job.id == job_id).values(worker=worker[:200]))


def report_progress(session: Session, job_id: int, progress: float, message: str) -> bool:
    """Store progress and a heartbeat; returns whether cancellation was requested."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running")
        .values(progress=max(0.0, min(1.0, progress)), message=message, heartbeat_at=utcnow())
    )
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def publish_detail(session: Session, job_id: int, detail: dict[str, Any]) -> None:
    """Store a running job's live detail."""
    session.execute(update(Job).where(Job.id == job_id).values(detail=detail))


def heartbeat(session: Session, job_id: int) -> None:
    """Tell the reaper the job's worker is still alive."""
    session.execute(
        update(Job).where(Job.id == job_id, Job.status == "running").values(heartbeat_at=utcnow())
    )


def finish_job(
    session: Session,
    job_id: int,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    error_detail: str | None = None,
    message: str = "",
) -> None:
    """Record the end of a running job (no-op if the reaper already ended it)."""
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "message": message}
    if status == "succeeded":
        values["progress"] = 1.0
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error
    if error_detail is not None:
        values["error_detail"] = error_detail
    session.execute(update(Job).where(Job.id == job_id, Job.status == "running").values(**values))


def reap_lost_jobs(session: Session, settings: Settings) -> list[Job]:
    """End running jobs whose worker stopped sending heartbeats; returns them.

    Per SEGTUNE_LOST_JOBS a lost job is failed ("worker lost"), or put back in the queue
    (until it has been tried max_attempts times); the caller dispatches re-queued ones.
    """
    cutoff = utcnow() - timedelta(seconds=settings.worker_lost_after_s)
    stale = list(
        session.scalars(select(Job).where(Job.status == "running", Job.heartbeat_at < cutoff))
    )
    reaped = []
    for job in stale:
        again = settings.lost_jobs == "requeue" and job.attempts < settings.max_attempts
        values: dict[str, Any] = (
            {"status": "queued", "message": "re-queued: its worker was lost", "progress": 0.0}
            if again
            else {
                "status": "failed",
                "error": WORKER_LOST,
                "message": "worker lost",
                "finished_at": utcnow(),
            }
        )
        done = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.status == "running", Job.heartbeat_at < cutoff)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done:
            session.refresh(job)
            reaped.append(job)
    return reaped


def redispatch(session: Session, reaped: list[Job], dispatcher: Dispatcher) -> None:
    """Send the re-queued ones among reaped jobs to the broker again."""
    for job in reaped:
        if job.status == "queued":
            enqueue(session, job, dispatcher)


def queue_position(session: Session, job: Job) -> int | None:
    """How many queued jobs of the same queue were created before this one (0 = next)."""
    if job.status != "queued":
        return None
    query = select(Job.id).where(Job.status == "queued", Job.queue == job.queue, Job.id < job.id)
    return len(list(session.scalars(query)))


class JobContext(Protocol):
    """What a running job's body gets from the worker: ids, dependencies and progress."""

    job_id: int
    project_id: int | None
    params: dict[str, Any]
    sessions: sessionmaker[Session]
    storage: LocalStorage
    settings: Settings

    def progress(self, fraction: float, message: str) -> None:
        """Report progress; raises JobCancelled when the user asked to stop."""

    def publish(self, detail: dict[str, Any]) -> None:
        """Replace the live detail (curves, newest pictures) that watchers of the job see."""


def enqueue(session: Session, job: Job, dispatcher: Dispatcher) -> Job:
    """Commit a queued job and hand it to the broker; a broker failure fails the job."""
    # A fresh task id per dispatch: workers remember revoked ids, and a retry must not match.
    job.task_id = f"segtune-job-{job.id}-{uuid.uuid4().hex[:8]}"
    session.commit()
    try:
        dispatcher(job)
    except Exception as exc:
        job.status, job.error, job.finished_at = "failed", BROKER_DOWN, utcnow()
        job.error_detail = f"{type(exc).__name__}: {exc}"
        session.commit()
        raise Unavailable("The job queue is unreachable; the job was not started.") from exc
    return job
