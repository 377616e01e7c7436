"""Sign-in, sign-out, the signed-in user, password change and personal API tokens."""

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, account, anyone
from backend.api.deps import DbSession, get_login_limiter, get_settings
from backend.schemas.users import (
    LoginIn,
    PasswordChange,
    SignedIn,
    TokenCreate,
    TokenCreated,
    TokenOut,
)
from backend.services import auth
from backend.services.auth import SESSION_COOKIE, Identity

public = APIRouter(tags=["auth"])
router = APIRouter(tags=["auth"])


def _set_cookie(request: Request, response: Response, secret: str, settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure or request.url.scheme == "https",
        path="/",
    )


@public.post("/api/auth/login", response_model=SignedIn, openapi_extra=anyone())
def login(
    body: LoginIn,
    request: Request,
    response: Response,
    session: Session = DbSession,
    settings=Depends(get_settings),
    limiter=Depends(get_login_limiter),
):
    """Sign in with email and password: sets the session cookie (429 after repeated failures)."""
    address = request.client.host if request.client else "unknown"
    secret, row, user = auth.sign_in(session, settings, limiter, body.email, body.password, address)
    _set_cookie(request, response, secret, settings)
    return SignedIn(user=user, csrf_token=row.csrf_token)


@router.post("/api/auth/logout", status_code=204, openapi_extra=account())
def logout(response: Response, identity: Identity = CurrentUser, session: Session = DbSession):
    """Sign this browser out (the cookie stops working at once)."""
    if identity.session_id is not None:
        auth.end_session(session, identity.session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/api/auth/me", response_model=SignedIn, openapi_extra=account())
def me(identity: Identity = CurrentUser):
    """The signed-in user (and the CSRF token of a browser session)."""
    return SignedIn(user=identity.user, csrf_token=identity.csrf_token)


@router.post("/api/auth/password", response_model=SignedIn, openapi_extra=account())
def change_password(
    body: PasswordChange,
    request: Request,
    response: Response,
    identity: Identity = CurrentUser,
    session: Session = DbSession,
    settings=Depends(get_settings),
):
    """Change your own password; other browsers are signed out, this one gets a new session."""
    secret, row = auth.change_password(
        session, settings, identity.user, body.current_password, body.new_password
    )
    _set_cookie(request, response, secret, settings)
    return SignedIn(user=identity.user, csrf_token=row.csrf_token)


@router.get("/api/tokens", response_model=list[TokenOut], openapi_extra=account())
def list_tokens(identity: Identity = CurrentUser, session: Session = DbSession):
    """Your personal API tokens (without their secrets)."""
    return auth.list_tokens(session, identity.user)


@router.post("/api/tokens", response_model=TokenCreated, status_code=201, openapi_extra=account())
def create_token(body: TokenCreate, identity: Identity = CurrentUser, session: Session = DbSession):
    """A new token for scripts and the CLI; its secret is in this answer only."""
    secret, row = auth.create_token(session, identity.user, body.name)
    return TokenCreated(token=secret, **TokenOut.model_validate(row).model_dump())


@router.delete("/api/tokens/{token_id}", response_model=TokenOut, openapi_extra=account())
def revoke_token(token_id: int, identity: Identity = CurrentUser, session: Session = DbSession):
    """Revoke a token: requests carrying it are refused from now on."""
    return auth.revoke_token(session, identity.user, token_id)
