"""Deletion routes: a preview of what goes (GET .../deletion), then the DELETE itself.

Owners only (administrators for shared base models). The DELETE answers with what it removed.
"""

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from backend.api.access import by
from backend.api.deps import DbSession, get_dispatcher, get_storage
from backend.schemas.removal import DeletionOut
from backend.services import removal

router = APIRouter(tags=["removal"])
OWNER = "owner"


def _preview(session: Session, kind: str, thing_id: int) -> DeletionOut:
    return DeletionOut.of(removal.PLANS[kind](session, thing_id))


def _delete(session, storage, dispatcher, kind: str, thing_id: int, token: str | None):
    plan = removal.delete(session, storage, kind, thing_id, token, dispatcher.revoke)
    return DeletionOut.of(plan)


@router.get(
    "/api/projects/{project_id}/deletion",
    response_model=DeletionOut,
    openapi_extra=by("project_id", OWNER),
)
def preview_project(project_id: int, session: Session = DbSession):
    """What deleting the project removes: videos, frames, masks, models, jobs."""
    return _preview(session, "project", project_id)


@router.delete(
    "/api/projects/{project_id}", response_model=DeletionOut, openapi_extra=by("project_id")
)
def delete_project(
    project_id: int,
    token: str | None = None,
    session: Session = DbSession,
    storage=Depends(get_storage),
    dispatcher=Depends(get_dispatcher),
):
    """Delete a project with its videos, frames, models, jobs and their files."""
    return _delete(session, storage, dispatcher, "project", project_id, token)


@router.get(
    "/api/videos/{video_id}/deletion",
    response_model=DeletionOut,
    openapi_extra=by("video_id", OWNER),
)
def preview_video(video_id: int, session: Session = DbSession):
    """What deleting the video removes: its file, frames and their masks; jobs cancelled."""
    return _preview(session, "video", video_id)


@router.delete("/api/videos/{video_id}", response_model=DeletionOut, openapi_extra=by("video_id"))
def delete_video(
    video_id: int,
    token: str | None = None,
    session: Session = DbSession,
    storage=Depends(get_storage),
    dispatcher=Depends(get_dispatcher),
):
    """Delete a video with its frames and masks; cancels its sampling and the jobs reading them."""
    return _delete(session, storage, dispatcher, "video", video_id, token)


@router.get(
    "/api/frames/{frame_id}/deletion",
    response_model=DeletionOut,
    openapi_extra=by("frame_id", OWNER),
)
def preview_frame(frame_id: int, session: Session = DbSession):
    """What deleting the frame removes: its image and every mask version."""
    return _preview(session, "frame", frame_id)


@router.delete("/api/frames/{frame_id}", response_model=DeletionOut, openapi_extra=by("frame_id"))
def delete_frame(
    frame_id: int,
    token: str | None = None,
    session: Session = DbSession,
    storage=Depends(get_storage),
    dispatcher=Depends(get_dispatcher),
):
    """Delete a frame and its mask versions; reports keep their scores."""
    return _delete(session, storage, dispatcher, "frame", frame_id, token)


@router.get(
    "/api/models/{model_id}/deletion",
    response_model=DeletionOut,
    openapi_extra=by("model_id", OWNER),
)
def preview_model(model_id: int, session: Session = DbSession):
    """What deleting the model removes, cancels, and which reports stay."""
    return _preview(session, "model", model_id)


@router.delete("/api/models/{model_id}", response_model=DeletionOut, openapi_extra=by("model_id"))
def delete_model(
    model_id: int,
    token: str | None = None,
    session: Session = DbSession,
    storage=Depends(get_storage),
    dispatcher=Depends(get_dispatcher),
):
    """Delete a model (ready, failed or still being checked) and its files."""
    return _delete(session, storage, dispatcher, "model", model_id, token)
