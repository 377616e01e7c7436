"""`segtune models` and `segtune train`: registry and fine-tuning from the command line."""

from pathlib import Path

import typer
from rich.progress import DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from backend.cli_jobs import console, local_deps, run_here
from backend.errors import DomainError
from backend.services import seg_models, training
from backend.services.downloads import download

models_app = typer.Typer(help="Base and fine-tuned models.")


def _fail(exc: DomainError) -> None:
    console.print(f"[red]{exc.message}[/red]")
    raise typer.Exit(1)


@models_app.command("add")
def add(
    path: Path = typer.Argument(None, help="Checkpoint file (.pth)."),
    url: str = typer.Option(None, help="Download from this URL instead."),
    sha256: str = typer.Option(None, help="Expected SHA-256 of the file."),
    name: str = typer.Option(None),
    preset: str = typer.Option(
        None, help="Source classes: cityscapes19 or cityscapes20 (default: from the head size)."
    ),
    architecture: str = typer.Option(None),
    output_stride: int = typer.Option(None),
    project: int = typer.Option(None, help="Keep the model in this project only."),
) -> None:
    """Register a base model from a file or a URL (checked and inspected right here)."""
    from worker.registration import run_registration

    with local_deps() as (settings, sessions, storage):
        try:
            if url:
                tmp = storage.temp_path(".pth")
                columns = [*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn()]
                with Progress(*columns, console=console) as bar:
                    task = bar.add_task("download", total=None)
                    download(url, tmp, sha256, lambda d, t: bar.update(task, completed=d, total=t))
                source, filename = tmp, url.rsplit("/", 1)[-1]
            elif path:
                source, filename = seg_models.copy_in(storage, path), path.name
            else:
                raise typer.BadParameter("give a PATH or --url")
            with sessions() as session:
                model, job = seg_models.register_model(
                    session,
                    storage,
                    settings,
                    source,
                    filename,
                    name=name,
                    project_id=project,
                    architecture=architecture,
                    output_stride=output_stride,
                    preset=preset,
                    expected_sha256=sha256,
                )
                session.commit()
                model_id, job_id = model.id, job.id
        except DomainError as exc:
            _fail(exc)
        outcome = run_here(job_id, run_registration, sessions, storage, settings, "inspect")
    if outcome["status"] != "succeeded":
        console.print(f"[red]{outcome['error']}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]model {model_id} ready[/green] ({outcome['result']['architecture']})")


@models_app.command("list")
def list_models(project: int = typer.Option(None)) -> None:
    """Show registered models."""
    with local_deps() as (_settings, sessions, _storage), sessions() as session:
        table = Table("id", "name", "kind", "status", "architecture", "classes", "project")
        for m in seg_models.list_models(session, project):
            n = str(len(m.classes)) if m.classes else "?"
            table.add_row(
                str(m.id),
                m.name,
                m.kind,
                m.status,
                m.architecture or "?",
                n,
                str(m.project_id or "-"),
            )
    console.print(table)


def train(
    project: int = typer.Option(..., help="Project id."),
    base_model: int = typer.Option(None, help="Base model id (default: random init)."),
    preset: str = typer.Option("generalise", help="generalise (default), seed-study or quick."),
    iterations: int = typer.Option(None),
    batch_size: int = typer.Option(None),
    crop_size: int = typer.Option(None),
    lr: float = typer.Option(None),
    seed: int = typer.Option(None),
    val_every: int = typer.Option(None),
    device: str = typer.Option(None, help="auto, cpu or cuda."),
    force: bool = typer.Option(False, help="Proceed past data warnings."),
) -> None:
    """Fine-tune in this process (same job, same config fields as the web launch)."""
    from worker.training import run_training

    options = {
        "base_model_id": base_model,
        "preset": preset,
        "iterations": iterations,
        "batch_size": batch_size,
        "crop_size": crop_size,
        "lr": lr,
        "seed": seed,
        "val_every": val_every,
        "device": device,
    }
    with local_deps() as (settings, sessions, storage):
        try:
            with sessions() as session:
                job = training.request_training(session, project, options, force, reader=None)
                session.commit()
                job_id = job.id
        except DomainError as exc:
            _fail(exc)
        outcome = run_here(job_id, run_training, sessions, storage, settings, f"train job {job_id}")
    if outcome["status"] != "succeeded":
        console.print(f"[red]{outcome['error']}[/red]")
        raise typer.Exit(1)
    result = outcome["result"]
    for stage, scored in result.get("test", {}).items():
        m = scored["metrics"]
        console.print(
            f"{stage}: pixel accuracy {m['pixel_accuracy']:.3f}, mean IoU {m['mean_iou']:.3f}"
        )
    console.print(f"[green]model {result['model_id']} saved[/green] (job {job_id})")
