"""Projects and their label classes."""

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Conflict, Invalid, NotFound
from backend.models import Job, LabelClass, Membership, Project, User

MAX_CLASSES = 254  # pixel value 255 is reserved for "unlabeled"
DEFAULT_CLASSES = (("background", "#000000"), ("car", "#1f77ff"), ("traffic sign", "#ffd200"))
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
INITIAL_MASKS = ("unlabeled", "background")
REMAP_KIND = "remap"


@dataclass(frozen=True)
class ClassSpec:
    """A class as the user gives it."""

    name: str
    color: str


def validated_classes(classes: list[ClassSpec]) -> list[ClassSpec]:
    """The classes cleaned (names stripped, colours lower case), or Invalid saying why."""
    if not classes:
        raise Invalid("A project needs at least one class.")
    if len(classes) > MAX_CLASSES:
        raise Invalid(f"At most {MAX_CLASSES} classes are allowed (255 means unlabeled).")
    seen = set()
    out = []
    for spec in classes:
        name = spec.name.strip()
        if not name or len(name) > 100:
            raise Invalid("Class names must be 1 to 100 characters long.")
        if name.lower() in seen:
            raise Invalid(f"The class name {name!r} is used twice.")
        if not COLOR_RE.match(spec.color):
            raise Invalid(
                f"The colour {spec.color!r} of class {name!r} is not of the form #rrggbb."
            )
        seen.add(name.lower())
        out.append(ClassSpec(name, spec.color.lower()))
    return out


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("A project name must be 1 to 200 characters long.")
    return name


def create_project(
    session: Session,
    name: str,
    classes: list[ClassSpec] | None = None,
    initial_mask: str = "unlabeled",
    owner: User | None = None,
) -> Project:
    """Create a project with the given classes (default: background, car, traffic sign).

    The owner (the user creating it) becomes its first member with the role `owner`.
    """
    specs = validated_classes(classes or [ClassSpec(n, c) for n, c in DEFAULT_CLASSES])
    if initial_mask not in INITIAL_MASKS:
        raise Invalid(f"initial_mask must be one of {', '.join(INITIAL_MASKS)}.")
    project = Project(name=_clean_name(name), initial_mask=initial_mask)
    project.classes = [LabelClass(index=i, name=s.name, color=s.color) for i, s in enumerate(specs)]
    session.add(project)
    session.flush()
    if owner is not None:
        session.add(Membership(project_id=project.id, user_id=owner.id, role="owner"))
        session.flush()
    return project


def get_project(session: Session, project_id: int) -> Project:
    """A project by id, or NotFound."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    return project


def list_projects(session: Session, visible: set[int] | None = None) -> list[Project]:
    """Projects newest first: those in `visible`, or all when it is None."""
    query = select(Project).order_by(Project.id.desc())
    if visible is not None:
        query = query.where(Project.id.in_(visible))
    return list(session.scalars(query))


def update_project(
    session: Session,
    project_id: int,
    name: str | None = None,
    classes: list[ClassSpec] | None = None,
    initial_mask: str | None = None,
) -> Project:
    """Rename a project, change its start mask, or replace its ordered classes."""
    project = get_project(session, project_id)
    if name is not None:
        project.name = _clean_name(name)
    if initial_mask is not None:
        if initial_mask not in INITIAL_MASKS:
            raise Invalid(f"initial_mask must be one of {', '.join(INITIAL_MASKS)}.")
        project.initial_mask = initial_mask
    if classes is not None:
        specs = validated_classes(classes)
        if len(specs) < len(project.classes):
            # Dropping the last classes would leave their ids in the masks, meaning nothing.
            raise Invalid(
                "Removing classes remaps the masks: use PUT /api/projects/{id}/classes, "
                "which says what becomes of each removed class."
            )
        job = remap_running(session, project_id)
        if job is not None:
            raise Conflict(f"Job {job} is changing this project's classes; wait until it ends.")
        replace_classes(project, specs)
        project.classes_version += 1
    session.flush()
    return project


def replace_classes(project: Project, specs: list[ClassSpec]) -> None:
    """Give the project these classes in this order (index = position), renaming in place."""
    by_index = {c.index: c for c in project.classes}
    for i, spec in enumerate(specs):
        if i in by_index:
            by_index[i].name, by_index[i].color = spec.name, spec.color
        else:
            project.classes.append(LabelClass(index=i, name=spec.name, color=spec.color))
    for index in [i for i in by_index if i >= len(specs)]:
        project.classes.remove(by_index[index])


def remap_running(session: Session, project_id: int) -> int | None:
    """The id of the project's queued or running class remap job, if any."""
    query = select(Job.id).where(
        Job.project_id == project_id,
        Job.kind == REMAP_KIND,
        Job.status.in_(("queued", "running")),
    )
    return session.scalars(query).first()


def delete_project(session: Session, project_id: int) -> list[str]:
    """Delete a project and return the storage prefixes its media lived under."""
    project = get_project(session, project_id)
    session.delete(project)
    session.flush()
    return [f"projects/{project_id}"]
