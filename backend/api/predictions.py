"""Video prediction routes: queue a model run over a video, stream and download its outputs."""

from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, by
from backend.api.deps import DbSession, get_dispatcher, get_storage
from backend.schemas.jobs import JobOut
from backend.schemas.predictions import PredictRequest
from backend.services import jobs, predictions
from backend.services.auth import Identity

router = APIRouter(tags=["predictions"])


@router.post(
    "/api/videos/{video_id}/predict",
    response_model=JobOut,
    status_code=202,
    openapi_extra=by("video_id", "annotator"),
)
def predict_video(
    video_id: int,
    body: PredictRequest,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
    identity: Identity = CurrentUser,
):
    """Queue a job that segments the video: overlay MP4, class-area timeline, optional masks."""
    job = predictions.request_prediction(
        session, video_id, reader=identity.user, **body.model_dump()
    )
    return jobs.enqueue(session, job, dispatcher.dispatch)


@router.get("/api/jobs/{job_id}/video", response_class=FileResponse, openapi_extra=by("job_id"))
def job_video(job_id: int, session: Session = DbSession, storage=Depends(get_storage)):
    """The overlay MP4 of a finished prediction (range requests: 206 with Content-Range)."""
    key, media_type, _ = predictions.output_file(session, storage, job_id, "video")
    return FileResponse(storage.path(key), media_type=media_type)


@router.get(
    "/api/jobs/{job_id}/outputs/{what}", response_class=FileResponse, openapi_extra=by("job_id")
)
def job_output(
    job_id: int,
    what: Literal["video", "timeline_csv", "timeline_png", "masks_zip"],
    session: Session = DbSession,
    storage=Depends(get_storage),
):
    """Download one output of a finished prediction."""
    key, media_type, name = predictions.output_file(session, storage, job_id, what)
    return FileResponse(storage.path(key), media_type=media_type, filename=name)
