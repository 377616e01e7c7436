"""Frame navigation routes for the painter: next of a kind, jump to position N."""

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from backend.api.access import by
from backend.api.deps import DbSession
from backend.schemas.frame_navigation import PlaceOut
from backend.services import frame_navigation

router = APIRouter(tags=["frames"])


@router.get("/api/frames/{frame_id}/next", response_model=PlaceOut, openapi_extra=by("frame_id"))
def next_frame(
    frame_id: int,
    kind: str = Query("any", description="any, open (not done), unlabeled or draft"),
    session: Session = DbSession,
):
    """The next frame of a kind after this one in grid order (wrapping); frame_id null if none."""
    return frame_navigation.next_frame(session, frame_id, kind)


@router.get(
    "/api/projects/{project_id}/frame-at", response_model=PlaceOut, openapi_extra=by("project_id")
)
def frame_at(project_id: int, position: int = Query(..., ge=1), session: Session = DbSession):
    """The frame at a 1-based position of the project's grid order."""
    return frame_navigation.frame_at(session, project_id, position)
