"""Accounts: creation, argon2 passwords, the first administrator."""

import functools
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import begin_write
from backend.errors import Conflict, Invalid, NotFound
from backend.models import AuthSession, User

HASHER = PasswordHasher()
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,185}$")
DEFAULT_ADMIN_EMAIL = "admin@localhost"


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the email is unknown, so both failures take the same time.
    return HASHER.hash(secrets.token_hex(8))


def normalise_email(email: str) -> str:
    """The email as stored: trimmed and lower-case; Invalid when it is not an address."""
    email = email.strip().lower()
    if not EMAIL_RE.fullmatch(email):
        raise Invalid("Give an email address such as ana@example.org.")
    return email


def hash_password(password: str) -> str:
    """The argon2 hash of an acceptable password."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid(f"A password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long.")
    return HASHER.hash(password)


def find_user(session: Session, email: str) -> User | None:
    """The user with this email (any case), or None."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def get_user(session: Session, user_id: int) -> User:
    """A user by id, or NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    return user


def user_by_email(session: Session, email: str) -> User:
    """A user by email, or NotFound."""
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"No user has the email {email.strip()!r}.")
    return user


def list_users(session: Session) -> list[User]:
    """Every account, by email."""
    return list(session.scalars(select(User).order_by(User.email)))


def create_user(
    session: Session,
    email: str,
    password: str,
    name: str = "",
    is_admin: bool = False,
    password_hash: str | None = None,
) -> User:
    """A new account; Conflict when the email is taken."""
    email = normalise_email(email)
    if find_user(session, email) is not None:
        raise Conflict(f"A user with the email {email!r} already exists.")
    user = User(
        email=email,
        name=name.strip()[:200],
        password_hash=password_hash or hash_password(password),
        is_admin=is_admin,
        is_active=True,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Change a password and sign the user out everywhere (tokens stay valid)."""
    user.password_hash = hash_password(password)
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))


def update_user(
    session: Session,
    user_id: int,
    name: str | None = None,
    password: str | None = None,
    is_admin: bool | None = None,
    is_active: bool | None = None,
) -> User:
    """Change an account's name, password, admin flag or active flag."""
    demoting = is_admin is False or is_active is False
    admins = _lock_admins(session) if demoting else []
    # Read again (after the lock), even if this session loaded the account before.
    user = session.get(User, user_id, populate_existing=True)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    if user.id in admins and len(admins) <= 1:
        raise Conflict("This is the last active administrator; make another one first.")
    if name is not None:
        user.name = name.strip()[:200]
    if password is not None:
        set_password(session, user, password)
    if is_admin is not None:
        user.is_admin = is_admin
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    session.flush()
    return user


def _lock_admins(session: Session) -> list[int]:
    """The active administrators' ids, locked until commit so the count cannot change meanwhile.

    PostgreSQL: their rows, in id order (two demotions never deadlock); one that a concurrent
    demotion changed is read again and left out. SQLite: the writer lock, before the read.
    """
    begin_write(session)
    query = select(User.id).where(User.is_admin.is_(True), User.is_active.is_(True))
    return list(session.scalars(query.order_by(User.id).with_for_update(key_share=True)))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user whose password this is, or None."""
    user = find_user(session, email)
    try:
        HASHER.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    return user


def ensure_first_admin(session: Session, settings: Settings) -> tuple[User, str | None] | None:
    """Create the first administrator when there are no users yet.

    From SEGTUNE_ADMIN_EMAIL / SEGTUNE_ADMIN_PASSWORD, or admin@localhost with a random
    password, which is returned (it is shown once and stored only as a hash).
    """
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = settings.admin_password.get_secret_value()
    generated = None if password else secrets.token_urlsafe(12)
    email = settings.admin_email or DEFAULT_ADMIN_EMAIL
    user = create_user(session, email, password or generated, name="Administrator", is_admin=True)
    return user, generated
