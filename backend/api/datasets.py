"""Dataset routes: zip import and export as jobs, export download, mapping presets."""

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.api.access import account, by
from backend.api.deps import DbSession, get_dispatcher, get_settings, get_storage
from backend.api.uploads import BINARY, discard, multipart_body, receive_files
from backend.errors import Invalid
from backend.schemas.datasets import ExportRequest, ImportPreview, MappingPreset
from backend.schemas.jobs import JobOut
from backend.services import jobs
from backend.services.datasets import exports, imports, preview
from backend.services.datasets.classmap import PRESETS
from backend.services.projects import get_project

router = APIRouter(tags=["datasets"])

ZIP_BODY = multipart_body({"file": BINARY}, ["file"])
LAYOUT = Literal["auto", "plain", "color", "camvid", "cityscapes", "segtune"]
MAPPING = Query(
    None, description='A preset name or a JSON object such as {"8": "car", "default": 0}.'
)


async def _one_zip(request: Request, storage, settings):
    files = await receive_files(request, storage, {"file"}, settings)
    if len(files) != 1:
        discard(files)
        raise Invalid("Send exactly one zip in the multipart field 'file'.")
    return files[0]


@router.post(
    "/api/projects/{project_id}/imports",
    response_model=JobOut,
    status_code=202,
    openapi_extra={**ZIP_BODY, **by("project_id")},
)
async def import_dataset(
    project_id: int,
    request: Request,
    layout: LAYOUT = "auto",
    mapping: str | None = MAPPING,
    split: Literal["auto", "none", "train", "val", "test"] = "auto",
    session: Session = DbSession,
    storage=Depends(get_storage),
    settings=Depends(get_settings),
    dispatcher=Depends(get_dispatcher),
):
    """Upload a dataset zip (multipart field `file`) and queue its import."""
    get_project(session, project_id)
    upload = await _one_zip(request, storage, settings)
    job = imports.request_import(
        session,
        storage,
        settings,
        project_id,
        upload.path,
        upload.filename,
        layout=layout,
        mapping=mapping,
        split=split,
    )
    return jobs.enqueue(session, job, dispatcher.dispatch)


@router.post(
    "/api/projects/{project_id}/imports/preview",
    response_model=ImportPreview,
    openapi_extra={**ZIP_BODY, **by("project_id")},
)
async def preview_import(
    project_id: int,
    request: Request,
    layout: LAYOUT = "auto",
    mapping: str | None = MAPPING,
    session: Session = DbSession,
    storage=Depends(get_storage),
    settings=Depends(get_settings),
):
    """Inspect a dataset zip without importing it: layout, frames, source values -> classes."""
    get_project(session, project_id)
    upload = await _one_zip(request, storage, settings)
    # Decoding the sampled masks takes a while: not on the event loop.
    return await run_in_threadpool(
        preview.preview_zip, session, settings, project_id, upload.path, layout, mapping
    )


@router.get("/api/imports/presets", response_model=list[MappingPreset], openapi_extra=account())
def mapping_presets():
    """The named class mappings an import accepts."""
    return [{"name": name, "mapping": mapping} for name, mapping in PRESETS.items()]


@router.post(
    "/api/projects/{project_id}/exports",
    response_model=JobOut,
    status_code=202,
    openapi_extra=by("project_id"),
)
def export_dataset(
    project_id: int,
    body: ExportRequest,
    session: Session = DbSession,
    dispatcher=Depends(get_dispatcher),
):
    """Queue an export of the project (or one split) as a zip."""
    job = exports.request_export(session, project_id, **body.model_dump())
    return jobs.enqueue(session, job, dispatcher.dispatch)


@router.get(
    "/api/exports/{job_id}/download", response_class=FileResponse, openapi_extra=by("job_id")
)
def download_export(job_id: int, session: Session = DbSession, storage=Depends(get_storage)):
    """The zip of a finished export job."""
    key, filename = exports.export_file(session, storage, job_id)
    return FileResponse(storage.path(key), media_type="application/zip", filename=filename)
