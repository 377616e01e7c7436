"""Project membership: who is an owner, reviewer, annotator or viewer of a project."""

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from backend.db import begin_write
from backend.errors import Conflict, Invalid, NotFound
from backend.models import Membership, Project, User
from backend.models.membership import ROLES
from backend.services.projects import get_project
from backend.services.review import release_assignments
from backend.services.users import user_by_email

_RANK = case({role: rank for rank, role in enumerate(ROLES)}, value=Membership.role)


def list_members(session: Session, project_id: int) -> list[tuple[Membership, User]]:
    """A project's members with their accounts, owners first."""
    get_project(session, project_id)
    query = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.project_id == project_id)
        .order_by(_RANK.desc(), User.email)
    )
    return [(m, u) for m, u in session.execute(query)]


def _lock_project(session: Session, project_id: int) -> None:
    """Serialise membership changes of one project, so an owner count stays true until commit.

    PostgreSQL: a lock on the project row (NO KEY: rows referring to the project, such as new
    frames, are not held up). SQLite: the writer lock, before anything is read.
    """
    begin_write(session)
    query = select(Project.id).where(Project.id == project_id).with_for_update(key_share=True)
    if session.scalar(query) is None:
        raise NotFound(f"Project {project_id} does not exist.")


def _member(session: Session, project_id: int, user_id: int) -> Membership | None:
    query = select(Membership).where(
        Membership.project_id == project_id, Membership.user_id == user_id
    )
    # Read again after the lock, even if this session loaded the row before.
    return session.scalar(query.execution_options(populate_existing=True))


def _owners(session: Session, project_id: int) -> int:
    query = select(func.count()).where(
        Membership.project_id == project_id, Membership.role == "owner"
    )
    return session.scalar(query.select_from(Membership))


def set_member(session: Session, project_id: int, email: str, role: str) -> Membership:
    """Add a user (by email) to a project, or change their role."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}.")
    _lock_project(session, project_id)
    user = user_by_email(session, email)
    member = _member(session, project_id, user.id)
    if member is None:
        member = Membership(project_id=project_id, user_id=user.id, role=role)
        session.add(member)
    else:
        if member.role == "owner" and role != "owner" and _owners(session, project_id) <= 1:
            raise Conflict("A project needs at least one owner; make someone else owner first.")
        member.role = role
    if role == "viewer":
        release_assignments(session, project_id, user.id)
    session.flush()
    return member


def remove_member(session: Session, project_id: int, user_id: int) -> None:
    """Take a user out of a project (the last owner stays)."""
    _lock_project(session, project_id)
    member = _member(session, project_id, user_id)
    if member is None:
        raise NotFound(f"User {user_id} is not a member of project {project_id}.")
    if member.role == "owner" and _owners(session, project_id) <= 1:
        raise Conflict("A project needs at least one owner; make someone else owner first.")
    session.delete(member)
    release_assignments(session, project_id, user_id)
    session.flush()
