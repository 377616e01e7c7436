"""Review routes: assigning frames to annotators, accepting a model's draft as is."""

from fastapi import APIRouter, Depends, Header, Request
from sqlalchemy.orm import Session

from backend.api.access import by
from backend.api.deps import DbSession, get_storage
from backend.schemas.media import AssignRequest, AssignResult, FrameOut
from backend.services import masks, prelabel, review

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
    request: Request,
    if_match: str | None = Header(None),
    session: Session = DbSession,
    storage=Depends(get_storage),
):
    """Take the model's draft as is: a new 'accepted' version of the same pixels, marked done."""
    expected = masks.parse_if_match(if_match)
    author_id = request.state.identity.user.id  # set by the access check every route runs
    return prelabel.accept_draft(session, storage, frame_id, expected, author_id)
