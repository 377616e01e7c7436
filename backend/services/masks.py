"""Mask versions of frames: read, save with optimistic concurrency, list, restore."""

import re
from dataclasses import dataclass

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session

from backend.errors import Conflict, Invalid, NotFound, PreconditionFailed, PreconditionRequired
from backend.models import Frame, Job, LabelClass, Mask, Project, User
from backend.services.classes import history_lut
from backend.services.frames import get_frame
from backend.services.mask_codec import blank_mask, check_mask, encode_mask, remap_png
from backend.services.projects import REMAP_KIND, get_project
from backend.storage import LocalStorage, new_key


class StaleVersion(Conflict):
    """The client edited an older version than the one stored."""

    def __init__(self, frame_id: int, current: int):
        super().__init__(
            f"Frame {frame_id}'s mask changed since you loaded it (now version {current}); "
            "reload it or overwrite it.",
            current_version=current,
        )


def parse_if_match(header: str | None) -> int:
    """The version in an If-Match header like '"3"'."""
    if header is None:
        raise PreconditionRequired(
            'Send the version you edited in an If-Match header, e.g. If-Match: "0".'
        )
    value = header.strip().removeprefix("W/").strip('"')
    if not re.fullmatch(r"[0-9]{1,18}", value):  # not isdigit(): int() refuses '²'
        raise Invalid(f"If-Match must hold a mask version number, not {header!r}.")
    return int(value)


def read_mask(session: Session, storage: LocalStorage, frame_id: int) -> tuple[bytes, int]:
    """The current mask PNG and its version (version 0 = the project's blank start mask)."""
    frame = get_frame(session, frame_id)
    if frame.mask_version == 0:
        project = get_project(session, frame.project_id)
        return encode_mask(blank_mask(frame.width, frame.height, project.initial_mask)), 0
    return _version_bytes(session, storage, frame, frame.mask_version), frame.mask_version


def _version_bytes(session: Session, storage: LocalStorage, frame: Frame, version: int) -> bytes:
    mask = session.scalar(select(Mask).where(Mask.frame_id == frame.id, Mask.version == version))
    if mask is None:
        raise NotFound(f"Frame {frame.id} has no mask version {version}.")
    with storage.open_read(mask.storage_key) as fh:
        data = fh.read()
    # A version saved before a class remap is read in today's class ids.
    project = get_project(session, frame.project_id)
    table = history_lut(project, mask.id, mask.class_pixel_counts)
    return data if table is None else remap_png(data, table)[0]


@dataclass(frozen=True)
class SavedVersion:
    """What a save acknowledges: the new version and its pixels per class id."""

    version: int
    class_pixel_counts: dict[str, int]


# The save is the painter's hot path (an autosave every few seconds per annotator), so its
# statements are built once and run as Core SQL: no ORM objects, one row read, one update,
# one insert.
_FRAMES, _CLASSES, _MASKS, _JOBS, _PROJECTS = (
    Frame.__table__,
    LabelClass.__table__,
    Mask.__table__,
    Job.__table__,
    Project.__table__,
)
_FRAME = select(
    _FRAMES.c.project_id,
    _FRAMES.c.width,
    _FRAMES.c.height,
    _FRAMES.c.mask_version,
    select(func.count(_CLASSES.c.id))
    .where(_CLASSES.c.project_id == _FRAMES.c.project_id)
    .scalar_subquery(),
    # A class remap job rewrites the masks in the old ids: saves wait until it has ended.
    select(func.count(_JOBS.c.id))
    .where(
        _JOBS.c.project_id == _FRAMES.c.project_id,
        _JOBS.c.kind == REMAP_KIND,
        _JOBS.c.status.in_(("queued", "running")),
    )
    .scalar_subquery(),
    select(_PROJECTS.c.class_ids_version)
    .where(_PROJECTS.c.id == _FRAMES.c.project_id)
    .scalar_subquery(),
).where(_FRAMES.c.id == bindparam("frame_id"))
# The conditional update is the lock: of two concurrent saves of one version, one wins.
_ADVANCE = (
    update(_FRAMES)
    .where(_FRAMES.c.id == bindparam("frame_id"), _FRAMES.c.mask_version == bindparam("expected"))
    .values(
        mask_version=bindparam("expected") + 1,
        # A review covers the mask it saw: a new version on a reviewed frame reopens it.
        label_status=case(
            (_FRAMES.c.label_status.in_(("unlabeled", "reviewed")), "in_progress"),
            else_=_FRAMES.c.label_status,
        ),
    )
)
_CURRENT = select(_FRAMES.c.mask_version).where(_FRAMES.c.id == bindparam("frame_id"))
_ADD_VERSION = insert(_MASKS)


