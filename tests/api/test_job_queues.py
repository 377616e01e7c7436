"""Fine-tunes go to a queue of their own, and the embedded `segtune serve` runs a worker for it
beside the one for short jobs, so neither kind waits behind the other."""

from backend import cli
from backend.config import Settings
from backend.db import session_scope
from backend.models import Job
from tests.api.test_launch_default import _train_frame
from tests.api.test_model_lineage import CITY, _model
from worker.celery_app import QUEUES


def test_fine_tunes_have_their_own_queue_and_short_jobs_do_not_share_it(client, project):
    pid = project["id"]
    base = _model(client, pid, "base", CITY)
    _train_frame(client, pid)
    train = client.post(f"/api/projects/{pid}/train", json={"preset": "quick", "force": True})
    assert train.json()["queue"] == "train"
    frames = client.get(f"/api/projects/{pid}/frames").json()
    prelabel = client.post(
        f"/api/projects/{pid}/prelabel", json={"model_id": base, "frame_ids": [frames[0]["id"]]}
    )
    assert prelabel.json()["queue"] == "gpu"
    assert client.post(f"/api/models/{base}/onnx").json()["queue"] == "gpu"
    assert set(QUEUES) == {"cpu", "gpu", "train"}


def test_a_fine_tune_queued_before_the_train_queue_moves_there_on_retry(client, project):
    with session_scope(client.app.state.sessions) as session:
        job = Job(kind="train", status="failed", queue="gpu", params={}, project_id=project["id"])
        session.add(job)
        session.flush()
        job_id = job.id
    res = client.post(f"/api/jobs/{job_id}/retry")
    assert res.status_code == 200 and res.json()["queue"] == "train"


def test_a_plain_worker_takes_every_queue():
    assert Settings().worker_queues.split(",") == list(QUEUES)


def test_serve_starts_a_training_worker_and_a_short_job_worker(monkeypatch, tmp_path):
    started = []

    class FakeWorker:
        def __init__(self, args):
            started.append(args)

        def poll(self):
            return None

        def send_signal(self, _signal):
            started.append("stopped")

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(cli, "load_settings", lambda: Settings(data_dir=tmp_path))
    monkeypatch.setattr(cli, "upgrade_database", lambda settings: None)
    monkeypatch.setattr(cli, "web", lambda host, port: None)
    monkeypatch.setattr(cli.subprocess, "Popen", FakeWorker)
    cli.serve()
    queues = [args[args.index("--queues") + 1] for args in started if args != "stopped"]
    assert queues == ["train", "cpu,gpu"]
    # Between them they take every queue, each exactly once.
    assert sorted(q for group in queues for q in group.split(",")) == sorted(QUEUES)
    assert started.count("stopped") == 2
