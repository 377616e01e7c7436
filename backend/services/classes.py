"""Editing a project's classes: rename, recolour and add at once; reorder, remove, merge by a job.

A class's index is the pixel value its masks store, and index order is the order everyone sees
(painter keys, reports, training). So a reorder, removal or merge is a remap of ids: a job
writes a new "remap" version of every mask it changes and swaps the class list in the same
transaction; older versions stay in the history and are read through the remap tables.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.errors import Conflict, Invalid
from backend.models import Frame, Job, Mask, Project
from backend.services.jobs import WAIT_FOR_REMAP, create_job
from backend.services.projects import (
    REMAP_KIND,
    ClassSpec,
    get_project,
    remap_running,
    replace_classes,
    validated_classes,
)

UNLABELED = 255
# Jobs that read the class list or the masks: a change of ids waits until they are over.
MASK_JOBS = tuple(WAIT_FOR_REMAP)
ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class ClassEdit:
    """One class of the new list: `index` is its current id, None for a new class."""

    index: int | None
    name: str
    color: str


@dataclass(frozen=True)
class Removal:
    """A class taken out: its pixels become class `into` (a current id) or unlabeled (None)."""

    index: int
    into: int | None


@dataclass(frozen=True)
class Plan:
    """A checked change: the new classes and the map of current ids to new ids."""

    specs: list[ClassSpec]
    table: list[int]

    @property
    def remaps(self) -> bool:
        """Whether any stored id changes (a job is needed)."""
        return any(new != old for old, new in enumerate(self.table))


def _check_ids(n: int, edits: list[ClassEdit], removals: list[Removal]) -> None:
    kept = [e.index for e in edits if e.index is not None]
    taken = [r.index for r in removals]
    named = kept + taken + [r.into for r in removals if r.into is not None]
    unknown = sorted({i for i in named if not 0 <= i < n})
    if unknown:
        raise Invalid(f"Class ids {unknown} are not classes of this project (0 to {n - 1}).")
    twice = sorted({i for i in kept + taken if (kept + taken).count(i) > 1})
    if twice:
        raise Invalid(f"Class ids {twice} are listed more than once (kept or removed).")
    missing = sorted(set(range(n)) - set(kept) - set(taken))
    if missing:
        raise Invalid(
            f"Class ids {missing} are neither in the new list nor removed; say what becomes "
            "of each."
        )
    for r in removals:
        if r.into in taken:
            raise Invalid(f"Class {r.index} is merged into class {r.into}, which is removed too.")


def plan_change(project: Project, edits: list[ClassEdit], removals: list[Removal]) -> Plan:
    """Check a change against the project's classes; Invalid says what is wrong."""
    n = len(project.classes)
    _check_ids(n, edits, removals)
    specs = validated_classes([ClassSpec(e.name, e.color) for e in edits])
    new_of = {e.index: pos for pos, e in enumerate(edits) if e.index is not None}
    for r in removals:
        new_of[r.index] = UNLABELED if r.into is None else new_of[r.into]
    table = [new_of[old] for old in range(n)]
    if project.initial_mask == "background" and table and table[0] != 0:
        raise Invalid(
            "Frames of this project start as class 0 (background): keep class 0 first, or "
            "change the start mask to unlabeled before moving or removing it."
        )
    return Plan(specs, table)


def lut(table: list[int]) -> list[int]:
    """A 256-entry lookup of old id -> new id (ids the table does not name keep theirs)."""
    return [*table, *range(len(table), 256)][:255] + [UNLABELED]


def affected_masks(session: Session, project_id: int, table: list[int]) -> list[tuple]:
    """(frame id, version, storage key, counts) of current masks with an id the table changes."""
    query = (
        select(Frame.id, Mask.version, Mask.storage_key, Mask.class_pixel_counts)
        .join(Mask, (Mask.frame_id == Frame.id) & (Mask.version == Frame.mask_version))
        .where(Frame.project_id == project_id, Frame.mask_version > 0)
        .order_by(Frame.id)
    )
    full = lut(table)
    return [
        tuple(row)
        for row in session.execute(query)
        if any(n and full[int(v)] != int(v) for v, n in row.class_pixel_counts.items())
    ]


def summary(session: Session, project_id: int, plan: Plan) -> dict[str, Any]:
    """What a change rewrites: masks and pixels whose ids change, and each class's pixels."""
    full = lut(plan.table)
    query = (
        select(Mask.class_pixel_counts)
        .join(Frame, (Mask.frame_id == Frame.id) & (Mask.version == Frame.mask_version))
        .where(Frame.project_id == project_id)
    )
    masks = pixels = 0
    class_pixels: dict[str, int] = {}
    class_masks: dict[str, int] = {}
    for counts in session.scalars(query):
        moved = sum(n for v, n in counts.items() if full[int(v)] != int(v))
        masks, pixels = masks + bool(moved), pixels + moved
        for v, n in counts.items():
            if n and v != str(UNLABELED):
                class_pixels[v] = class_pixels.get(v, 0) + n
                class_masks[v] = class_masks.get(v, 0) + 1
    return {
        "remaps": plan.remaps,
        "masks": masks,
        "pixels": pixels,
        "class_pixels": class_pixels,
        "class_masks": class_masks,
        "table": plan.table,
    }


