"""Who is asking: browser sessions (cookie + CSRF token) and personal API tokens."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import Forbidden, Invalid, NotFound, Unauthenticated
from backend.models import ApiToken, AuthSession, User
from backend.models.base import utcnow
from backend.services.users import authenticate, set_password

SESSION_COOKIE = "segtune_session"
TOKEN_PREFIX = "stk_"
# Recording every use of a token would make each request a database write.
TOKEN_USE_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class Identity:
    """The signed-in user and how they proved it ('cookie' needs a CSRF token to change data)."""

    user: User
    via: str
    csrf_token: str | None = None
    session_id: int | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(session: Session, user: User, settings: Settings) -> tuple[str, AuthSession]:
    """A new browser session; returns the cookie value (stored only as a hash)."""
    secret = secrets.token_urlsafe(32)
    row = AuthSession(
        user_id=user.id,
        token_hash=_digest(secret),
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + timedelta(hours=settings.session_hours),
    )
    # Expired sessions are swept whenever someone signs in.
    session.execute(delete(AuthSession).where(AuthSession.expires_at < utcnow()))
    session.add(row)
    session.flush()
    return secret, row


def sign_in(
    session: Session, settings: Settings, limiter, email: str, password: str, address: str
) -> tuple[str, AuthSession, User]:
    """Check a password (throttled per account and address) and start a session.

    The attempt is counted, and committed, before the password is checked; a failure leaves it
    counted (the request itself fails), a success takes it back.
    """
    attempt = limiter.reserve(session, email, address)
    user = authenticate(session, email, password)
    if user is None:
        raise Unauthenticated("Wrong email or password.")
    limiter.succeeded(session, email, attempt)
    secret, row = start_session(session, user, settings)
    return secret, row, user


def change_password(
    session: Session, settings: Settings, user: User, current: str, new: str
) -> tuple[str, AuthSession]:
    """Change a user's own password after checking the current one; returns a fresh session."""
    if authenticate(session, user.email, current) is None:
        raise Forbidden("The current password is wrong.")
    set_password(session, user, new)
    return start_session(session, user, settings)


def end_session(session: Session, session_id: int) -> None:
    """Sign a browser out: its cookie stops working at once."""
    session.execute(delete(AuthSession).where(AuthSession.id == session_id))


def create_token(session: Session, user: User, name: str) -> tuple[str, ApiToken]:
    """A new personal API token; returns the secret, which is shown once and stored hashed."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise Invalid("Give the token a name of 1 to 100 characters (what it is for).")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, prefix=secret[:10], token_hash=_digest(secret))
    session.add(row)
    session.flush()
    return secret, row


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """A user's tokens, newest first, revoked ones included."""
    query = select(ApiToken).where(ApiToken.user_id == user.id)
    return list(session.scalars(query.order_by(ApiToken.id.desc())))


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens (an admin may revoke anyone's)."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != user.id and not user.is_admin):
        raise NotFound(f"Token {token_id} does not exist.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


# Built once: these run before every request (constructing a statement costs more than
# running it on SQLite).
_BY_TOKEN = (
    select(User, ApiToken.id, ApiToken.revoked_at, ApiToken.last_used_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("digest"))
)
_TOKEN_USED = (
    update(ApiToken.__table__)
    .where(ApiToken.__table__.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)
_BY_COOKIE = (
    select(User, AuthSession.id, AuthSession.expires_at, AuthSession.csrf_token)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(AuthSession.token_hash == bindparam("digest"))
)


def _from_token(session: Session, secret: str) -> Identity:
    found = session.execute(_BY_TOKEN, {"digest": _digest(secret)}).one_or_none()
    if found is None or found.revoked_at is not None:
        raise Unauthenticated("The API token is unknown or was revoked.")
    if not found.User.is_active:
        raise Unauthenticated("This account is disabled.")
    now = utcnow()
    if found.last_used_at is None or now - found.last_used_at > TOKEN_USE_RESOLUTION:
        session.execute(_TOKEN_USED, {"token_id": found.id, "now": now})
    return Identity(found.User, "token")


def _from_cookie(session: Session, secret: str) -> Identity:
    found = session.execute(_BY_COOKIE, {"digest": _digest(secret)}).one_or_none()
    if found is None or found.expires_at <= utcnow():
        raise Unauthenticated("Your session has expired; sign in again.")
    if not found.User.is_active:
        raise Unauthenticated("This account is disabled.")
    return Identity(found.User, "cookie", found.csrf_token, found.id)


def identify(session: Session, authorization: str | None, cookie: str | None) -> Identity:
    """The identity behind a Bearer token or a session cookie; Unauthenticated otherwise."""
    if authorization:
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("Send 'Authorization: Bearer <token>' with a personal token.")
        return _from_token(session, secret.strip())
    if cookie:
        return _from_cookie(session, cookie)
    raise Unauthenticated("Sign in, or send a personal API token (Authorization: Bearer ...).")
