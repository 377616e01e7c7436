"""Who may see and change which project: roles, and the project a request is about."""

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from backend.errors import Forbidden, NotFound
from backend.models import Frame, Job, Membership, Project, SegModel, User, Video
from backend.models.membership import ROLES

RANK = {role: rank for rank, role in enumerate(ROLES)}
# Built once: the access check runs before every request.
_ROLE = select(Membership.__table__.c.role).where(
    Membership.__table__.c.project_id == bindparam("project_id"),
    Membership.__table__.c.user_id == bindparam("user_id"),
)
# What each path parameter names, and how it is called in a 404.
SCOPES = {
    "project_id": (Project, "Project"),
    "video_id": (Video, "Video"),
    "frame_id": (Frame, "Frame"),
    "job_id": (Job, "Job"),
    "model_id": (SegModel, "Model"),
}
_PROJECT_OF = {
    param: select(model.__table__.c.project_id).where(model.__table__.c.id == bindparam("id"))
    for param, (model, _label) in SCOPES.items()
    if param != "project_id"
}


def role_in(session: Session, user: User, project_id: int) -> str | None:
    """The user's role in a project (admins are owners everywhere), or None."""
    if user.is_admin:
        return "owner"
    return session.scalar(_ROLE, {"project_id": project_id, "user_id": user.id})


def visible_projects(session: Session, user: User) -> set[int] | None:
    """Ids of the projects the user belongs to; None means all (an admin)."""
    if user.is_admin:
        return None
    return set(session.scalars(select(Membership.project_id).where(Membership.user_id == user.id)))


def roles_by_project(session: Session, user: User, project_ids: list[int]) -> dict[int, str]:
    """The user's role in each of the given projects (admins are owners everywhere)."""
    if user.is_admin:
        return dict.fromkeys(project_ids, "owner")
    rows = session.execute(
        select(Membership.project_id, Membership.role).where(
            Membership.user_id == user.id, Membership.project_id.in_(project_ids)
        )
    )
    return dict(rows.tuples().all())


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
    label = SCOPES[param][1]
    missing = f"{label} {value} does not exist."
    if param == "project_id":
        return require_role(session, user, value, need, missing)
    found = session.execute(_PROJECT_OF[param], {"id": value}).one_or_none()
    if found is None:
        raise NotFound(missing)
    if found.project_id is None:
        require_shared(user, need)
        return None
    return require_role(session, user, found.project_id, need, missing)


def check_upload_target(session: Session, user: User, project_id: int | None) -> None:
    """A model may be registered into a project its owner runs, or shared by an admin."""
    if project_id is None:
        require_shared(user, "owner")
    else:
        require_role(session, user, project_id, "owner", f"Project {project_id} does not exist.")
