"""Routes that launch fine-tunes and evaluations."""

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from backend.api.access import by
from backend.api.deps import DbSession, get_dispatcher
from backend.schemas.jobs import JobOut
from backend.schemas.training import EvaluateRequest, PrelabelRequest, TrainRequest
from backend.services import jobs, prelabel, training

router = APIRouter(prefix="/api/projects/{project_id}", tags=["training"])


@router.get("/train/check", openapi_extra=by("project_id"))
def check_training_data(project_id: int, session: Session = DbSession) -> dict:
    """What is missing before a fine-tune makes sense (blocking problems and warnings)."""
    return training.check_data(session, project_id)


@router.post("/train", response_model=JobOut, status_code=202, openapi_extra=by("project_id"))
def train(
    project_id: int,
    body: TrainRequest,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
):
    """Queue a fine-tune; 422 lists what is missing (force=true proceeds past warnings)."""
    options = body.model_dump(exclude={"force"})
    job = training.request_training(session, project_id, options, body.force)
    return jobs.enqueue(session, job, dispatcher.dispatch)


@router.post("/evaluate", response_model=JobOut, status_code=202, openapi_extra=by("project_id"))
def evaluate(
    project_id: int,
    body: EvaluateRequest,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
):
    """Queue scoring of models on the project's test split."""
    job = training.request_evaluation(session, project_id, body.model_ids, body.flip_tta)
    return jobs.enqueue(session, job, dispatcher.dispatch)


@router.post(
    "/prelabel", response_model=JobOut, status_code=202, openapi_extra=by("project_id", "annotator")
)
def prelabel_frames(
    project_id: int,
    body: PrelabelRequest,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
):
    """Queue model predictions as draft masks; a person's mask is kept unless overwrite=true."""
    job = prelabel.request_prelabel(
        session, project_id, body.model_id, body.frame_ids, body.overwrite
    )
    return jobs.enqueue(session, job, dispatcher.dispatch)
