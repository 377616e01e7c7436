"""Sending jobs to workers by name, so the web process never imports task code or torch."""

from celery import Celery

from backend.models import Job


class CeleryDispatcher:
    """Sends and revokes job tasks through a Celery app."""

    def __init__(self, app: Celery):
        self.app = app

    def dispatch(self, job: Job) -> None:
        """Queue the task that runs a job."""
        self.app.send_task(
            f"segtune.{job.kind}", args=[job.id], queue=job.queue, task_id=job.task_id
        )

    def revoke(self, job: Job) -> None:
        """Ask workers to drop a job's task; best effort, the job row's cancel flag is the truth."""
        try:
            if job.task_id:
                self.app.control.revoke(job.task_id)
        except Exception:  # noqa: BLE001 - brokers without broadcast support cannot revoke
            pass
