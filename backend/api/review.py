"""Review routes: assigning frames to annotators, accepting a model's draft as is."""

from fastapi import APIRouter, Depends, Header
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, by
from backend.api.deps import DbSession, get_storage
from backend.schemas.media import AssignRequest, AssignResult, FrameOut
from backend.services import masks, prelabel, review
from backend.services.auth import Identity

router = APIRouter(tags=["review"])


@router.post(
    "/api/projects/{project_id}/assignments",
    response_model=AssignResult,
    openapi_extra=by("project_id"),
)
def assign_frames(project_id: int, body: AssignRequest, session: Session = DbSession):
    """Assign frames to a member who labels, or unassign them (assignee_id null); owners."""
    count = review.assign_frames(session, project_id, body.frame_ids, body.assignee_id)
    return AssignResult(assigned=count)


@router.post(
    "/api/frames/{frame_id}/mask/accept",
    response_model=FrameOut,
    openapi_extra=by("frame_id", "annotator"),
)
def accept_draft(
    frame_id: int,
    if_match: str | None = Header(None),
    identity: Identity = CurrentUser,
    session: Session = DbSession,
    storage=Depends(get_storage),
):
    """Take the model's draft as is: a new 'accepted' version of the same pixels, marked done."""
    expected = masks.parse_if_match(if_match)
    return prelabel.accept_draft(session, storage, frame_id, expected, identity.user.id)
