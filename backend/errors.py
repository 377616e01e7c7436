"""Domain errors raised by services; routes map them to HTTP status codes."""

import errno
import sqlite3

DISK_FULL_MESSAGE = (
    "The server is out of disk space; ask an administrator to free some, then try again."
)


class DomainError(Exception):
    """Base class: a request that cannot be carried out, with a message for a person."""

    status_code = 400

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFound(DomainError):
    """The thing asked for does not exist (or is not visible)."""

    status_code = 404


class Unauthenticated(DomainError):
    """No valid session cookie or API token came with the request."""

    status_code = 401


class Forbidden(DomainError):
    """The user may see the thing but not do this to it (their role is too weak)."""

    status_code = 403


class TooManyAttempts(DomainError):
    """Too many failed logins; `retry_after` says in how many seconds to try again."""

    status_code = 429


class Invalid(DomainError):
    """The input is understood but not acceptable."""

    status_code = 422


class Conflict(DomainError):
    """The request clashes with the current state (e.g. a stale version)."""

    status_code = 409


class TooLarge(DomainError):
    """The request body or file is over a configured limit."""

    status_code = 413


class Unavailable(DomainError):
    """A service the request needs (database, broker) is not reachable."""

    status_code = 503


class PreconditionFailed(DomainError):
    """A precondition the client sent (e.g. X-Class-Ids-Version) no longer holds."""

    status_code = 412


class PreconditionRequired(DomainError):
    """A conditional request was sent without its precondition (If-Match)."""

    status_code = 428


class OutOfSpace(DomainError):
    """The server's disk (or its database's) is full: nothing was stored."""

    status_code = 507

    def __init__(self, message: str = DISK_FULL_MESSAGE, **extra):
        super().__init__(message, **extra)


# errno values of a full file system or an exhausted quota.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
SQLITE_FULL, SQLITE_FULL_TEXT = 13, "database or disk is full"  # SQLite's SQLITE_FULL
PG_DISK_FULL = "53100"  # PostgreSQL's SQLSTATE disk_full


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether an exception (or one it was raised from) says the disk or database is full.

    Covers OSError ENOSPC / EDQUOT, SQLite's SQLITE_FULL and PostgreSQL's disk_full, bare or
    wrapped by SQLAlchemy (`.orig`).
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OutOfSpace):
            return True
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, sqlite3.Error) and (
            getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL or SQLITE_FULL_TEXT in str(exc)
        ):
            return True
        if getattr(exc, "sqlstate", None) == PG_DISK_FULL:
            return True
        orig = getattr(exc, "orig", None)
        exc = orig if isinstance(orig, BaseException) else exc.__cause__ or exc.__context__
    return False
