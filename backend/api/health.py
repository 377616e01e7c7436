"""Liveness and readiness."""

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.api.access import anyone
from backend.api.deps import DbSession

router = APIRouter(tags=["health"])


@router.get("/api/health", openapi_extra=anyone())
def health(session: Session = DbSession) -> dict:
    """Report that the web process and its database answer."""
    session.execute(text("SELECT 1"))
    return {"status": "ok"}
