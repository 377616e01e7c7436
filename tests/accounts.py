"""Accounts for tests: users with known passwords and personal tokens, made in the database."""

import functools

from backend.config import Settings
from backend.db import make_engine, make_sessionmaker, session_scope
from backend.services import auth, users

ADMIN_EMAIL = "admin@example.org"
PASSWORD = "correct horse battery"


@functools.cache
def _password_hash() -> str:
    # argon2 is slow on purpose: hash the shared test password once per test process.
    return users.hash_password(PASSWORD)


def add_user(settings: Settings, email: str, is_admin: bool = False) -> str:
    """Create a user whose password is PASSWORD; returns a personal API token for them."""
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            user = users.find_user(session, email) or users.create_user(
                session, email, PASSWORD, is_admin=is_admin, password_hash=_password_hash()
            )
            secret, _row = auth.create_token(session, user, "tests")
    finally:
        engine.dispose()
    return secret


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}
