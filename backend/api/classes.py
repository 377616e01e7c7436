"""Class edit routes: preview a change, apply it (a remap job when stored ids change)."""

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from backend.api.access import by
from backend.api.deps import DbSession, get_dispatcher
from backend.schemas.classes import ClassesChange, ClassesChanged, ClassesPreview
from backend.services import classes, jobs
from backend.services.classes import ClassEdit, Removal

router = APIRouter(prefix="/api/projects/{project_id}/classes", tags=["projects"])


def _parts(body: ClassesChange) -> tuple[int, list[ClassEdit], list[Removal]]:
    edits = [ClassEdit(c.index, c.name, c.color) for c in body.classes]
    return body.version, edits, [Removal(r.index, r.into) for r in body.remove]


@router.post("/preview", response_model=ClassesPreview, openapi_extra=by("project_id", "owner"))
def preview_classes(project_id: int, body: ClassesChange, session: Session = DbSession):
    """How many masks and pixels a change would remap; nothing is changed."""
    return classes.preview_change(session, project_id, *_parts(body))


@router.put("", response_model=ClassesChanged, openapi_extra=by("project_id", "owner"))
def change_classes(
    project_id: int,
    body: ClassesChange,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
):
    """Rename, recolour and add at once; reorder, remove or merge through a remap job."""
    project, job = classes.change_classes(session, project_id, *_parts(body))
    if job is not None:
        jobs.enqueue(session, job, dispatcher.dispatch)
    return {"project": project, "job": job}
