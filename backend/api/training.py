"""Routes that launch fine-tunes and evaluations."""

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, by
from backend.api.deps import DbSession, get_dispatcher, get_settings
from backend.config import Settings
from backend.schemas.jobs import JobOut
from backend.schemas.training import (
    EvaluateRequest,
    MappingRequest,
    PrelabelRequest,
    TrainRequest,
)
from backend.services import evaluation, jobs, prelabel, training
from backend.services.auth import Identity

router = APIRouter(prefix="/api/projects/{project_id}", tags=["training"])


@router.get("/train/check", openapi_extra=by("project_id"))
def check_training_data(
    project_id: int, session: Session = DbSession, identity: Identity = CurrentUser
) -> dict:
    """What is missing before a fine-tune makes sense (blocking problems and warnings), and
    project_base_model_id: the registered base the project started from (the default start)."""
    return training.launch_check(session, project_id, identity.user)


@router.post("/train", response_model=JobOut, status_code=202, openapi_extra=by("project_id"))
def train(
    project_id: int,
    body: TrainRequest,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
    identity: Identity = CurrentUser,
    settings: Settings = Depends(get_settings),
):
    """Queue a fine-tune; 422 lists what is missing (force=true proceeds past warnings)."""
    options = body.model_dump(exclude={"force"})
    job = training.request_training(
        session,
        project_id,
        options,
        body.force,
        reader=identity.user,
        frame_rate=settings.report_frame_rate,
    )
    return jobs.enqueue(session, job, dispatcher.dispatch)


@router.post("/evaluate", response_model=JobOut, status_code=202, openapi_extra=by("project_id"))
def evaluate(
    project_id: int,
    body: EvaluateRequest,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
    identity: Identity = CurrentUser,
):
    """Queue scoring of models (of any project you can read) on the project's test split."""
    job = evaluation.request_evaluation(
        session,
        identity.user,
        project_id,
        body.model_ids,
        body.flip_tta,
        body.class_maps,
        body.confirm_mapping_differs,
        body.block_seconds,
    )
    return jobs.enqueue(session, job, dispatcher.dispatch)


@router.post("/evaluate/check", openapi_extra=by("project_id"))
def check_mappings(
    project_id: int,
    body: MappingRequest,
    session: Session = DbSession,
    identity: Identity = CurrentUser,
) -> dict:
    """How each model would be scored here (class map and where it comes from); queues nothing."""
    return evaluation.check_mappings(
        session, identity.user, project_id, body.model_ids, body.class_maps
    )


@router.post(
    "/prelabel", response_model=JobOut, status_code=202, openapi_extra=by("project_id", "annotator")
)
def prelabel_frames(
    project_id: int,
    body: PrelabelRequest,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
    identity: Identity = CurrentUser,
):
    """Queue model predictions as draft masks; a person's mask is kept unless overwrite=true."""
    job = prelabel.request_prelabel(
        session,
        project_id,
        body.model_id,
        body.frame_ids,
        body.overwrite,
        reader=identity.user,
        class_map=body.class_map,
    )
    return jobs.enqueue(session, job, dispatcher.dispatch)
