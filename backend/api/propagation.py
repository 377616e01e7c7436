"""Route that propagates a frame's mask to its neighbouring video frames."""

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, by
from backend.api.deps import DbSession, get_dispatcher
from backend.schemas.jobs import JobOut
from backend.schemas.propagation import PropagateRequest
from backend.services import jobs, propagation
from backend.services.auth import Identity

router = APIRouter(tags=["propagation"])


@router.post(
    "/api/frames/{frame_id}/propagate",
    response_model=JobOut,
    status_code=202,
    openapi_extra=by("frame_id", "annotator"),
)
def propagate(
    frame_id: int,
    body: PropagateRequest,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
    identity: Identity = CurrentUser,
):
    """Queue drafts for the next frames (optical flow, model or unlabeled where it fails)."""
    job = propagation.request_propagation(
        session,
        frame_id,
        body.direction,
        body.count,
        body.model_id,
        body.overwrite,
        reader=identity.user,
        class_map=body.class_map,
    )
    return jobs.enqueue(session, job, dispatcher.dispatch)