def _check_current(session: Session, project: Project, version: int) -> None:
    job = remap_running(session, project.id)
    if job is not None:
        raise Conflict(f"Job {job} is changing this project's classes; wait until it has ended.")
    if version != project.classes_version:
        raise Conflict(
            f"The classes changed since you loaded them (now version {project.classes_version});"
            " reload and edit them again.",
            current_version=project.classes_version,
        )


def _check_idle(session: Session, project_id: int) -> None:
    query = select(Job.id, Job.kind).where(
        Job.project_id == project_id, Job.kind.in_(MASK_JOBS), Job.status.in_(ACTIVE)
    )
    busy = session.execute(query).first()
    if busy is not None:
        raise Conflict(
            f"Job {busy.id} ({busy.kind}) uses this project's classes and masks; changing "
            "class ids must wait until it has ended (or cancel it)."
        )


def preview_change(
    session: Session, project_id: int, version: int, edits: list[ClassEdit], removals: list[Removal]
) -> dict[str, Any]:
    """What a change would do, without doing it."""
    project = get_project(session, project_id)
    _check_current(session, project, version)
    return summary(session, project_id, plan_change(project, edits, removals))


def _bump(session: Session, project: Project, version: int) -> None:
    # The conditional update is the lock: of two concurrent edits of one version, one wins.
    won = session.execute(
        update(Project)
        .where(Project.id == project.id, Project.classes_version == version)
        .values(classes_version=version + 1)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:
        raise Conflict("Someone else changed the classes meanwhile; reload and edit them again.")
    session.refresh(project)


def change_classes(
    session: Session, project_id: int, version: int, edits: list[ClassEdit], removals: list[Removal]
) -> tuple[Project, Job | None]:
    """Apply names, colours and new classes at once; queue a remap job when ids change."""
    project = get_project(session, project_id)
    _check_current(session, project, version)
    plan = plan_change(project, edits, removals)
    if not plan.remaps:
        replace_classes(project, plan.specs)
        session.flush()
        _bump(session, project, version)
        return project, None
    _check_idle(session, project_id)
    params = {
        "from_version": version,
        "table": plan.table,
        "classes": [{"name": s.name, "color": s.color} for s in plan.specs],
        "summary": summary(session, project_id, plan),
    }
    return project, create_job(session, REMAP_KIND, params, project_id, queue="cpu")


def apply_remap(
    session: Session, project_id: int, params: dict[str, Any], written: list[tuple], job_id: int
) -> dict[str, Any]:
    """Make the remapped masks current and swap the class list, all in one transaction."""
    project = get_project(session, project_id)
    version = params["from_version"]
    if project.classes_version != version:
        raise Conflict("The classes changed after this job was queued; edit them again.")
    # Versions up to here hold the old ids; the saves below and every later one the new ids.
    after = session.scalar(select(func.max(Mask.id))) or 0
    for frame_id, expected, key, counts in written:
        won = session.execute(
            update(Frame)
            .where(Frame.id == frame_id, Frame.mask_version == expected)
            .values(mask_version=expected + 1)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:
            raise Conflict(f"Frame {frame_id} was saved while its mask was remapped; run again.")
        session.add(
            Mask(
                frame_id=frame_id,
                version=expected + 1,
                storage_key=key,
                class_pixel_counts=counts,
                source="remap",
            )
        )
    specs = [ClassSpec(c["name"], c["color"]) for c in params["classes"]]
    replace_classes(project, specs)
    session.flush()
    entry = {"job_id": job_id, "after_mask_id": after, "table": params["table"]}
    project.class_remaps = [*(project.class_remaps or []), entry]
    project.class_ids_version += 1
    session.flush()
    _bump(session, project, version)
    return {"masks": len(written), "classes_version": version + 1, "table": params["table"]}


def history_lut(project: Project, mask_id: int, counts: dict[str, int]) -> list[int] | None:
    """The lookup that reads a stored version in today's ids (None: its ids are today's)."""
    tables = [r["table"] for r in project.class_remaps or [] if mask_id <= r["after_mask_id"]]
    if not tables:
        return None
    full = list(range(256))
    for table in tables:
        step = lut(table)
        full = [step[v] for v in full]
    return full if any(full[int(v)] != int(v) for v in counts) else None
