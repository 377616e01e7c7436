"""Running a model over a whole video: request checks, and where the job's outputs are."""

from typing import Any

from sqlalchemy.orm import Session

from backend.errors import Conflict, Invalid, NotFound
from backend.models import Job, User
from backend.services import mappings
from backend.services.jobs import create_job, get_job
from backend.services.projects import get_project
from backend.services.seg_models import ready_model
from backend.services.videos import get_video
from backend.storage import LocalStorage

# What a finished predict job offers: result key -> (media type, download file name suffix).
OUTPUTS = {
    "video": ("video/mp4", ".mp4"),
    "timeline_csv": ("text/csv", "-timeline.csv"),
    "timeline_png": ("image/png", "-timeline.png"),
    "masks_zip": ("application/zip", "-masks.zip"),
}
MAX_FPS = 120.0


def request_prediction(
    session: Session,
    video_id: int,
    model_id: int,
    *,
    reader: User | None,
    compare_model_id: int | None = None,
    fps: float | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    class_map: list[int] | None = None,
    compare_class_map: list[int] | None = None,
    opacity: float = 0.5,
    masks: bool = False,
    smooth: int = 1,
) -> Job:
    """Check a predict request and queue the job (compare_model_id: the 'before' of a pair).

    Both models' outputs are read as the project's classes: model_id through class_map and the
    compare model through compare_class_map when given, otherwise by lineage or class name, as
    evaluation does.
    """
    video = get_video(session, video_id)
    names = [c.name for c in get_project(session, video.project_id).classes]
    if compare_model_id == model_id:
        raise Invalid("compare_model_id must be another model than model_id.")
    chosen = [ready_model(session, model_id, reader)]
    if compare_model_id is not None:
        chosen.append(ready_model(session, compare_model_id, reader))
    if compare_class_map is not None and compare_model_id is None:
        raise Invalid("compare_class_map needs a compare_model_id.")
    given = {} if class_map is None else {model_id: class_map}
    if compare_class_map is not None:
        given[compare_model_id] = compare_class_map
    records = mappings.resolve(session, names, chosen, given)
    start = 0.0 if start_s is None else start_s
    end = video.duration_s if end_s is None else end_s
    if start < 0 or end <= start or end > video.duration_s + 1e-6:
        raise Invalid(
            f"The time range must lie within the video (0 to {video.duration_s:.3f} s) "
            f"with start_s below end_s; got {start} to {end}."
        )
    if fps is not None and not 0 < fps <= MAX_FPS:
        raise Invalid(f"fps must be above 0 and at most {MAX_FPS:g}.")
    if not 1 <= smooth <= 15 or smooth % 2 == 0:
        raise Invalid("smooth is an odd number of frames from 1 (off) to 15.")
    if not 0 <= opacity <= 1:
        raise Invalid("opacity must be between 0 and 1.")
    params: dict[str, Any] = {
        "video_id": video.id,
        "model_id": model_id,
        "compare_model_id": compare_model_id,
        "fps": fps,
        "start_s": start,
        "end_s": end,
        "opacity": opacity,
        "masks": masks,
        "smooth": smooth,
        "class_maps": {str(m.id): records[m.id]["table"] for m in chosen},
        "names": {str(m.id): m.name for m in chosen},
    }
    return create_job(session, "predict", params, video.project_id, queue="gpu")


def output_file(session: Session, storage: LocalStorage, job_id: int, what: str) -> tuple:
    """(storage key, media type, download name) of one output of a finished predict job."""
    job = get_job(session, job_id)
    if job.kind != "predict":
        raise NotFound(f"Job {job_id} is not a video prediction.")
    if what not in OUTPUTS:
        raise NotFound(f"A prediction has no output called {what!r}.")
    if job.status != "succeeded":
        raise Conflict(f"Job {job_id} is {job.status}; its outputs exist once it has succeeded.")
    key = ((job.result or {}).get("files") or {}).get(what)
    if not key or not storage.exists(key):
        raise NotFound(f"Job {job_id} has no {what.replace('_', ' ')} (not asked for, or gone).")
    media_type, suffix = OUTPUTS[what]
    return key, media_type, f"prediction-{job_id}{suffix}"
