"""`segtune import`: a server-side dataset folder into a project, with a progress bar."""

from pathlib import Path

import typer

from backend.cli_jobs import console, local_deps, run_here
from backend.errors import DomainError


def import_dataset(
    path: Path = typer.Argument(..., help="Server-side folder with images and masks."),
    project: int = typer.Option(..., help="Project id."),
    layout: str = typer.Option("auto", help="auto, plain, color, camvid, cityscapes or segtune."),
    class_map: str = typer.Option(
        None, "--map", help='Preset, JSON, or 8=car,6="traffic sign",11=unlabeled.'
    ),
    default: str = typer.Option(None, help="Project class for every source value not in --map."),
    split: str = typer.Option("auto", help="auto (from folder names), none, train, val or test."),
) -> None:
    """Import a dataset folder (images + masks) into a project, as a job run here."""
    from backend.services.datasets.classmap import parse_cli_map
    from backend.services.datasets.imports import request_folder_import, run_import

    with local_deps() as (settings, sessions, storage):
        try:
            mapping = parse_cli_map(class_map, default)
            with sessions() as session:
                job = request_folder_import(session, project, path, layout, mapping, split)
                session.commit()
                job_id = job.id
        except DomainError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1) from exc
        outcome = run_here(job_id, run_import, sessions, storage, settings, f"import job {job_id}")
    if outcome["status"] != "succeeded":
        console.print(f"[red]{outcome['error']}[/red]")
        raise typer.Exit(1)
    result = outcome["result"]
    splits = ", ".join(f"{n} {s}" for s, n in result["splits"].items() if n)
    console.print(
        f"[green]imported {result['frames_added']} frames with {result['masks_added']} masks"
        f"[/green] ({result['layout']} layout; {splits})"
    )
