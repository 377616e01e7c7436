"""The `segtune` command line: serve, web, worker, db."""

import os
import signal
import subprocess
import sys

import typer
from rich.console import Console

from backend.cli_backup import backup, restore
from backend.cli_datasets import import_dataset
from backend.cli_fsck import fsck
from backend.cli_models import models_app, train
from backend.cli_predict import predict
from backend.cli_users import ensure_admin, users_app
from backend.config import load_settings
from backend.db import upgrade_database

app = typer.Typer(help="SegTune: from street videos to a measured, fine-tuned segmentation model.")
db_app = typer.Typer(help="Database schema.")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(users_app, name="users")
app.command("train")(train)
app.command("predict")(predict)
app.command("backup")(backup)
app.command("import")(import_dataset)
app.command("restore")(restore)
app.command("fsck")(fsck)
console = Console()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply database migrations."""
    settings = load_settings()
    upgrade_database(settings, revision)
    console.print(f"[green]database at {revision}[/green]")


@app.command()
def web(host: str = typer.Option(None), port: int = typer.Option(None)) -> None:
    """Run the web app only."""
    import uvicorn

    settings = load_settings()
    ensure_admin(settings)
    uvicorn.run(
        "backend.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        timeout_graceful_shutdown=5,
        workers=settings.web_workers,
    )


@app.command()
def worker(
    queues: str = typer.Option(None, help="Comma-separated queues (default: cpu,gpu,train)."),
    concurrency: int = typer.Option(
        None, help="Parallel jobs (default: SEGTUNE_WORKER_CONCURRENCY)."
    ),
) -> None:
    """Run a Celery worker that executes jobs."""
    from worker.celery_app import create_celery

    # Spinning OpenMP threads steal the CPU from each other and from the web process on small
    # machines (measured: the seed recipe 350 s -> 195 s on 2 shared cores); torch reads this
    # when it is first imported, in the pool processes.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    settings = load_settings()
    celery = create_celery(settings)
    celery.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--queues={queues or settings.worker_queues}",
            f"--concurrency={concurrency or settings.worker_concurrency}",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=segtune-{os.getpid()}@%h",
        ]
    )


# The embedded set-up's workers: one for fine-tunes, one for every short job, so a fine-tune
# never waits behind a pre-label (or the reverse) on a one-machine install.
SERVE_WORKERS = ("train", "cpu,gpu")


def _stop(children: list[subprocess.Popen]) -> None:
    running = [child for child in children if child.poll() is None]
    for child in running:
        # Celery's warm shutdown: finish the running step, then exit.
        child.send_signal(signal.SIGTERM)
    for child in running:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


@app.command()
def serve() -> None:
    """Run the web app and the workers together (Ctrl-C stops all)."""
    settings = load_settings()
    upgrade_database(settings)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "worker", "--queues", queues]
            + ["--concurrency", "1"]
        )
        for queues in SERVE_WORKERS
    ]
    console.print(f"[bold]SegTune[/bold] on http://{settings.host}:{settings.port}  (Ctrl-C stops)")
    try:
        web(None, None)
    finally:
        _stop(children)


if __name__ == "__main__":
    app()
