"""`segtune predict`: run a model over a video, as a job of the database or on a bare file."""

import shutil
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from backend.cli_jobs import console, local_deps, request_and_run


def _ref(value: str | None) -> int | Path | None:
    """A model or video given as a database id, or as a file path."""
    if value is None:
        return None
    return int(value) if value.isdigit() and not Path(value).exists() else Path(value)


def _outputs(out: Path) -> dict[str, Path]:
    stem = out.with_suffix("")
    return {
        "video": out,
        "timeline_csv": Path(f"{stem}-timeline.csv"),
        "timeline_png": Path(f"{stem}-timeline.png"),
        "masks_zip": Path(f"{stem}-masks.zip"),
    }


def predict(
    video: str = typer.Argument(..., help="A video id of the database, or a video file."),
    model: str = typer.Option(..., help="Model id, or (with a video file) a checkpoint file."),
    compare: str = typer.Option(None, help="A 'before' model shown on the left (id or file)."),
    fps: float = typer.Option(None, help="Output rate (default: the video's own)."),
    start: float = typer.Option(None, help="Start of the range, seconds."),
    end: float = typer.Option(None, help="End of the range, seconds."),
    opacity: float = typer.Option(0.5, min=0, max=1),
    masks: bool = typer.Option(False, help="Also write OUT-masks.zip (class-id PNG per frame)."),
    smooth: int = typer.Option(1, help="Average class probabilities over N frames (odd; 1: off)."),
    preset: str = typer.Option(None, help="Classes of a bare checkpoint file: cityscapes19/20."),
    architecture: str = typer.Option(None, help="Architecture of a bare checkpoint file."),
    out: Path = typer.Option(..., "-o", "--out", help="The MP4 to write."),
) -> None:
    """Segment a video into an overlay MP4 (+ OUT-timeline.csv/.png), with a progress bar."""
    source = _ref(video)
    targets = _outputs(out)
    opts = {"fps": fps, "start": start, "end": end, "opacity": opacity, "masks": masks}
    opts["smooth"] = smooth
    if isinstance(source, Path):
        _predict_file(source, model, compare, opts, preset, architecture, targets)
    else:
        _predict_job(source, _ref(model), _ref(compare), opts, targets)
    for what, path in targets.items():
        if path.exists():
            console.print(f"{what}: {path}")


def _predict_job(video_id, model_id, compare_id, opts: dict, targets: dict) -> None:
    """The same job the web queues, run in this process on this machine's SegTune data."""
    from backend.services.predictions import request_prediction
    from worker.prediction import run_prediction

    if not isinstance(model_id, int) or isinstance(compare_id, Path):
        raise typer.BadParameter("with a video id, give models by id (files: use a video file)")

    def make(session):
        return request_prediction(
            session,
            video_id,
            model_id,
            reader=None,
            compare_model_id=compare_id,
            fps=opts["fps"],
            start_s=opts["start"],
            end_s=opts["end"],
            opacity=opts["opacity"],
            masks=opts["masks"],
            smooth=opts["smooth"],
        )

    with local_deps() as deps:
        result = request_and_run(deps, make, run_prediction, "job {id}")
        for what, key in result["files"].items():
            shutil.copyfile(deps[2].path(key), targets[what])


def _part(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


def _predict_file(path, model, compare, opts: dict, preset, arch, targets: dict) -> None:
    """No database, no server: checkpoint files over a video file, outputs in their classes."""
    from backend.media import probe_video
    from worker.ml.checkpoints import load_model
    from worker.ml.presets import PRESETS
    from worker.predict_video import Outputs, Predictor, predict_video
    from worker.registration import rgb_color
    from worker.video_stream import select_frames

    info = probe_video(path)
    chosen = [p for p in (compare, model) if p is not None]
    if any(not Path(p).is_file() for p in chosen):
        raise typer.BadParameter("with a video file, --model and --compare are checkpoint files")
    predictors, classes = [], None
    for ckpt in chosen:
        net, meta = load_model(ckpt, arch, None, PRESETS[preset] if preset else None)
        own = [{**c, "color": rgb_color(c["color"])} for c in meta.classes]
        if classes is not None and [c["name"] for c in own] != [c["name"] for c in classes]:
            raise typer.BadParameter("both models must predict the same classes")
        classes = own
        predictors.append(Predictor(Path(ckpt).stem, net, meta.mean, meta.std, None))
    first = opts["start"] or 0.0
    last = info.duration_s if opts["end"] is None else opts["end"]
    if opts["smooth"] < 1 or opts["smooth"] % 2 == 0:
        raise typer.BadParameter("--smooth is an odd number of frames (1: off)")
    if not 0 <= first < last <= info.duration_s + 1e-6:
        raise typer.BadParameter(f"the range must lie within 0 to {info.duration_s:.3f} s")
    selection = select_frames(path, opts["fps"], first, last)
    out = Outputs(
        _part(targets["video"]),
        _part(targets["timeline_csv"]),
        _part(targets["timeline_png"]),
        _part(targets["masks_zip"]) if opts["masks"] else None,
    )
    columns = [
        TextColumn("[bold]predict"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("frames", total=len(selection.pts))
            predict_video(
                path,
                selection,
                predictors,
                classes,
                out,
                opacity=opts["opacity"],
                on_progress=lambda done, total: bar.update(task, completed=done),
                smooth=opts["smooth"],
            )
        # Written under temporary names, renamed only when everything is complete.
        for what in targets:
            part = getattr(out, what)
            if part is not None:
                part.replace(targets[what])
    finally:
        for what in targets:
            part = getattr(out, what)
            if part is not None:
                part.unlink(missing_ok=True)
    console.print(f"[green]{out.stats['frames']} frames at {out.stats['fps']:.2f} fps[/green]")
