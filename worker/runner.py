"""Runs a job body around the Job row: claim, heartbeat, progress, cancel, finish."""

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.db import session_scope
from backend.errors import DomainError, OutOfSpace, is_disk_full
from backend.services import jobs
from backend.storage import LocalStorage

log = logging.getLogger("segtune.worker")
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"


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
        self.sessions, self.storage, self.settings = sessions, storage, settings
        self.observer = observer

    def progress(self, fraction: float, message: str) -> None:
        """Store progress; raise JobCancelled when the user asked to stop."""
        if self.observer is not None:
            self.observer(fraction, message)
        with session_scope(self.sessions) as session:
            cancel = jobs.report_progress(session, self.job_id, fraction, message)
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
        params, project_id = dict(job.params or {}), job.project_id
    beat = _Heartbeat(job_id, sessions, settings.heartbeat_s)
    beat.start()
    started = time.monotonic()
    try:
        ctx = RunningJob(job_id, project_id, params, sessions, storage, settings, observer)
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
    with session_scope(sessions) as session:
        jobs.finish_job(session, job_id, status, **kwargs)
    log.info("job %s %s in %.1fs", job_id, status, time.monotonic() - started)
    return status
