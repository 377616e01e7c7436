"""Routes that rank unlabeled frames to label next, and read the newest ranking."""

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, by
from backend.api.deps import DbSession, get_dispatcher
from backend.schemas.jobs import JobOut
from backend.schemas.suggestions import SuggestRequest
from backend.services import jobs, suggestions
from backend.services.auth import Identity

router = APIRouter(prefix="/api/projects/{project_id}", tags=["suggestions"])


@router.post(
    "/suggestions",
    response_model=JobOut,
    status_code=202,
    openapi_extra=by("project_id", "annotator"),
)
def suggest(
    project_id: int,
    body: SuggestRequest,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
    identity: Identity = CurrentUser,
):
    """Queue a job that scores the unlabeled frames with a model and ranks them."""
    job = suggestions.request_suggestions(
        session,
        project_id,
        reader=identity.user,
        model_id=body.model_id,
        count=body.count,
        split=body.split,
        class_map=body.class_map,
        measure=body.measure,
        rule=body.rule,
        gap_s=body.gap_s,
    )
    return jobs.enqueue(session, job, dispatcher.dispatch)


@router.get("/suggestions", openapi_extra=by("project_id"))
def ranking(project_id: int, session: Session = DbSession) -> dict:
    """The newest finished ranking (stale: labeled since) and any suggestion job still running."""
    return suggestions.newest_ranking(session, project_id)
