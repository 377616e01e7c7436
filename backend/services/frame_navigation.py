"""Moving through a project's frames in grid order: position, next of a kind, jump to N."""

from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from backend.errors import Invalid, NotFound
from backend.models import Frame, Mask
from backend.models.frame import DRAFT_SOURCES
from backend.services.frames import get_frame
from backend.services.projects import get_project

# What "next" may look for: any frame, one not done yet, one nobody touched, a model draft.
KINDS = ("any", "open", "unlabeled", "draft")
# Statuses after which a frame needs no more labeling (a review step may add "reviewed").
FINISHED = ("done", "reviewed")


@dataclass(frozen=True)
class Place:
    """A frame's 1-based position in its project's grid order (None: no such frame)."""

    frame_id: int | None
    position: int | None
    total: int


def _rows(session: Session, project_id: int) -> list[tuple[int, str, str | None]]:
    """(id, label status, source of the current mask) of every frame, in the grid's order."""
    current = and_(Mask.frame_id == Frame.id, Mask.version == Frame.mask_version)
    query = (
        select(Frame.id, Frame.label_status, Mask.source)
        .outerjoin(Mask, current)
        .where(Frame.project_id == project_id)
        .order_by(Frame.video_id, Frame.index, Frame.id)  # as services.frames.list_frames
    )
    return [tuple(row) for row in session.execute(query)]


def _matches(kind: str, status: str, source: str | None) -> bool:
    if kind == "any":
        return True
    if kind == "unlabeled":
        return status == "unlabeled"
    if kind == "draft":
        return source in DRAFT_SOURCES and status not in FINISHED
    return status not in FINISHED


def position(session: Session, frame: Frame) -> Place:
    """Where a frame stands in its project's grid order."""
    ids = [row[0] for row in _rows(session, frame.project_id)]
    return Place(frame.id, ids.index(frame.id) + 1, len(ids))


def next_frame(session: Session, frame_id: int, kind: str = "any") -> Place:
    """The next frame of a kind after this one in grid order, wrapping around to the start."""
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}, not {kind!r}.")
    frame = get_frame(session, frame_id)
    rows = _rows(session, frame.project_id)
    here = [row[0] for row in rows].index(frame.id)
    for step in range(1, len(rows)):
        pos = (here + step) % len(rows)
        found, status, source = rows[pos]
        if _matches(kind, status, source):
            return Place(found, pos + 1, len(rows))
    return Place(None, None, len(rows))


def frame_at(session: Session, project_id: int, at: int) -> Place:
    """The frame at a 1-based position of the project's grid order."""
    get_project(session, project_id)
    rows = _rows(session, project_id)
    if not 1 <= at <= len(rows):
        if not rows:
            raise NotFound(f"Project {project_id} has no frames.")
        raise NotFound(f"There is no frame {at}: the project has frames 1 to {len(rows)}.")
    return Place(rows[at - 1][0], at, len(rows))
