"""Domain errors raised by services; routes map them to HTTP status codes."""


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


class PreconditionRequired(DomainError):
    """A conditional request was sent without its precondition (If-Match)."""

    status_code = 428
