"""Account administration (site administrators only) and project membership."""

from fastapi import APIRouter
from sqlalchemy.orm import Session

from backend.api.access import admin, by
from backend.api.deps import DbSession
from backend.schemas.users import MemberIn, MemberOut, UserCreate, UserOut, UserUpdate
from backend.services import members, users

router = APIRouter(tags=["users"])
ADMIN = admin()


@router.get("/api/users", response_model=list[UserOut], openapi_extra=ADMIN)
def list_users(session: Session = DbSession):
    """Every account."""
    return users.list_users(session)


@router.post("/api/users", response_model=UserOut, status_code=201, openapi_extra=ADMIN)
def create_user(body: UserCreate, session: Session = DbSession):
    """Create an account (409 when the email is taken)."""
    return users.create_user(session, body.email, body.password, body.name, body.is_admin)


@router.patch("/api/users/{user_id}", response_model=UserOut, openapi_extra=ADMIN)
def update_user(user_id: int, body: UserUpdate, session: Session = DbSession):
    """Rename, reset the password, grant or take admin, disable or enable an account."""
    return users.update_user(
        session, user_id, body.name, body.password, body.is_admin, body.is_active
    )


def _member(pair) -> MemberOut:
    membership, user = pair
    return MemberOut(user_id=user.id, email=user.email, name=user.name, role=membership.role)


@router.get(
    "/api/projects/{project_id}/members",
    response_model=list[MemberOut],
    openapi_extra=by("project_id"),
)
def list_members(project_id: int, session: Session = DbSession):
    """Who belongs to the project, with their roles."""
    return [_member(pair) for pair in members.list_members(session, project_id)]


@router.put(
    "/api/projects/{project_id}/members", response_model=MemberOut, openapi_extra=by("project_id")
)
def set_member(project_id: int, body: MemberIn, session: Session = DbSession):
    """Add a user by email, or change their role (owners only)."""
    membership = members.set_member(session, project_id, body.email, body.role)
    user = users.get_user(session, membership.user_id)
    return _member((membership, user))


@router.delete(
    "/api/projects/{project_id}/members/{user_id}", status_code=204, openapi_extra=by("project_id")
)
def remove_member(project_id: int, user_id: int, session: Session = DbSession):
    """Take a user out of the project (the last owner cannot leave)."""
    members.remove_member(session, project_id, user_id)
