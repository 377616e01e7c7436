"""`segtune fsck`: media files no row refers to and rows whose file is missing."""

import typer
from rich.table import Table

from backend.cli_jobs import console, local_deps
from backend.services.fsck import DEFAULT_MIN_AGE_S, FsckReport, check_storage


def _summary(report: FsckReport) -> str:
    counts = report.counts()
    if not counts:
        return f"clean: {report.files} files and {report.refs} file references checked, 0 problems"
    kinds = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counts.items())
    total = len(report.problems)
    verb = "fixed" if report.deleted else "found"
    return f"{total} problem{'s' if total != 1 else ''} {verb} ({kinds})"


def fsck(
    delete: bool = typer.Option(
        False, "--delete", help="Delete orphan files and the rows whose file is missing."
    ),
    min_age: float = typer.Option(
        DEFAULT_MIN_AGE_S,
        "--min-age",
        help="Seconds: unreferenced files younger than this may be in the middle of a save.",
    ),
) -> None:
    """Check media storage against the database; exit 1 when problems are left."""
    with local_deps() as (settings, sessions, storage):
        report = check_storage(sessions, storage, settings, delete=delete, min_age_s=min_age)
    if report.problems:
        table = Table("problem", "row", "done" if delete else "--delete would")
        table.add_column("file", overflow="fold")  # paths whole, even in a narrow terminal
        for problem in report.problems:
            table.add_row(problem.kind, problem.row, problem.action, problem.path)
        console.print(table)
    if report.left_alone:
        console.print(
            f"left alone: {report.left_alone} unreferenced files that may belong to work in "
            "progress (recent, or of a running job)"
        )
    console.print(_summary(report), highlight=False, soft_wrap=True)
    if report.problems and not delete:
        raise typer.Exit(1)