def save_mask(
    session: Session,
    storage: LocalStorage,
    frame_id: int,
    data: bytes,
    expected_version: int,
    source: str = "painter",
    author_id: int | None = None,
    class_ids_version: int | None = None,
) -> SavedVersion:
    """Store a new version if the client edited the current one; file first, then the row.

    A client that says which class_ids_version it painted in is refused (412) after a remap.
    """
    row = session.execute(_FRAME, {"frame_id": frame_id}).one_or_none()
    if row is None:
        raise NotFound(f"Frame {frame_id} does not exist.")
    project_id, width, height, current, n_classes, remapping, ids_version = row
    if remapping:
        raise Conflict(
            "The project's classes are being changed (a remap job runs); save again once it "
            "has ended, after reloading the page."
        )
    if class_ids_version is not None and class_ids_version != ids_version:
        raise PreconditionFailed(
            "The project's classes were reordered, removed or merged since this page was "
            "loaded; reload it (unsaved strokes would be stored under the old class ids)."
        )
    counts = check_mask(data, width, height, n_classes)
    if current != expected_version:
        raise StaleVersion(frame_id, current)
    key = new_key(f"projects/{project_id}/masks", ".png")
    storage.put_bytes(key, data)
    try:
        won = session.execute(_ADVANCE, {"frame_id": frame_id, "expected": expected_version})
        if won.rowcount != 1:
            raise StaleVersion(frame_id, session.scalar(_CURRENT, {"frame_id": frame_id}))
        session.execute(
            _ADD_VERSION,
            {
                "frame_id": frame_id,
                "version": expected_version + 1,
                "storage_key": key,
                "class_pixel_counts": counts,
                "source": source,
                "author_id": author_id,
            },
        )
        # Commit here, not when the request ends: the version is acknowledged only once it
        # is durable, and the database's single write lock is held as briefly as possible.
        session.commit()
    except BaseException:
        session.rollback()
        storage.delete(key)
        raise
    return SavedVersion(expected_version + 1, counts)


def list_versions(session: Session, frame_id: int) -> list[dict]:
    """Every saved version of a frame's mask, newest first, with who saved it."""
    get_frame(session, frame_id)
    query = (
        select(Mask, User.name, User.email)
        .outerjoin(User, User.id == Mask.author_id)
        .where(Mask.frame_id == frame_id)
        .order_by(Mask.version.desc())
    )
    return [
        {
            "version": mask.version,
            "class_pixel_counts": mask.class_pixel_counts,
            "source": mask.source,
            "created_at": mask.created_at,
            "author_id": mask.author_id,
            "author_name": name,
            "author_email": email,
        }
        for mask, name, email in session.execute(query)
    ]


def read_version(session: Session, storage: LocalStorage, frame_id: int, version: int) -> bytes:
    """The PNG of one saved version."""
    return _version_bytes(session, storage, get_frame(session, frame_id), version)


def restore_version(
    session: Session,
    storage: LocalStorage,
    frame_id: int,
    version: int,
    expected_version: int,
    author_id: int | None = None,
) -> SavedVersion:
    """Make an earlier version current again, as a new version (history is never rewritten)."""
    data = read_version(session, storage, frame_id, version)
    return save_mask(
        session, storage, frame_id, data, expected_version, source="restore", author_id=author_id
    )
