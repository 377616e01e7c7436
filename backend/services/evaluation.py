"""Launching evaluations: models of any project the caller can read, one class mapping each."""

from typing import Any

from sqlalchemy.orm import Session

from backend.errors import Invalid
from backend.models import Job, User
from backend.services import mappings
from backend.services.jobs import create_job
from backend.services.projects import get_project
from backend.services.seg_models import ready_model


def check_mappings(
    session: Session,
    user: User | None,
    project_id: int,
    model_ids: list[int],
    class_maps: dict[int, list[int]] | None = None,
) -> dict[str, Any]:
    """How each model would be scored in the project, and which pairs map classes differently."""
    names = [c.name for c in get_project(session, project_id).classes]
    if not model_ids:
        raise Invalid("Name at least one model to evaluate.")
    models = [ready_model(session, model_id, user) for model_id in model_ids]
    given = class_maps or {}
    stray = sorted(set(given) - set(model_ids))
    if stray:
        raise Invalid(f"class_maps names models {stray}, which are not among model_ids.")
    records = mappings.resolve(session, names, models, given)
    return {
        "class_names": names,
        "mappings": {str(k): v for k, v in records.items()},
        "differs": mappings.differences(records),
    }


def request_evaluation(
    session: Session,
    user: User | None,
    project_id: int,
    model_ids: list[int],
    flip_tta: bool = False,
    class_maps: dict[int, list[int]] | None = None,
    confirm_mapping_differs: bool = False,
    block_seconds: float | None = None,
) -> Job:
    """Create a job that scores models on the project's test split (the caller enqueues it).

    Models that map a project class differently are only compared when that is confirmed.
    """
    checked = check_mappings(session, user, project_id, model_ids, class_maps)
    if checked["differs"] and not confirm_mapping_differs:
        raise Invalid(
            mappings.describe_differences(checked["differs"])
            + " Give the same class_maps, or send confirm_mapping_differs=true to compare anyway.",
            differs=checked["differs"],
        )
    params = {
        "model_ids": model_ids,
        "flip_tta": flip_tta,
        "mappings": checked["mappings"],
        "mapping_differs": checked["differs"],
    }
    if block_seconds is not None:
        params["block_seconds"] = block_seconds  # the report's block length for this job
    return create_job(session, "evaluate", params, project_id, queue="gpu")
