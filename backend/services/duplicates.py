"""Identical uploads: files whose SHA-256 a project already holds are refused, skipped or kept."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Conflict, Invalid
from backend.models import Frame, Video

MODES = ("refuse", "skip", "keep")
_KINDS = {Video: ("video", Video.filename), Frame: ("frame", Frame.source_name)}


def find_duplicates(
    session: Session, model: type[Video] | type[Frame], project_id: int, uploads: list[tuple]
) -> list[dict[str, Any]]:
    """Uploads (name, sha256) identical to a stored video or frame of the project."""
    kind, label = _KINDS[model]
    hashes = {sha for _, sha in uploads if sha}
    stored: dict[str, tuple[int, str | None]] = {}
    if hashes:
        rows = session.execute(
            select(model.content_sha256, model.id, label)
            .where(model.project_id == project_id, model.content_sha256.in_(hashes))
            .order_by(model.id)
        )
        for sha, row_id, name in rows:
            stored.setdefault(sha, (row_id, name))
    # Copies within one upload are not reported: nothing of theirs is stored yet.
    return [
        {
            "index": index,
            "filename": name,
            "kind": kind,
            "existing_id": stored[sha][0],
            "existing_name": stored[sha][1],
        }
        for index, (name, sha) in enumerate(uploads)
        if sha in stored
    ]


def _describe(found: dict[str, Any]) -> str:
    what = f"{found['kind']} {found['existing_id']}"
    return f"{found['filename']} is identical to {found['existing_name']} ({what})"


def screen(
    session: Session,
    model: type[Video] | type[Frame],
    project_id: int,
    uploads: list[tuple],
    mode: str,
) -> set[int]:
    """Indices of uploads to leave out (mode skip); raises Conflict for duplicates (refuse)."""
    if mode not in MODES:
        raise Invalid(f"duplicates must be one of {', '.join(MODES)}.")
    if mode == "keep":
        return set()
    found = find_duplicates(session, model, project_id, uploads)
    if found and mode == "refuse":
        shown = "; ".join(_describe(f) for f in found[:5])
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        raise Conflict(
            f"Duplicate upload: {shown}{more}. Skip it or upload anyway.",
            duplicates=found,
        )
    return {f["index"] for f in found}
