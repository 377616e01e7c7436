"""Job body: segment a video with one model (or two, before | after) and store the outputs."""

from pathlib import Path
from typing import Any

from backend.db import session_scope
from backend.services.videos import get_video
from worker.evaluation import model_source, project_frames
from worker.ml.checkpoints import load_model
from worker.predict_video import Outputs, Predictor, predict_video
from worker.video_stream import select_frames


def load_predictor(source: dict[str, Any], table: list[int] | None) -> Predictor:
    """A registered model's file loaded for inference, read through its class map."""
    model, meta = load_model(
        source["path"], source["architecture"], source["output_stride"], source["classes"] or None
    )
    return Predictor(source["name"], model, meta.mean, meta.std, table, source["id"])


def run_prediction(ctx) -> dict[str, Any]:
    """Run the job's models over its video range; the files appear only when all are done."""
    p = ctx.params
    with session_scope(ctx.sessions) as session:
        path = Path(ctx.storage.path(get_video(session, p["video_id"]).storage_key))
    _, classes = project_frames(ctx)
    ids = [i for i in (p.get("compare_model_id"), p["model_id"]) if i is not None]
    predictors = [load_predictor(model_source(ctx, i), p["class_maps"][str(i)]) for i in ids]
    ctx.progress(0.0, "indexing frames")
    selection = select_frames(path, p.get("fps"), p["start_s"], p["end_s"])
    temp = ctx.storage.temp_path
    out = Outputs(
        video=temp(".mp4"),
        timeline_csv=temp(".csv"),
        timeline_png=temp(".png"),
        masks_zip=temp(".zip") if p.get("masks") else None,
    )

    def report(done: int, total: int) -> None:
        ctx.progress(0.99 * done / max(total, 1), f"{done}/{total} frames")

    predict_video(
        path,
        selection,
        predictors,
        classes,
        out,
        opacity=p["opacity"],
        on_progress=report,
        smooth=p.get("smooth") or 1,
    )
    files = {}
    for what, suffix in (
        ("video", "mp4"),
        ("timeline_csv", "csv"),
        ("timeline_png", "png"),
        ("masks_zip", "zip"),
    ):
        src = getattr(out, what)
        if src is not None:
            files[what] = f"jobs/{ctx.job_id}/predict/{what}.{suffix}"
            ctx.storage.put_file(src, files[what])
    return {
        "files": files,
        "frames": out.stats["frames"],
        "fps": float(selection.rate),
        "models": [{"id": x.model_id, "name": x.name} for x in predictors],
        "speed": out.stats,
    }
