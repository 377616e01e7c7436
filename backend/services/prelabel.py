"""Model-assisted labeling: which frames a pre-label job may write, and how drafts are saved."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Conflict, Invalid
from backend.models import Frame, Job, Mask, User
from backend.models.frame import DRAFT_SOURCE, DRAFT_SOURCES
from backend.services import mappings
from backend.services.frames import get_frame
from backend.services.jobs import create_job
from backend.services.masks import StaleVersion, read_version, save_mask
from backend.services.projects import get_project
from backend.services.seg_models import ready_model
from backend.storage import LocalStorage

HUMAN_SOURCES = ("painter", "import", "restore", "accepted")


def request_prelabel(
    session: Session,
    project_id: int,
    model_id: int,
    frame_ids: list[int] | None,
    overwrite: bool,
    *,
    reader: User | None,
    class_map: list[int] | None = None,
) -> Job:
    """Queue a pre-label job over chosen frames (default: every frame without a mask).

    The model may be any the reader can read; one whose classes are not the project's is read
    through class_map (default: matched by class name).
    """
    mapping = model_mapping(session, project_id, model_id, reader, class_map)
    query = select(Frame.id).where(Frame.project_id == project_id)
    if frame_ids:
        found = set(session.scalars(query.where(Frame.id.in_(frame_ids))))
        missing = sorted(set(frame_ids) - found)
        if missing:
            raise Invalid(f"Frames {missing} are not in project {project_id}.")
        chosen = [i for i in frame_ids if i in found]
    else:
        chosen = list(session.scalars(query.where(Frame.mask_version == 0).order_by(Frame.id)))
    if not chosen:
        raise Invalid("No frames to pre-label (every frame already has a mask).")
    params = {
        "model_id": model_id,
        "frame_ids": chosen,
        "overwrite": overwrite,
        "class_map": mapping["table"],
        "mapping": mapping,
    }
    return create_job(session, "prelabel", params, project_id, queue="gpu")


def model_mapping(
    session: Session,
    project_id: int,
    model_id: int,
    reader: User | None,
    class_map: list[int] | None = None,
) -> dict[str, Any]:
    """How a ready model's classes read in the project (given class_map, lineage or by name)."""
    names = [c.name for c in get_project(session, project_id).classes]
    model = ready_model(session, model_id, reader)
    given = {} if class_map is None else {model.id: class_map}
    return mappings.resolve(session, names, [model], given)[model.id]


def human_edited(session: Session, frame: Frame) -> bool:
    """Whether the frame's current mask came from a person (painted, imported or restored)."""
    if frame.mask_version == 0:
        return False
    # A class remap rewrites ids, not authorship: the version it was made from decides.
    source = session.scalar(
        select(Mask.source)
        .where(Mask.frame_id == frame.id, Mask.version <= frame.mask_version)
        .where(Mask.source != "remap")
        .order_by(Mask.version.desc())
        .limit(1)
    )
    return source in HUMAN_SOURCES


def save_draft(
    session: Session,
    storage: LocalStorage,
    frame: Frame,
    png: bytes,
    overwrite: bool,
    source: str = DRAFT_SOURCE,
) -> dict[str, Any]:
    """Store a draft (a model's or a propagated mask) unless a person's mask would be hidden."""
    if human_edited(session, frame) and not overwrite:
        return {"frame_id": frame.id, "saved": False, "reason": "human-edited mask kept"}
    mask = save_mask(session, storage, frame.id, png, frame.mask_version, source=source)
    return {"frame_id": frame.id, "saved": True, "version": mask.version}


def accept_draft(
    session: Session,
    storage: LocalStorage,
    frame_id: int,
    expected_version: int,
    author_id: int | None = None,
) -> Frame:
    """A person takes the model's draft as is: the same pixels as a new 'accepted' version, done.

    The new version makes the mask a person's (a later pre-label keeps it), and the frame is
    marked done in the same commit.
    """
    frame = get_frame(session, frame_id)
    if frame.mask_version != expected_version:
        raise StaleVersion(frame_id, frame.mask_version)
    if frame.mask_source not in DRAFT_SOURCES:
        raise Conflict(f"Frame {frame_id}'s current mask is not a model draft; nothing to accept.")
    data = read_version(session, storage, frame_id, expected_version)
    frame.label_status = "done"
    session.flush()  # committed by save_mask together with the new version, or rolled back
    save_mask(
        session, storage, frame_id, data, expected_version, source="accepted", author_id=author_id
    )
    session.refresh(frame)
    return frame
