"""Generalisation checks of a fine-tune: a held-out set and a source-domain reference set.

A held-out set is another project's labeled frames, or the test frames of the training project
that lie at least a gap of G seconds from every labeled train/val frame of the same video or
file-name sequence. A reference set is another project's labeled frames from the base model's
domain: a decline there is forgetting. Both are checked here before a job is queued, and chosen
again by the worker from the frames as they are when it runs.
"""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Invalid, NotFound
from backend.models import Frame, Project, User
from backend.services.access import role_in
from backend.services.reports.blocks import FRAME_RATE, FrameFacts, place

MAX_GAP_S = 3600.0


def readable_project(session: Session, project_id: int, reader: User | None) -> Project:
    """A project the reader may read (None: a local operator, who reads all), else NotFound."""
    project = session.get(Project, project_id)
    if project is None or (reader is not None and role_in(session, reader, project_id) is None):
        raise NotFound(f"Project {project_id} does not exist.")
    return project


def class_names(project: Project) -> list[str]:
    """The project's class names in index order."""
    return [c.name for c in project.classes]


def class_mismatch(names: list[str], other: list[str]) -> str | None:
    """Why two class lists cannot be scored alike (the differing names), or None when equal."""
    if names == other:
        return None
    only = [n for n in other if n not in names]
    missing = [n for n in names if n not in other]
    parts = []
    if only:
        parts.append(f"it has {', '.join(only)}, which the training project has not")
    if missing:
        parts.append(f"it lacks {', '.join(missing)}")
    if not parts:
        parts.append(f"its classes are in another order ({', '.join(other)})")
    return "; ".join(parts)


def _labeled_count(session: Session, project_id: int) -> int:
    query = select(Frame.id).where(Frame.project_id == project_id, Frame.mask_version > 0)
    return len(list(session.scalars(query)))


def _facts(frame: Frame) -> FrameFacts:
    return FrameFacts(frame.video_id, frame.timestamp_s, frame.index, frame.source_name)


def gap_frame_ids(
    session: Session, project_id: int, gap_s: float, frame_rate: float = FRAME_RATE
) -> list[int]:
    """Labeled test frames at least gap_s from every labeled train/val frame of their sequence.

    A frame whose time nothing gives (no video, no number in its name) cannot be shown to be
    far from training frames, so it is left out.
    """
    query = (
        select(Frame)
        .where(Frame.project_id == project_id, Frame.mask_version > 0)
        .order_by(Frame.video_id, Frame.index, Frame.id)
    )
    frames = list(session.scalars(query))
    seen: dict[tuple, list[float]] = {}
    for frame in frames:
        found = place(_facts(frame), frame_rate)
        if frame.split in ("train", "val") and found is not None:
            seen.setdefault(found[0], []).append(found[1])
    chosen = []
    for frame in frames:
        found = place(_facts(frame), frame_rate)
        if frame.split != "test" or found is None:
            continue
        sequence, seconds = found
        if all(abs(seconds - t) >= gap_s for t in seen.get(sequence, [])):
            chosen.append(frame.id)
    return chosen


def _other_project(
    session: Session, project_id: int, other_id: int, reader: User | None, role: str
) -> dict[str, Any]:
    other = readable_project(session, other_id, reader)
    if other_id == project_id:
        raise Invalid(
            f"The {role} project must be another project than the one being fine-tuned "
            f"(project {project_id}); for frames of this project use a time gap instead."
        )
    mine = class_names(session.get(Project, project_id))
    why = class_mismatch(mine, class_names(other))
    if why:
        raise Invalid(
            f"The {role} project {other_id} ({other.name}) cannot be scored like the training "
            f"project: {why}. Its classes must be {', '.join(mine)}, in this order."
        )
    if not _labeled_count(session, other_id):
        raise Invalid(f"The {role} project {other_id} ({other.name}) has no labeled frames.")
    return {"kind": "project", "project_id": other.id, "name": other.name}


def request_sets(
    session: Session,
    project_id: int,
    options: dict[str, Any],
    reader: User | None,
    frame_rate: float = FRAME_RATE,
) -> dict[str, Any]:
    """The checked sets of a fine-tune request ({} when none), for its job's params."""
    heldout_id = options.get("heldout_project_id")
    gap = options.get("heldout_gap_s")
    reference_id = options.get("reference_project_id")
    sets: dict[str, Any] = {}
    if heldout_id is not None and gap is not None:
        raise Invalid("Choose one held-out set: another project or a time gap, not both.")
    if heldout_id is not None:
        sets["heldout"] = _other_project(session, project_id, heldout_id, reader, "held-out")
    if gap is not None:
        gap = float(gap)
        if not 0 < gap <= MAX_GAP_S:
            raise Invalid(f"heldout_gap_s must be above 0 and at most {MAX_GAP_S:g} seconds.")
        if not gap_frame_ids(session, project_id, gap, frame_rate):
            raise Invalid(
                f"No labeled test frame is at least {gap:g} s away from every labeled train/val "
                "frame of the same video or file-name sequence; choose a smaller gap or move "
                "whole stretches of video to the test split."
            )
        sets["heldout"] = {"kind": "gap", "gap_s": gap, "frame_rate": frame_rate}
    if reference_id is not None:
        if options.get("base_model_id") is None:
            raise Invalid(
                "A reference set measures what the base model forgets; choose a base model "
                "to fine-tune, or leave the reference set out."
            )
        sets["reference"] = _other_project(session, project_id, reference_id, reader, "reference")
    return sets
