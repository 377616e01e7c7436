"""Model-assisted labeling: which frames a pre-label job may write, and how drafts are saved."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Invalid
from backend.models import Frame, Job, Mask, User
from backend.services import mappings
from backend.services.jobs import create_job
from backend.services.masks import save_mask
from backend.services.projects import get_project
from backend.services.seg_models import ready_model
from backend.storage import LocalStorage

HUMAN_SOURCES = ("painter", "import", "restore")


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
    names = [c.name for c in get_project(session, project_id).classes]
    model = ready_model(session, model_id, reader)
    given = {} if class_map is None else {model.id: class_map}
    mapping = mappings.resolve(session, names, [model], given)[model.id]
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
    session: Session, storage: LocalStorage, frame: Frame, png: bytes, overwrite: bool
) -> dict[str, Any]:
    """Store a predicted mask as a new 'prelabel' version unless a person's mask would be hidden."""
    if human_edited(session, frame) and not overwrite:
        return {"frame_id": frame.id, "saved": False, "reason": "human-edited mask kept"}
    mask = save_mask(session, storage, frame.id, png, frame.mask_version, source="prelabel")
    return {"frame_id": frame.id, "saved": True, "version": mask.version}
