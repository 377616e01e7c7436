"""Account, sign-in and token bodies."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class LoginIn(BaseModel):
    """POST /api/auth/login."""

    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    """An account as shown to people (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    name: str
    is_admin: bool
    is_active: bool
    created_at: datetime


class SignedIn(BaseModel):
    """Who is signed in, with the token to send as X-CSRF-Token when changing data."""

    user: UserOut
    csrf_token: str | None = None


class UserCreate(BaseModel):
    """POST /api/users (administrators)."""

    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=8, max_length=1024)
    name: str = Field("", max_length=200)
    is_admin: bool = False


class UserUpdate(BaseModel):
    """PATCH /api/users/{id} (administrators); absent fields stay as they are."""

    name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=8, max_length=1024)
    is_admin: bool | None = None
    is_active: bool | None = None


class PasswordChange(BaseModel):
    """POST /api/auth/password: a user changes their own password."""

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class TokenCreate(BaseModel):
    """POST /api/tokens."""

    name: str = Field(min_length=1, max_length=100, examples=["nightly export script"])


class TokenOut(BaseModel):
    """A personal API token without its secret."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    """A new token: `token` is shown this once and cannot be read again."""

    token: str


class MemberIn(BaseModel):
    """PUT /api/projects/{id}/members: add a user by email or change their role."""

    email: str = Field(min_length=3, max_length=254)
    role: str = Field(pattern="^(viewer|annotator|reviewer|owner)$")


class MemberOut(BaseModel):
    """A project member."""

    user_id: int
    email: str
    name: str
    role: str
