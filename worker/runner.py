"""Runs a job body around the Job row: claim, heartbeat, progress, cancel, finish."""

import logging
import os
import shutil
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.db import session_scope
from backend.errors import DomainError, OutOfSpace, is_disk_full
from backend.models import Job, Project
from backend.models.job import DEVICE_SEPARATOR
from backend.services import jobs
from backend.services.references import unreferenced
from backend.storage import LocalStorage, RecordingStorage

log = logging.getLogger("segtune.worker")
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
PROJECT_DELETED = "The project was deleted while this job ran."
JOB_DELETED = "The job was deleted while it ran."


class JobGone(jobs.JobCancelled):
    """Raised at a progress report when the job's row is gone (its project was deleted)."""


class RunningJob:
    """The JobContext handed to job bodies."""

    def __init__(
        self,
        job_id: int,
        project_id: int | None,
        params: dict,
        sessions,
        storage,
        settings,
        observer: Callable[[float, str], None] | None = None,
    ):
        self.job_id, self.project_id, self.params = job_id, project_id, params
        # Every key and temporary file the body writes is recorded, so that a failed or
        # cancelled run can take back what no row refers to (see _clean_up).
        self.sessions, self.storage, self.settings = sessions, RecordingStorage(storage), settings
        self.observer = observer
        self.made: list[tuple[type, int]] = []

    @property
    def work_dir(self) -> Path:
        """Local scratch folder of this job: kept after a failure so a retry can resume."""
        return self.settings.data_path / "runs" / f"job{self.job_id}"

    def made_row(self, model: type, row_id: int) -> None:
        """Note a committed row that only this run's success makes valid (undone otherwise)."""
        self.made.append((model, row_id))

    def progress(self, fraction: float, message: str) -> None:
        """Store progress; raise JobCancelled when the user asked to stop."""
        if self.observer is not None:
            self.observer(fraction, message)
        with session_scope(self.sessions) as session:
            cancel = jobs.report_progress(session, self.job_id, fraction, message)
            # The row goes with its project: stop instead of working on for nobody.
            exists = session.scalar(select(Job.id).where(Job.id == self.job_id)) is not None
        if not exists:
            raise JobGone()
        if cancel:
            raise jobs.JobCancelled()

    def publish(self, detail: dict[str, Any]) -> None:
        """Store live detail (loss curves, newest overlays) for watchers."""
        with session_scope(self.sessions) as session:
            jobs.publish_detail(session, self.job_id, detail)


