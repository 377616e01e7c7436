"""Who may see and change which project: roles, and the project a request is about."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Forbidden, NotFound
from backend.models import Frame, Job, Membership, Project, SegModel, User, Video
from backend.models.membership import ROLES

RANK = {role: rank for rank, role in enumerate(ROLES)}
# What each path parameter names, and how it is called in a 404.
SCOPES = {
    "project_id": (Project, "Project"),
    "video_id": (Video, "Video"),
    "frame_id": (Frame, "Frame"),
    "job_id": (Job, "Job"),
    "model_id": (SegModel, "Model"),
}


def role_in(session: Session, user: User, project_id: int) -> str | None:
    """The user's role in a project (admins are owners everywhere), or None."""
    if user.is_admin:
        return "owner"
    query = select(Membership.role).where(
        Membership.project_id == project_id, Membership.user_id == user.id
    )
    return session.scalar(query)


def visible_projects(session: Session, user: User) -> set[int] | None:
    """Ids of the projects the user belongs to; None means all (an admin)."""
    if user.is_admin:
        return None
    return set(session.scalars(select(Membership.project_id).where(Membership.user_id == user.id)))


def require_role(session: Session, user: User, project_id: int, need: str, noun: str) -> str:
    """The user's role; NotFound when they cannot see the project, Forbidden when too weak."""
    role = role_in(session, user, project_id)
    if role is None:
        raise NotFound(noun)
    if RANK[role] < RANK[need]:
        raise Forbidden(f"Your role in this project is {role}; this needs {need} or above.")
    return role


def require_shared(user: User, need: str) -> None:
    """Things of no project (shared base models): everyone reads, admins change."""
    if need != "viewer" and not user.is_admin:
        raise Forbidden("Only an administrator can change models shared by all projects.")


def require_admin(user: User) -> None:
    """Forbidden unless the user is a site administrator."""
    if not user.is_admin:
        raise Forbidden("Only an administrator can do this.")


def authorize(session: Session, user: User, param: str, value: int, need: str) -> str | None:
    """Check the user's access to the thing a path parameter names (404 if it is not theirs).

    Returns the user's role in its project; None for things of no project.
    """
    model, label = SCOPES[param]
    missing = f"{label} {value} does not exist."
    if param == "project_id":
        return require_role(session, user, value, need, missing)
    row = session.get(model, value)
    if row is None:
        raise NotFound(missing)
    if row.project_id is None:
        require_shared(user, need)
        return None
    return require_role(session, user, row.project_id, need, missing)


def check_upload_target(session: Session, user: User, project_id: int | None) -> None:
    """A model may be registered into a project its owner runs, or shared by an admin."""
    if project_id is None:
        require_shared(user, "owner")
    else:
        require_role(session, user, project_id, "owner", f"Project {project_id} does not exist.")
