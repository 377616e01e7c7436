"""Request-scoped dependencies taken from the application's state."""

from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.config import Settings
from backend.storage import LocalStorage

T = TypeVar("T")

# Threads per web process for the access check (every request) and mask saves. Few: a
# process runs Python on one core at a time, and with many threads a thread holding SQLite's
# write lock was preempted by the others while every writer of every process waited for it
# (2-core VM, 16 clients saving masks: lock hold p99 13-17 ms with 40 threads, 4 ms with 2;
# mask PUT p99 105-115 ms -> 89-92 ms). Other blocking routes keep Starlette's larger pool.
REQUEST_THREADS = 2


def request_threads() -> anyio.CapacityLimiter:
    """A fresh limiter for the request thread pool of one app."""
    return anyio.CapacityLimiter(REQUEST_THREADS)


async def in_request_thread(request: Request, fn: Callable[..., T], *args) -> T:
    """Run a short blocking call (database work) on the app's request threads."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=request.app.state.request_threads)


# These are coroutines although they do no I/O: FastAPI runs a plain function dependency on a
# pool thread, a hop that costs more than the dependency itself.


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


async def get_storage(request: Request) -> LocalStorage:
    """The app's media storage."""
    return request.app.state.storage


async def get_dispatcher(request: Request):
    """The object that sends jobs to workers (dispatch and revoke)."""
    return request.app.state.dispatcher


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session committed when the route returns without error.

    Opening a session does no I/O; ending one that still holds a transaction does, so only
    then does it go to a pool thread (a service that committed itself needs no second hop).
    """
    session = request.app.state.sessions()
    try:
        yield session
    except BaseException:
        await _finish(session, session.rollback)
        raise
    await _finish(session, session.commit)


async def _finish(session: Session, end) -> None:
    if session.in_transaction():
        await run_in_threadpool(_end_and_close, session, end)
    else:
        session.close()


def _end_and_close(session: Session, end) -> None:
    try:
        end()
    finally:
        session.close()


# Function scope: the commit happens before the response is sent, so a client that gets 201
# can immediately read what it created (FastAPI otherwise closes yield-dependencies later).
DbSession = Depends(get_session, scope="function")


async def get_login_limiter(request: Request):
    """The app's failed-login throttle."""
    return request.app.state.login_limiter