class _Heartbeat(threading.Thread):
    """Keeps the row's heartbeat fresh while a long step (no progress calls) runs."""

    def __init__(self, job_id: int, sessions, interval: float):
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.job_id, self.sessions, self.interval = job_id, sessions, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with session_scope(self.sessions) as session:
                    jobs.heartbeat(session, self.job_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried; never kill the job
                log.warning("heartbeat for job %s failed", self.job_id, exc_info=True)


def crash_report(exc: Exception) -> dict[str, str]:
    """A crash as one sentence for the job's users and a traceback for administrators."""
    if is_disk_full(exc):
        error = OutOfSpace().message
    else:
        error = (
            f"The worker hit an unexpected error ({type(exc).__name__}) and stopped the job; "
            "retry it, or ask an administrator, who can see the details."
        )
    # The tail: the innermost frames and the exception itself are what a reader needs.
    return {"error": error, "error_detail": "".join(traceback.format_exception(exc))[-8000:]}


def _record_device(sessions: sessionmaker[Session], job_id: int, params: dict) -> None:
    """Name the device a model job computes on next to the worker, for the job page."""
    try:
        from worker.ml.runtime import describe_device  # torch: only for the model jobs

        device = describe_device(str(params.get("device") or "auto"))
    except Exception:  # noqa: BLE001 - a label must never stop the job
        log.warning("could not tell job %s's device", job_id, exc_info=True)
        return
    with session_scope(sessions) as session:
        jobs.record_worker(session, job_id, f"{WORKER_NAME}{DEVICE_SEPARATOR}{device}")


def run_job(
    job_id: int,
    body: Callable[[RunningJob], dict[str, Any]],
    sessions: sessionmaker[Session],
    storage: LocalStorage,
    settings: Settings,
    observer: Callable[[float, str], None] | None = None,
) -> str:
    """Claim a queued job, run its body and record the outcome; returns the final status."""
    with session_scope(sessions) as session:
        if not jobs.claim_job(session, job_id, WORKER_NAME):
            log.info("job %s is not queued; skipping a re-delivery", job_id)
            return "skipped"
        job = jobs.get_job(session, job_id)
        params, project_id, queue = dict(job.params or {}), job.project_id, job.queue
    if queue in ("gpu", "train"):  # the queues whose jobs use a GPU when the worker has one
        _record_device(sessions, job_id, params)
    beat = _Heartbeat(job_id, sessions, settings.heartbeat_s)
    beat.start()
    started = time.monotonic()
    ctx = RunningJob(job_id, project_id, params, sessions, storage, settings, observer)
    try:
        result = body(ctx)
        status, kwargs = "succeeded", {"result": result, "message": "done"}
    except jobs.JobCancelled:
        status, kwargs = "cancelled", {"message": "cancelled"}
    except DomainError as exc:
        status, kwargs = "failed", {"error": exc.message, "message": "failed"}
    except Exception as exc:  # noqa: BLE001 - any crash must end as a failed row, not a stuck one
        log.exception("job %s crashed", job_id)
        status, kwargs = "failed", {**crash_report(exc), "message": "failed"}
    finally:
        beat.stopped.set()
        beat.join()
    status, kwargs = _settle(ctx, status, kwargs)
    with session_scope(sessions) as session:
        jobs.finish_job(session, job_id, status, **kwargs)
    log.info("job %s %s in %.1fs", job_id, status, time.monotonic() - started)
    return status


def _settle(ctx: RunningJob, status: str, kwargs: dict) -> tuple[str, dict]:
    """A run whose project (so its job row) vanished is cancelled; then clean up after it.

    So is one asked to stop that then tripped: what it used was deleted (videos, frames, models
    are deleted with their jobs cancelled), which is no failure of the job.
    """
    try:
        with session_scope(ctx.sessions) as session:
            stop = session.scalar(select(Job.cancel_requested).where(Job.id == ctx.job_id))
            job_gone = stop is None
            project = select(Project.id).where(Project.id == ctx.project_id)
            project_gone = ctx.project_id is not None and session.scalar(project) is None
    except Exception:  # noqa: BLE001 - the outcome must still be recorded if it can be
        log.warning("could not check whether job %s still exists", ctx.job_id, exc_info=True)
        job_gone = project_gone = stop = False
    if status == "failed" and stop:
        status, kwargs = "cancelled", {"message": "cancelled"}
    if job_gone or project_gone:
        # The rows the body worked on are gone too, whatever it tripped over: not a failure.
        status, kwargs = "cancelled", {"message": PROJECT_DELETED if project_gone else JOB_DELETED}
        log.info("job %s: %s", ctx.job_id, kwargs["message"])
    try:
        _clean_up(ctx, status)
    except Exception:  # noqa: BLE001 - fsck finds what a failed clean-up leaves
        log.warning("cleaning up after job %s failed", ctx.job_id, exc_info=True)
    return status, kwargs


def _clean_up(ctx: RunningJob, status: str) -> None:
    """Remove what a failed or cancelled run wrote that no committed row refers to."""
    recorder = ctx.storage
    for path in recorder.temps:
        path.unlink(missing_ok=True)
    if status != "failed":
        shutil.rmtree(ctx.work_dir, ignore_errors=True)
    if status == "succeeded":
        return
    if ctx.made:
        with session_scope(ctx.sessions) as session:
            for model, row_id in reversed(ctx.made):
                row = session.get(model, row_id)
                if row is not None:
                    session.delete(row)
    if recorder.written:
        # Before the outcome is recorded, so a retry never runs while this still deletes.
        with session_scope(ctx.sessions) as session:
            orphans = unreferenced(session, set(recorder.written))
        for key in orphans:
            recorder.inner.delete(key)
        if orphans:
            log.info("job %s %s: removed %d files it wrote", ctx.job_id, status, len(orphans))
