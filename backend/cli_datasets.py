"""`segtune import`: a server-side dataset folder into a project, with a progress bar."""

from pathlib import Path

import typer

from backend.cli_jobs import console, local_deps, request_and_run


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

    def make(session):
        mapping = parse_cli_map(class_map, default)
        return request_folder_import(session, project, path, layout, mapping, split)

    with local_deps() as deps:
        result = request_and_run(deps, make, run_import, "import job {id}")
    splits = ", ".join(f"{n} {s}" for s, n in result["splits"].items() if n)
    console.print(
        f"[green]imported {result['frames_added']} frames with {result['masks_added']} masks"
        f"[/green] ({result['layout']} layout; {splits})"
    )
