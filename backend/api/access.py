"""The authentication and access check every route except sign-in and health goes through.

A route's minimum project role is `viewer` for reads and `owner` for changes unless it declares
another with `openapi_extra=role(...)` (shown in the OpenAPI document as x-segtune-role).
The project comes from the path (project, video, frame, job or model id) or, for listings, from
the `project_id` query parameter; someone who cannot see that project gets a 404.
"""

import hmac

from fastapi import Depends, Request
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from backend.api.deps import DbSession, in_request_thread
from backend.errors import Forbidden
from backend.services import access
from backend.services.auth import SESSION_COOKIE, Identity, identify

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_KEY = "x-segtune-role"
_ID = TypeAdapter(int)


def role(name: str) -> dict[str, str]:
    """openapi_extra for a route whose minimum role is not the default (or 'admin')."""
    return {ROLE_KEY: name}


def _needed(request: Request) -> str:
    extra = getattr(request.scope.get("route"), "openapi_extra", None) or {}
    return extra.get(ROLE_KEY) or ("viewer" if request.method in SAFE_METHODS else "owner")


def _scope(request: Request) -> tuple[str, int] | None:
    for param in access.SCOPES:
        raw = request.path_params.get(param)
        if raw is None and param == "project_id":
            raw = request.query_params.get(param)
        if raw is None:
            continue
        try:
            return param, _ID.validate_python(raw)
        except ValidationError:
            return None  # the route's own validation answers 422
    return None


def _check_csrf(request: Request, identity: Identity) -> None:
    if identity.via != "cookie" or request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token", "").encode()
    if not hmac.compare_digest(sent, (identity.csrf_token or "").encode()):
        raise Forbidden(
            "This change came without the page's X-CSRF-Token header; reload the page and retry."
        )


async def authorize(request: Request, session: Session = DbSession) -> Identity:
    """Who is asking (session cookie or Bearer token), checked against the route's project."""
    # One pool-thread hop for all of the check's queries.
    return await in_request_thread(request, _authorize, request, session)


def _authorize(request: Request, session: Session) -> Identity:
    identity = identify(
        session, request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE)
    )
    _check_csrf(request, identity)
    need = _needed(request)
    role = None
    if need == "admin":
        access.require_admin(identity.user)
    else:
        scope = _scope(request)
        if scope is not None:
            role = access.authorize(session, identity.user, *scope, need)
    # Pages show controls by the role in the project they are about (checked here once).
    request.state.identity, request.state.role = identity, role
    # End the check's transaction: a request waiting for a pool thread must not hold a
    # database connection (or, on SQLite, pin a WAL snapshot) meanwhile.
    session.commit()
    return identity


CurrentUser = Depends(authorize)
