"""Video routes: streamed upload, listing, sampling."""

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from backend.api.access import by
from backend.api.deps import DbSession, get_dispatcher, get_settings, get_storage
from backend.api.uploads import BINARY, discard, multipart_body, receive_files
from backend.errors import Invalid
from backend.schemas.jobs import JobOut
from backend.schemas.media import SampleRequest, VideoOut, VideoUpdate
from backend.services import jobs, sampling, videos

router = APIRouter(tags=["videos"])


@router.post(
    "/api/projects/{project_id}/videos",
    response_model=VideoOut,
    status_code=201,
    openapi_extra={**multipart_body({"file": BINARY}, ["file"]), **by("project_id")},
)
async def upload_video(
    project_id: int,
    request: Request,
    duplicates: Literal["refuse", "keep"] = Query(
        "refuse", description="A file identical to a video of the project: 409, or kept."
    ),
    session: Session = DbSession,
    storage=Depends(get_storage),
    settings=Depends(get_settings),
):
    """Upload one video (multipart field `file`), streamed to disk and probed."""
    files = await receive_files(request, storage, {"file"}, settings)
    if len(files) != 1:
        discard(files)
        raise Invalid("Send exactly one video in the multipart field 'file'.")
    upload = files[0]
    return videos.add_video(
        session,
        storage,
        settings,
        project_id,
        upload.path,
        upload.filename,
        upload.sha256,
        duplicates,
    )


@router.get(
    "/api/projects/{project_id}/videos",
    response_model=list[VideoOut],
    openapi_extra=by("project_id"),
)
def list_videos(project_id: int, session: Session = DbSession):
    """A project's videos."""
    return videos.list_videos(session, project_id)


@router.get("/api/videos/{video_id}", response_model=VideoOut, openapi_extra=by("video_id"))
def get_video(video_id: int, session: Session = DbSession):
    """One video."""
    return videos.get_video(session, video_id)


@router.patch("/api/videos/{video_id}", response_model=VideoOut, openapi_extra=by("video_id"))
def rename_video(video_id: int, body: VideoUpdate, session: Session = DbSession):
    """Rename a video."""
    return videos.rename_video(session, video_id, body.filename)


@router.post(
    "/api/videos/{video_id}/sample",
    response_model=JobOut,
    status_code=202,
    openapi_extra=by("video_id"),
)
def sample_video(
    video_id: int,
    body: SampleRequest,
    session: Session = DbSession,
    settings=Depends(get_settings),
    dispatcher=Depends(get_dispatcher),
):
    """Queue a job that samples frames uniformly in time."""
    job = sampling.request_sampling(session, settings, video_id, **body.model_dump())
    return jobs.enqueue(session, job, dispatcher.dispatch)
