"""Running jobs inside the CLI process with a rich progress bar (no worker needed)."""

from collections.abc import Callable
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from backend.config import Settings, load_settings
from backend.db import make_engine, make_sessionmaker, session_scope, upgrade_database
from backend.errors import DomainError
from backend.services import jobs
from backend.storage import make_storage

console = Console()


@contextmanager
def local_deps():
    """Settings, session factory and storage of this machine's SegTune (migrated)."""
    settings: Settings = load_settings()
    upgrade_database(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        yield settings, make_sessionmaker(engine), make_storage(settings)
    finally:
        engine.dispose()


def run_here(job_id: int, body: Callable, sessions, storage, settings, title: str) -> dict:
    """Run a queued job's body in this process, showing its progress; returns the job row."""
    from worker.runner import run_job

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
    ]
    columns += [TimeElapsedColumn(), TextColumn("{task.fields[message]}")]
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(title, total=1.0, message="")

        def observe(fraction: float, message: str) -> None:
            bar.update(task, completed=fraction, message=message)

        status = run_job(job_id, body, sessions, storage, settings, observer=observe)
        if status == "succeeded":
            bar.update(task, completed=1.0)
    with session_scope(sessions) as session:
        job = jobs.get_job(session, job_id)
        return {"status": job.status, "error": job.error, "result": job.result}


def request_and_run(deps: tuple, make: Callable, body: Callable, title: str) -> dict:
    """Create a job with make(session), run it here, and return its result once it succeeded.

    deps is what local_deps() yields; title may name the job as {id}. A refused request
    (DomainError) or a job that does not succeed is printed in red and exits with status 1.
    """
    settings, sessions, storage = deps
    try:
        with sessions() as session:
            job = make(session)
            session.commit()
            job_id = job.id
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    outcome = run_here(job_id, body, sessions, storage, settings, title.format(id=job_id))
    if outcome["status"] != "succeeded":
        console.print(f"[red]{outcome['error'] or outcome['status']}[/red]")
        raise typer.Exit(1)
    return outcome["result"]
