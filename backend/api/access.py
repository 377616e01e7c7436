"""The authentication and access check every route goes through, and how routes declare scope.

Every route states how its project is found, with `openapi_extra=` one of:
`by("video_id")` (the object named by that path parameter decides the project), `listing()`
(results filtered to the caller; an optional `project_id` query is checked), `account()` (the
caller's own account, or something new; no existing project), `upload_target()` (the project
named in the multipart body, checked by the route before anything is stored), `admin()` or
`anyone()`. `check_routes` refuses to build an app with a route that declares none of these.
The declaration shows in the OpenAPI document as x-segtune-scope and x-segtune-role.
"""

import hmac

from fastapi import Depends, FastAPI, Request
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from backend.api.deps import DbSession, in_request_thread
from backend.errors import Forbidden, Invalid
from backend.services import access
from backend.services.auth import SESSION_COOKIE, Identity, identify

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_KEY = "x-segtune-role"
SCOPE_KEY = "x-segtune-scope"
# Scopes that name no path parameter.
PUBLIC, ACCOUNT, LISTING, ADMIN, UPLOAD_TARGET = (
    "public",
    "account",
    "listing",
    "admin",
    "upload-target",
)
KINDS = frozenset({PUBLIC, ACCOUNT, LISTING, ADMIN, UPLOAD_TARGET, *access.SCOPES})
_ID = TypeAdapter(int)


def by(param: str, role: str | None = None) -> dict[str, str]:
    """openapi_extra: the object a path parameter names decides the project (minimum role)."""
    if param not in access.SCOPES:
        raise ValueError(f"{param} names no kind of object with a project")
    return {SCOPE_KEY: param, **({ROLE_KEY: role} if role else {})}


def listing() -> dict[str, str]:
    """openapi_extra: a listing filtered to the caller (an optional ?project_id= is checked)."""
    return {SCOPE_KEY: LISTING}


def account() -> dict[str, str]:
    """openapi_extra: the caller's own account, or a new thing; no existing project is read."""
    return {SCOPE_KEY: ACCOUNT}


def upload_target() -> dict[str, str]:
    """openapi_extra: the project named in the multipart body, checked by the route itself."""
    return {SCOPE_KEY: UPLOAD_TARGET}


def admin() -> dict[str, str]:
    """openapi_extra: site administrators only."""
    return {SCOPE_KEY: ADMIN, ROLE_KEY: "admin"}


def anyone() -> dict[str, str]:
    """openapi_extra: no sign-in (health, the sign-in form and call)."""
    return {SCOPE_KEY: PUBLIC}


def _declared(route) -> dict:
    return getattr(route, "openapi_extra", None) or {}


def check_routes(app: FastAPI) -> None:
    """Refuse an app with a route that does not declare how its project is found."""
    for route in iter_route_contexts(app.routes):
        if isinstance(getattr(route, "app", None), StaticFiles) and route.methods is None:
            continue  # the static JS/CSS mount: no data behind it
        where = f"{','.join(sorted(route.methods or ()))} {route.path}"
        if not hasattr(route, "dependant"):
            raise RuntimeError(f"{where} is not a FastAPI route; it cannot declare its scope")
        kind = _declared(route).get(SCOPE_KEY)
        if kind not in KINDS:
            raise RuntimeError(f"{where} declares no access scope (x-segtune-scope: {kind!r})")
        if kind in access.SCOPES and kind not in route.param_convertors:
            raise RuntimeError(f"{where} is scoped by {kind}, which is not in its path")
        guarded = any(dep.call is authorize for dep in route.dependant.dependencies)
        if guarded == (kind == PUBLIC):
            raise RuntimeError(f"{where}: public routes skip the access check, all others run it")


def _needed(request: Request) -> str:
    extra = _declared(request.scope.get("route"))
    return extra.get(ROLE_KEY) or ("viewer" if request.method in SAFE_METHODS else "owner")


def _parse_id(name: str, raw: str) -> int:
    try:
        return _ID.validate_python(raw)
    except ValidationError:
        raise Invalid(f"{name} must be an integer.") from None


def _listing_project(request: Request) -> int | None:
    values = request.query_params.getlist("project_id")
    if len(values) > 1:
        raise Invalid("Give project_id at most once.")
    return _parse_id("project_id", values[0]) if values else None


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
    kind, need, role = _declared(request.scope.get("route")).get(SCOPE_KEY), _needed(request), None
    if kind in access.SCOPES:
        # Only the path decides: a query, form field or JSON key of the same name is never read.
        value = _parse_id(kind, request.path_params[kind])
        role = access.authorize(session, identity.user, kind, value, need)
    elif kind == LISTING:
        project_id = _listing_project(request)
        if project_id is not None:
            role = access.authorize(session, identity.user, "project_id", project_id, "viewer")
    elif kind == ADMIN:
        access.require_admin(identity.user)
    elif kind not in (ACCOUNT, UPLOAD_TARGET):
        raise Forbidden("This route declares no access scope.")  # fail closed
    # Pages show controls by the role in the project they are about (checked here once).
    request.state.identity, request.state.role = identity, role
    # End the check's transaction: a request waiting for a pool thread must not hold a
    # database connection (or, on SQLite, pin a WAL snapshot) meanwhile.
    session.commit()
    return identity


CurrentUser = Depends(authorize)
