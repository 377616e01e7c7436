"""Project progress route for the project cards."""

from fastapi import APIRouter
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, listing
from backend.api.deps import DbSession
from backend.schemas.project_progress import ProgressOut
from backend.services import access, project_progress
from backend.services.auth import Identity

router = APIRouter(tags=["projects"])


@router.get("/api/project-progress", response_model=list[ProgressOut], openapi_extra=listing())
def list_progress(identity: Identity = CurrentUser, session: Session = DbSession):
    """Labeling progress of the projects you belong to (all of them for an administrator)."""
    return project_progress.progress(session, access.visible_projects(session, identity.user))
