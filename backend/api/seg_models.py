"""Model registry routes."""

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, by, listing, upload_target
from backend.api.deps import DbSession, get_dispatcher, get_settings, get_storage
from backend.api.uploads import BINARY, discard, multipart_body, receive_files
from backend.errors import DomainError, Invalid
from backend.schemas.jobs import JobOut
from backend.schemas.seg_models import RegistrationRetry, SegModelOut, SegModelUpdate
from backend.services import access, jobs, seg_models
from backend.services.auth import Identity

router = APIRouter(prefix="/api/models", tags=["models"])
FORM_FIELDS = {
    "file": BINARY,
    "name": {"type": "string"},
    "project_id": {"type": "integer"},
    "architecture": {"type": "string", "enum": list(seg_models.ARCHITECTURES)},
    "output_stride": {"type": "integer", "enum": [8, 16]},
    "preset": {"type": "string", "enum": list(seg_models.PRESETS)},
    "sha256": {"type": "string"},
}
UPLOAD_BODY = multipart_body(FORM_FIELDS, ["file"])


def _int(texts: dict[str, str], key: str) -> int | None:
    value = texts.get(key, "").strip()
    if not value:
        return None
    if not re.fullmatch(r"-?[0-9]{1,18}", value):  # not isdigit(): int() refuses '²'
        raise Invalid(f"{key} must be an integer.")
    return int(value)


@router.post(
    "",
    response_model=SegModelOut,
    status_code=202,
    openapi_extra={**UPLOAD_BODY, **upload_target()},
)
async def upload_model(
    request: Request,
    session: Session = DbSession,
    storage=Depends(get_storage),
    settings=Depends(get_settings),
    dispatcher=Depends(get_dispatcher),
    identity: Identity = CurrentUser,
):
    """Register a checkpoint (multipart `file` + metadata fields); a worker inspects it."""
    texts: dict[str, str] = {}
    files = await receive_files(request, storage, {"file"}, settings, texts)
    try:
        if len(files) != 1:
            raise Invalid("Send exactly one checkpoint in the multipart field 'file'.")
        project_id, output_stride = _int(texts, "project_id"), _int(texts, "output_stride")
        access.check_upload_target(session, identity.user, project_id)
    except DomainError:
        discard(files)
        raise
    model, job = seg_models.register_model(
        session,
        storage,
        settings,
        files[0].path,
        files[0].filename,
        name=texts.get("name") or None,
        project_id=project_id,
        architecture=texts.get("architecture") or None,
        output_stride=output_stride,
        preset=texts.get("preset") or None,
        expected_sha256=texts.get("sha256") or None,
    )
    jobs.enqueue(session, job, dispatcher.dispatch)
    return model


@router.get("", response_model=list[SegModelOut], openapi_extra=listing())
def list_models(
    project_id: int | None = None, identity: Identity = CurrentUser, session: Session = DbSession
):
    """Models of a project (and shared base models), or all you may see."""
    visible = access.visible_projects(session, identity.user)
    return seg_models.list_models(session, project_id, visible)


@router.get("/{model_id}", response_model=SegModelOut, openapi_extra=by("model_id"))
def get_model(model_id: int, session: Session = DbSession):
    """One model."""
    return seg_models.get_model(session, model_id)


@router.patch("/{model_id}", response_model=SegModelOut, openapi_extra=by("model_id"))
def rename_model(model_id: int, body: SegModelUpdate, session: Session = DbSession):
    """Rename a model (administrators for shared base models)."""
    return seg_models.rename_model(session, model_id, body.name)


@router.post(
    "/{model_id}/retry", response_model=SegModelOut, status_code=202, openapi_extra=by("model_id")
)
def retry_registration(
    model_id: int,
    body: RegistrationRetry,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
):
    """Check a failed registration's file again with other options (409 unless it failed)."""
    model, job = seg_models.retry_registration(session, model_id, **body.model_dump())
    jobs.enqueue(session, job, dispatcher.dispatch)
    return model


@router.get("/{model_id}/download", response_class=FileResponse, openapi_extra=by("model_id"))
def download_model(model_id: int, session: Session = DbSession, storage=Depends(get_storage)):
    """The checkpoint file (weights under `model_state`, public DeepLabV3Plus-Pytorch layout)."""
    model = seg_models.get_model(session, model_id)
    return FileResponse(
        storage.path(model.storage_key),
        media_type="application/octet-stream",
        filename=model.filename,
    )


@router.post(
    "/{model_id}/onnx", response_model=JobOut, status_code=202, openapi_extra=by("model_id")
)
def export_onnx(model_id: int, session: Session = DbSession, dispatcher=Depends(get_dispatcher)):
    """Queue an ONNX export (any input size, project classes out)."""
    return jobs.enqueue(session, seg_models.request_onnx(session, model_id), dispatcher.dispatch)


@router.get("/{model_id}/onnx", response_class=FileResponse, openapi_extra=by("model_id"))
def download_onnx(model_id: int, session: Session = DbSession, storage=Depends(get_storage)):
    """The ONNX export (input: normalised N x 3 x H x W; output: logits of the same size)."""
    key, name = seg_models.onnx_file(session, model_id)
    return FileResponse(storage.path(key), media_type="application/octet-stream", filename=name)
