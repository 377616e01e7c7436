"""Project routes."""

from fastapi import APIRouter
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, account, by, listing
from backend.api.deps import DbSession
from backend.schemas.projects import ProjectCreate, ProjectListItem, ProjectOut, ProjectUpdate
from backend.services import access, projects
from backend.services.auth import Identity
from backend.services.projects import ClassSpec

router = APIRouter(prefix="/api/projects", tags=["projects"])


def _specs(classes) -> list[ClassSpec] | None:
    return None if classes is None else [ClassSpec(c.name, c.color) for c in classes]


@router.post("", response_model=ProjectOut, status_code=201, openapi_extra=account())
def create_project(
    body: ProjectCreate, identity: Identity = CurrentUser, session: Session = DbSession
):
    """Create a project (default classes: background, car, traffic sign); you become its owner."""
    return projects.create_project(
        session, body.name, _specs(body.classes), body.initial_mask, owner=identity.user
    )


@router.get("", response_model=list[ProjectListItem], openapi_extra=listing())
def list_projects(identity: Identity = CurrentUser, session: Session = DbSession):
    """The projects you belong to (all of them for an administrator), each with your role."""
    found = projects.list_projects(session, access.visible_projects(session, identity.user))
    roles = access.roles_by_project(session, identity.user, [p.id for p in found])
    return [
        ProjectListItem(**ProjectOut.model_validate(p).model_dump(), role=roles[p.id])
        for p in found
    ]


@router.get("/{project_id}", response_model=ProjectOut, openapi_extra=by("project_id"))
def get_project(project_id: int, session: Session = DbSession):
    """One project with its classes."""
    return projects.get_project(session, project_id)


@router.patch("/{project_id}", response_model=ProjectOut, openapi_extra=by("project_id"))
def update_project(project_id: int, body: ProjectUpdate, session: Session = DbSession):
    """Rename a project or edit its classes."""
    return projects.update_project(
        session, project_id, body.name, _specs(body.classes), body.initial_mask
    )
