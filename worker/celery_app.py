"""Celery application factory: the database is the truth, Celery only carries job ids."""

from celery import Celery
from kombu import Queue

from backend.config import Settings

# cpu: sampling, import, export. gpu: short model jobs (registration, evaluation, pre-label,
# ONNX). train: fine-tunes, which run for minutes to hours and get a worker of their own so
# they never hold up a short job (and a short job never holds up a fine-tune).
QUEUES = ("cpu", "gpu", "train")


def create_celery(settings: Settings) -> Celery:
    """A Celery app for these settings (filesystem broker under the data dir by default)."""
    app = Celery("segtune", broker=settings.effective_broker_url, include=["worker.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="cpu",
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
    )
    if settings.uses_filesystem_broker:
        folder = settings.data_path / "broker"
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        # kombu's own filesystem transport loses messages read while being written.
        app.conf.broker_transport = "worker.broker_fs:Transport"
        app.conf.broker_transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "polling_interval": settings.broker_poll_s,
            "control_folder": str(folder / "control"),
        }
    app.conf.segtune_settings = settings
    return app
