"""Labeling progress per project for the project cards: frames, labeled and done per split."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.models import Frame, Mask, Project

SPLIT_KEYS = ("train", "val", "test", "none")
# Statuses counted as done ("reviewed" comes with a review step).
DONE = ("done", "reviewed")


def _empty() -> dict[str, int]:
    return {"frames": 0, "labeled": 0, "done": 0}


def progress(session: Session, visible: set[int] | None = None) -> list[dict[str, Any]]:
    """Per project (those in `visible`, or all when None), newest first: frames in all and per
    split, how many are labeled (anything but 'unlabeled') and done, and when a frame was last
    added or a mask last saved."""
    query = select(Project.id).order_by(Project.id.desc())
    if visible is not None:
        query = query.where(Project.id.in_(visible))
    project_ids = list(session.scalars(query))
    stats: dict[int, dict[str, Any]] = {
        pid: {
            "project_id": pid,
            **_empty(),
            "splits": {key: _empty() for key in SPLIT_KEYS},
            "last_activity": None,
        }
        for pid in project_ids
    }
    if not stats:
        return []
    ids = list(stats)
    counts = (
        select(Frame.project_id, Frame.split, Frame.label_status, func.count())
        .where(Frame.project_id.in_(ids))
        .group_by(Frame.project_id, Frame.split, Frame.label_status)
    )
    for pid, split, status, n in session.execute(counts):
        for bucket in (stats[pid], stats[pid]["splits"][split or "none"]):
            bucket["frames"] += n
            bucket["labeled"] += n if status != "unlabeled" else 0
            bucket["done"] += n if status in DONE else 0
    added = select(Frame.project_id, func.max(Frame.created_at)).group_by(Frame.project_id)
    saved = (
        select(Frame.project_id, func.max(Mask.created_at))
        .join(Mask, Mask.frame_id == Frame.id)
        .group_by(Frame.project_id)
    )
    for query in (added, saved):
        for pid, at in session.execute(query.where(Frame.project_id.in_(ids))):
            last: datetime | None = stats[pid]["last_activity"]
            if at is not None and (last is None or _aware(at) > last):
                stats[pid]["last_activity"] = _aware(at)
    return [stats[pid] for pid in project_ids]


def _aware(at: datetime) -> datetime:
    """Timestamps are stored in UTC; a backend may hand an aggregate back without its zone."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)
