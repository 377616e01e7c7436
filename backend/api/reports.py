"""Report routes: JSON, figures, timeline and downloads.

For a fine-tune job (before = base, after = fine-tuned) and for an evaluate job of exactly two
models (A vs B, side by side: the same routes, without the loss/miou figures and the timeline).
An evaluate job of one model or of more than two answers 409.
"""

import json

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from backend.api.access import by
from backend.api.deps import DbSession, get_settings, get_storage
from backend.config import Settings
from backend.schemas.reports import ReportOut
from backend.services import reports
from backend.storage import LocalStorage

router = APIRouter(prefix="/api/jobs", tags=["reports"])


def _attachment(job_id: int, suffix: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="segtune_job{job_id}_report.{suffix}"'}


# Unset fields (a comparison's labels and model_ids) are left out of a fine-tune's report.
@router.get(
    "/{job_id}/report",
    response_model=ReportOut,
    response_model_exclude_unset=True,
    openapi_extra=by("job_id"),
)
def get_report(
    job_id: int,
    session: Session = DbSession,
    storage: LocalStorage = Depends(get_storage),
    settings: Settings = Depends(get_settings),
):
    """Before/after (or A/B) scores with paired 95% block-bootstrap intervals, sentences, curves."""
    return reports.get_report(session, storage, settings, job_id)


@router.get(
    "/{job_id}/report/figures/{name}.png", response_class=Response, openapi_extra=by("job_id")
)
def get_figure(
    job_id: int,
    name: str,
    session: Session = DbSession,
    storage: LocalStorage = Depends(get_storage),
):
    """A report figure: confusion, loss, miou (fine-tunes only) or frame_{k} (k-th test frame)."""
    return Response(reports.get_figure(session, storage, job_id, name), media_type="image/png")


@router.get("/{job_id}/report/timeline.gif", response_class=Response, openapi_extra=by("job_id"))
def get_timeline_gif(
    job_id: int,
    session: Session = DbSession,
    storage: LocalStorage = Depends(get_storage),
):
    """The validation overlays after each iteration as an animated GIF."""
    data = reports.get_timeline_gif(session, storage, job_id)
    return Response(data, media_type="image/gif")


@router.get(
    "/{job_id}/timeline/{iteration}/{k}.png", response_class=Response, openapi_extra=by("job_id")
)
def get_timeline_overlay(
    job_id: int,
    iteration: int,
    k: int,
    session: Session = DbSession,
    storage: LocalStorage = Depends(get_storage),
):
    """The k-th validation overlay recorded after an iteration."""
    data = reports.get_timeline_overlay(session, storage, job_id, iteration, k)
    return Response(data, media_type="image/png")


@router.get("/{job_id}/report.html", response_class=HTMLResponse, openapi_extra=by("job_id"))
def download_html(
    job_id: int,
    session: Session = DbSession,
    storage: LocalStorage = Depends(get_storage),
    settings: Settings = Depends(get_settings),
):
    """The self-contained HTML report (every picture embedded)."""
    page = reports.get_html(session, storage, settings, job_id)
    return HTMLResponse(page, headers=_attachment(job_id, "html"))


@router.get("/{job_id}/report.json", response_class=Response, openapi_extra=by("job_id"))
def download_json(
    job_id: int,
    session: Session = DbSession,
    storage: LocalStorage = Depends(get_storage),
    settings: Settings = Depends(get_settings),
):
    """The report JSON as a file."""
    body = json.dumps(reports.get_report(session, storage, settings, job_id), indent=2)
    return Response(body, media_type="application/json", headers=_attachment(job_id, "json"))


@router.get("/{job_id}/report.csv", response_class=Response, openapi_extra=by("job_id"))
def download_csv(
    job_id: int,
    session: Session = DbSession,
    storage: LocalStorage = Depends(get_storage),
    settings: Settings = Depends(get_settings),
):
    """One CSV row per figure: before, after, change, their 95% bounds, verdict and blocks."""
    body = reports.get_csv(session, storage, settings, job_id)
    return Response(body, media_type="text/csv; charset=utf-8", headers=_attachment(job_id, "csv"))
