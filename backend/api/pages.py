"""HTML pages (Jinja2); the data comes from the JSON API through ES modules."""

from pathlib import Path
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from backend.api.access import account, anyone, by, listing
from backend.api.deps import DbSession, get_settings
from backend.services import frame_navigation, frames, jobs, projects, seg_models, training


def _signed_in(request: Request) -> dict:
    """The signed-in user, their role in the page's project, and the CSRF token for changes."""
    identity = getattr(request.state, "identity", None)
    if identity is None:
        return {"current_user": None, "csrf_token": "", "role": None}
    csrf = identity.csrf_token or ""
    return {"current_user": identity.user, "csrf_token": csrf, "role": request.state.role}


TEMPLATES = Jinja2Templates(
    directory=Path(__file__).resolve().parents[2] / "frontend" / "templates",
    context_processors=[_signed_in],
)
router = APIRouter(include_in_schema=False)
public = APIRouter(include_in_schema=False)


def _local_path(target: str) -> str:
    """`target` when it is a path on this site, else "/".

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    "/%09/evil.example" or "/\\evil" would lead off-site: the decoded value must hold no
    control character, whitespace or backslash, and must be a bare path ("/x", never "//x").
    """
    decoded, previous = target, None
    while decoded != previous:  # undo every layer of percent-encoding
        previous, decoded = decoded, unquote(decoded)
    if (
        not decoded.startswith("/")
        or decoded.startswith("//")
        or any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in decoded)
    ):
        return "/"
    parts = urlsplit(decoded)
    return target if not (parts.scheme or parts.netloc) else "/"


@public.get("/login", response_class=HTMLResponse, openapi_extra=anyone())
def login_page(request: Request, next: str = "/"):
    """The sign-in form."""
    return TEMPLATES.TemplateResponse(request, "login.html", {"next": _local_path(next)})


@router.get("/account", response_class=HTMLResponse, openapi_extra=account())
def account_page(request: Request):
    """Your account: password, personal API tokens, sign-out; accounts for administrators."""
    return TEMPLATES.TemplateResponse(request, "account.html", {})


@router.get("/", response_class=HTMLResponse, openapi_extra=listing())
def project_list(request: Request):
    """Projects: list and create."""
    return TEMPLATES.TemplateResponse(request, "projects.html", {})


@router.get("/projects/{project_id}", response_class=HTMLResponse, openapi_extra=by("project_id"))
def project_page(
    project_id: int,
    request: Request,
    session: Session = DbSession,
    settings=Depends(get_settings),
):
    """A project: videos, upload, sampling, frame grid."""
    project = projects.get_project(session, project_id)
    context = {"project": project, "max_upload_bytes": settings.max_upload_bytes}
    return TEMPLATES.TemplateResponse(request, "project.html", context)


@router.get("/jobs", response_class=HTMLResponse, openapi_extra=listing())
def job_list(request: Request):
    """All jobs (optionally one project's, via ?project_id=), refreshed live."""
    return TEMPLATES.TemplateResponse(request, "jobs.html", {})


@router.get("/jobs/{job_id}", response_class=HTMLResponse, openapi_extra=by("job_id"))
def job_page(job_id: int, request: Request, session: Session = DbSession):
    """A job with live progress."""
    job = jobs.get_job(session, job_id)
    project = projects.get_project(session, job.project_id) if job.project_id else None
    return TEMPLATES.TemplateResponse(request, "job.html", {"job": job, "project": project})


@router.get("/jobs/{job_id}/report", response_class=HTMLResponse, openapi_extra=by("job_id"))
def report_page(job_id: int, request: Request, session: Session = DbSession):
    """The before/after report of a fine-tune (or the side-by-side of a two-model evaluation)."""
    job = jobs.get_job(session, job_id)
    project = projects.get_project(session, job.project_id) if job.project_id else None
    return TEMPLATES.TemplateResponse(request, "report.html", {"job": job, "project": project})


@router.get(
    "/projects/{project_id}/models", response_class=HTMLResponse, openapi_extra=by("project_id")
)
def models_page(
    project_id: int,
    request: Request,
    session: Session = DbSession,
    settings=Depends(get_settings),
):
    """A project's models: register a base checkpoint, downloads, ONNX export, pre-label."""
    context = {
        "project": projects.get_project(session, project_id),
        "architectures": seg_models.ARCHITECTURES,
        "output_strides": seg_models.OUTPUT_STRIDES,
        "preset_labels": seg_models.preset_labels(),
        "max_upload_bytes": settings.max_upload_bytes,
    }
    return TEMPLATES.TemplateResponse(request, "models.html", context)


@router.get(
    "/projects/{project_id}/train", response_class=HTMLResponse, openapi_extra=by("project_id")
)
def launch_page(project_id: int, request: Request, session: Session = DbSession):
    """Launch a fine-tune: base model, recipe, class map and the data check."""
    context = {"project": projects.get_project(session, project_id), "presets": training.PRESETS}
    return TEMPLATES.TemplateResponse(request, "launch.html", context)


@router.get(
    "/projects/{project_id}/compare", response_class=HTMLResponse, openapi_extra=by("project_id")
)
def compare_page(project_id: int, request: Request, session: Session = DbSession):
    """Compare two models on the project's test frames, side by side."""
    project = projects.get_project(session, project_id)
    return TEMPLATES.TemplateResponse(request, "compare.html", {"project": project})


@router.get("/frames/{frame_id}", response_class=HTMLResponse, openapi_extra=by("frame_id"))
def painter_page(frame_id: int, request: Request, session: Session = DbSession):
    """The mask painter for one frame."""
    frame = frames.get_frame(session, frame_id)
    project = projects.get_project(session, frame.project_id)
    neighbours = frames.neighbours(session, frame)
    place = frame_navigation.position(session, frame)
    return TEMPLATES.TemplateResponse(
        request,
        "painter.html",
        {"frame": frame, "project": project, "neighbours": neighbours, "place": place},
    )
