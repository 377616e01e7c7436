"""Request-scoped dependencies taken from the application's state."""

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import session_scope
from backend.storage import LocalStorage


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def get_storage(request: Request) -> LocalStorage:
    """The app's media storage."""
    return request.app.state.storage


def get_dispatcher(request: Request):
    """The object that sends jobs to workers (dispatch and revoke)."""
    return request.app.state.dispatcher


def get_session(request: Request) -> Iterator[Session]:
    """A session committed when the route returns without error."""
    with session_scope(request.app.state.sessions) as session:
        yield session


# Function scope: the commit happens before the response is sent, so a client that gets 201
# can immediately read what it created (FastAPI otherwise closes yield-dependencies later).
DbSession = Depends(get_session, scope="function")


def get_login_limiter(request: Request):
    """The app's failed-login throttle."""
    return request.app.state.login_limiter
