"""Celery tasks: each takes a job id and runs the matching service body through run_job."""

from celery import Celery, shared_task
from celery.signals import worker_process_init, worker_ready

from backend.db import make_engine, make_sessionmaker, session_scope
from backend.services import jobs
from backend.services.sampling import run_sampling
from backend.storage import make_storage
from worker.dispatch import CeleryDispatcher
from worker.runner import run_job

_deps_by_app: dict[int, tuple] = {}


def _deps(app: Celery) -> tuple:
    """Session factory, storage and settings of this worker process (made on first use)."""
    if id(app) not in _deps_by_app:
        settings = app.conf.segtune_settings
        sessions = make_sessionmaker(make_engine(settings.effective_database_url))
        _deps_by_app[id(app)] = (sessions, make_storage(settings), settings)
    return _deps_by_app[id(app)]


@shared_task(name="segtune.sample", bind=True)
def sample(self, job_id: int) -> str:
    """Sample frames from a video."""
    return run_job(job_id, run_sampling, *_deps(self.app))


@shared_task(name="segtune.register_model", bind=True)
def register_model(self, job_id: int) -> str:
    """Inspect an uploaded checkpoint."""
    from worker.registration import run_registration

    return run_job(job_id, run_registration, *_deps(self.app))


@shared_task(name="segtune.train", bind=True)
def train(self, job_id: int) -> str:
    """Fine-tune a model on a project's labeled frames."""
    from worker.training import run_training

    return run_job(job_id, run_training, *_deps(self.app))


@shared_task(name="segtune.evaluate", bind=True)
def evaluate(self, job_id: int) -> str:
    """Score models on a project's test split."""
    from worker.evaluation import run_evaluation

    return run_job(job_id, run_evaluation, *_deps(self.app))


@shared_task(name="segtune.prelabel", bind=True)
def prelabel(self, job_id: int) -> str:
    """Store a model's predictions as draft masks."""
    from worker.prelabel import run_prelabel

    return run_job(job_id, run_prelabel, *_deps(self.app))


@shared_task(name="segtune.propagate", bind=True)
def propagate(self, job_id: int) -> str:
    """Carry a frame's mask to its neighbouring video frames as drafts."""
    from worker.propagation import run_propagation

    return run_job(job_id, run_propagation, *_deps(self.app))


@shared_task(name="segtune.suggest", bind=True)
def suggest(self, job_id: int) -> str:
    """Rank a project's unlabeled frames to label next."""
    from worker.suggestions import run_suggestions

    return run_job(job_id, run_suggestions, *_deps(self.app))


@shared_task(name="segtune.predict", bind=True)
def predict(self, job_id: int) -> str:
    """Segment a video: overlay MP4, class-area timeline and optional masks."""
    from worker.prediction import run_prediction

    return run_job(job_id, run_prediction, *_deps(self.app))


@shared_task(name="segtune.export_onnx", bind=True)
def export_onnx(self, job_id: int) -> str:
    """Export a model to ONNX."""
    from worker.onnx_export import run_onnx_export

    return run_job(job_id, run_onnx_export, *_deps(self.app))


@shared_task(name="segtune.import", bind=True)
def import_dataset(self, job_id: int) -> str:
    """Import a dataset zip or server folder (images + masks) into a project."""
    from backend.services.datasets.imports import run_import

    return run_job(job_id, run_import, *_deps(self.app))


@shared_task(name="segtune.export", bind=True)
def export_dataset(self, job_id: int) -> str:
    """Export a project (or one split) as a zip."""
    from backend.services.datasets.exports import run_export

    return run_job(job_id, run_export, *_deps(self.app))


@shared_task(name="segtune.remap", bind=True)
def remap(self, job_id: int) -> str:
    """Rewrite a project's masks in new class ids after a reorder, removal or merge."""
    from worker.remap import run_remap

    return run_job(job_id, run_remap, *_deps(self.app))


@shared_task(name="segtune.superpixels", bind=True)
def superpixels(self, job_id: int) -> str:
    """Compute a frame's superpixels for the painter."""
    from backend.services.superpixels import run_superpixels

    return run_job(job_id, run_superpixels, *_deps(self.app))


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    # Database connections must not be shared across fork: each child makes its own.
    _deps_by_app.clear()


@worker_ready.connect
def _reap_on_start(sender=None, **_kwargs) -> None:
    # A worker that restarts after a crash fails the jobs its predecessor left running.
    settings = sender.app.conf.segtune_settings
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            lost = jobs.reap_lost_jobs(session, settings)
            jobs.redispatch(session, lost, CeleryDispatcher(sender.app).dispatch)
    finally:
        engine.dispose()
    # Temporary files of processes that are gone (a killed worker's half-written frames).
    make_storage(settings).sweep_temp()
