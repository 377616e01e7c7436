"""Frames: listing, images uploaded as frames, per-frame edits."""

from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import files_owned_by_rows
from backend.errors import Invalid, NotFound
from backend.models import Frame, User
from backend.models.frame import DRAFT_SOURCES, SPLITS
from backend.services import duplicates as dupes
from backend.services.naming import display_filename
from backend.services.projects import get_project
from backend.services.review import change_status
from backend.storage import LocalStorage, new_key

IMAGE_FORMATS = {"JPEG", "PNG"}


def list_frames(
    session: Session,
    project_id: int,
    split: str | None = None,
    label_status: str | None = None,
    video_id: int | None = None,
    assignee: int | str | None = None,
    draft: bool | None = None,
) -> list[Frame]:
    """A project's frames ordered by video and time, optionally filtered.

    assignee: a user id, or "none" for unassigned frames; draft: whether the current mask is
    a draft (a model's pre-label or a propagated mask).
    """
    get_project(session, project_id)
    query = select(Frame).where(Frame.project_id == project_id)
    if split is not None:
        query = query.where(Frame.split == (None if split == "none" else split))
    if label_status is not None:
        query = query.where(Frame.label_status == label_status)
    if video_id is not None:
        query = query.where(Frame.video_id == video_id)
    if assignee is not None:
        query = query.where(Frame.assignee_id == (None if assignee == "none" else assignee))
    if draft is not None:
        is_draft = Frame.mask_source.in_(DRAFT_SOURCES)
        query = query.where(is_draft if draft else ~is_draft | Frame.mask_source.is_(None))
    return list(session.scalars(query.order_by(Frame.video_id, Frame.index, Frame.id)))


def get_frame(session: Session, frame_id: int) -> Frame:
    """A frame by id, or NotFound."""
    frame = session.get(Frame, frame_id)
    if frame is None:
        raise NotFound(f"Frame {frame_id} does not exist.")
    return frame


def update_frame(
    session: Session,
    frame_id: int,
    split: str | None = None,
    label_status: str | None = None,
    *,
    user: User | None = None,
    role: str = "owner",
    review_comment: str | None = None,
) -> Frame:
    """Override a frame's split (kept by later automatic splits) or change its label status.

    Status changes follow the review rules (backend/services/review.py) for the user's role.
    """
    frame = get_frame(session, frame_id)
    if split is not None:
        if split not in SPLITS and split != "none":
            raise Invalid(f"split must be one of {', '.join(SPLITS)} or none.")
        frame.split = None if split == "none" else split
        frame.split_locked = split != "none"
    if label_status is not None:
        change_status(frame, label_status, user, role, review_comment)
    elif review_comment is not None:
        raise Invalid("review_comment goes with label_status reviewed or changes_requested.")
    session.flush()
    return frame


def _decode_image(path: Path, name: str, settings: Settings) -> Image.Image:
    try:
        with Image.open(path) as probe:
            if probe.format not in IMAGE_FORMATS:
                raise Invalid(f"{name}: only JPEG and PNG images are accepted ({probe.format}).")
            if probe.width * probe.height > settings.max_frame_pixels:
                limit = settings.max_frame_pixels / 1e6
                raise Invalid(
                    f"{name}: {probe.width}x{probe.height} is over the frame size limit "
                    f"of {limit:.1f} megapixels."
                )
            probe.load()
            return ImageOps.exif_transpose(probe).convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise Invalid(f"{name}: not a readable JPEG or PNG image.") from exc


def add_images(
    session: Session,
    storage: LocalStorage,
    settings: Settings,
    project_id: int,
    uploads: list[tuple[Path, str | None, str | None]],
    duplicates: str = "refuse",
) -> list[Frame]:
    """Store uploaded images (path, name, sha256) as frames; if any one is bad, none is kept.

    Images identical to a stored frame of the project are refused with the frames' ids, left
    out (`duplicates` "skip") or stored again ("keep").
    """
    written: list[str] = []
    try:
        with files_owned_by_rows(session, storage, written):
            get_project(session, project_id)
            if not uploads:
                raise Invalid("No image files were sent (multipart field 'files').")
            names = [display_filename(raw_name, "image") for _, raw_name, _ in uploads]
            hashes = [(name, sha) for name, (_, _, sha) in zip(names, uploads, strict=True)]
            skipped = dupes.screen(session, Frame, project_id, hashes, duplicates)
            frames = []
            for i, (path, _, sha) in enumerate(uploads):
                if i in skipped:
                    continue
                name = names[i]
                image = _decode_image(path, name, settings)
                key = new_key(f"projects/{project_id}/frames", ".png")
                with storage.open_write(key) as fh:
                    image.save(fh, format="PNG", compress_level=1)
                written.append(key)
                frames.append(
                    Frame(
                        project_id=project_id,
                        source_name=name,
                        storage_key=key,
                        width=image.width,
                        height=image.height,
                        content_sha256=sha or None,
                    )
                )
            session.add_all(frames)
            session.commit()  # here: the files must not outlive a failed commit
            return frames
    finally:
        for path, _, _ in uploads:
            path.unlink(missing_ok=True)


THUMB_SIZE = (320, 320)


def thumbnail(session: Session, storage: LocalStorage, frame_id: int) -> bytes:
    """A cached JPEG preview of a frame."""
    frame = get_frame(session, frame_id)
    key = f"thumbs/{frame.storage_key.removesuffix('.png')}.jpg"
    if not storage.exists(key):
        with Image.open(storage.path(frame.storage_key)) as image:
            image.thumbnail(THUMB_SIZE)
            with storage.open_write(key) as fh:
                image.convert("RGB").save(fh, format="JPEG", quality=85)
    with storage.open_read(key) as fh:
        return fh.read()


def neighbours(session: Session, frame: Frame) -> dict[str, int | None]:
    """Ids of the previous and next frame in the project's grid order."""
    ids = [f.id for f in list_frames(session, frame.project_id)]
    pos = ids.index(frame.id)
    return {
        "previous": ids[pos - 1] if pos > 0 else None,
        "next": ids[pos + 1] if pos + 1 < len(ids) else None,
    }
