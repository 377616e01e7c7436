"""`segtune backup` / `segtune restore`: database rows and media in one archive."""

from pathlib import Path

import typer
from rich.progress import Progress

from backend.cli_jobs import console, local_deps
from backend.db import make_engine
from backend.errors import DomainError
from backend.services.backup import create_backup, restore_backup


def _bar():
    bar = Progress(console=console)
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update


def backup(dest: Path = typer.Argument(..., help="Archive to write (.tar.gz).")) -> None:
    """Write every table and media file to one archive."""
    with local_deps() as (settings, _sessions, storage):
        engine = make_engine(settings.effective_database_url)
        bar, update = _bar()
        with bar:
            manifest = create_backup(engine, storage, dest, update)
        engine.dispose()
    rows = sum(manifest["rows"].values())
    console.print(f"[green]backup written[/green]: {rows} rows, {manifest['media']} media files")


def restore(source: Path = typer.Argument(..., exists=True, help="Archive from `backup`.")) -> None:
    """Load an archive into an empty database (migrated to the backup's schema)."""
    with local_deps() as (settings, _sessions, storage):
        engine = make_engine(settings.effective_database_url)
        bar, update = _bar()
        try:
            with bar:
                manifest = restore_backup(engine, storage, source, update)
        except DomainError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1) from None
        finally:
            engine.dispose()
    console.print(f"[green]restored[/green] {sum(manifest['rows'].values())} rows")
