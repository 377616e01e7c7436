"""FastAPI application factory."""

import asyncio
import contextlib
import gc
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, OperationalError

from backend.api import (
    auth,
    classes,
    datasets,
    frame_navigation,
    frames,
    health,
    jobs,
    masks,
    pages,
    predictions,
    project_progress,
    projects,
    propagation,
    removal,
    reports,
    review,
    seg_models,
    suggestions,
    superpixels,
    training,
    users,
    videos,
)
from backend.api.access import account, authorize, check_routes
from backend.api.connections import ConnectionBalancer
from backend.api.deps import request_threads
from backend.api.headers import SecurityHeaders
from backend.api.limits import BodyLimits
from backend.config import Settings, load_settings
from backend.db import make_engine, make_sessionmaker, session_scope
from backend.errors import (
    DomainError,
    OutOfSpace,
    TooManyAttempts,
    Unauthenticated,
    is_disk_full,
)
from backend.services.jobs import reap_lost_jobs, redispatch
from backend.services.login_limits import LoginLimiter
from backend.storage import make_storage

log = logging.getLogger("segtune.web")
# SQLSTATEs of values a request cannot store: number out of range, string too long; None when
# the driver refuses a parameter itself.
UNSTORABLE = ("22003", "22001", None)
FRONTEND = Path(__file__).resolve().parent.parent / "frontend"


async def _reap_forever(app: FastAPI) -> None:
    """Fail jobs whose worker stopped sending heartbeats, every few seconds."""
    settings: Settings = app.state.settings
    interval = max(1.0, min(settings.worker_lost_after_s / 3, 15.0))
    while True:
        try:
            await asyncio.to_thread(_reap_once, app)
        except Exception:  # noqa: BLE001 - the reaper must outlive a database hiccup
            log.warning("reaping lost jobs failed", exc_info=True)
        await asyncio.sleep(interval)


def _reap_once(app: FastAPI) -> None:
    with session_scope(app.state.sessions) as session:
        lost = reap_lost_jobs(session, app.state.settings)
        redispatch(session, lost, app.state.dispatcher.dispatch)
    if lost:
        log.warning("worker lost for jobs %s", [(job.id, job.status) for job in lost])


def _default_dispatcher(settings: Settings):
    # Imported lazily: worker.dispatch needs Celery (never torch), and tests may inject their own.
    from worker.celery_app import create_celery
    from worker.dispatch import CeleryDispatcher

    return CeleryDispatcher(create_celery(settings))


def create_app(settings: Settings | None = None, dispatcher=None) -> FastAPI:
    """Build the web application for the given settings."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        reaper = asyncio.create_task(_reap_forever(app))
        # Spooled uploads of a killed process never became media; a live process's stay.
        swept = await asyncio.to_thread(app.state.storage.sweep_temp)
        if swept:
            log.warning("removed %d stale temporary files", swept)
        # What exists at a process's first start-up (modules, routes, compiled schemas) lives
        # as long as the process; a full collection walking it stalled every request in flight
        # for ~90 ms (measured on a 2-core VM). Frozen, it is never scanned again. Once per
        # process: a later app in the same process (tests) would freeze its predecessors too.
        if gc.get_freeze_count() == 0:
            gc.collect()
            gc.freeze()
        yield
        reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reaper
        app.state.engine.dispose()

    # The schema is served behind sign-in (/api/openapi.json); no CDN-backed docs pages.
    app = FastAPI(
        title="SegTune",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.effective_database_url)
    app.state.sessions = make_sessionmaker(app.state.engine)
    app.state.storage = make_storage(settings)
    app.state.dispatcher = dispatcher or _default_dispatcher(settings)
    app.state.request_threads = request_threads()
    app.state.login_limiter = LoginLimiter(settings.login_attempts, settings.login_window_s)
    _add_error_handlers(app)
    app.include_router(health.router)
    app.include_router(auth.public)
    app.include_router(pages.public)
    signed_in = [Depends(authorize)]
    # Routes are matched in order: the painter's mask saves and reads, the most frequent
    # requests by far, come first.
    for module in (
        masks,
        auth,
        users,
        projects,
        project_progress,
        classes,
        videos,
        frames,
        review,
        propagation,
        frame_navigation,
        superpixels,
        suggestions,
        datasets,
        seg_models,
        training,
        jobs,
        predictions,
        reports,
        removal,
        pages,
    ):
        app.include_router(module.router, dependencies=signed_in)

    @app.get(
        "/api/openapi.json",
        include_in_schema=False,
        dependencies=signed_in,
        openapi_extra=account(),
    )
    def openapi_document() -> dict:
        return app.openapi()

    app.mount("/static", StaticFiles(directory=FRONTEND / "static"), name="static")
    # Innermost of the three: bodies are capped before routing and sign-in, and the 413 gets
    # the security headers.
    app.add_middleware(BodyLimits, settings=settings)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ConnectionBalancer, processes=settings.web_workers)
    check_routes(app)  # fail closed: a route that does not say how its project is found
    return app


def _encodable(error: dict) -> dict:
    """A validation error as JSON; the offending input is left out when it cannot be encoded."""
    try:
        return jsonable_encoder(error)
    except (TypeError, ValueError):  # bytes that are not UTF-8, an uploaded file, ...
        return jsonable_encoder({k: v for k, v in error.items() if k not in ("input", "ctx")})


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler answers 500 when the input it echoes is a binary body.
        return JSONResponse({"detail": [_encodable(e) for e in exc.errors()]}, status_code=422)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, exc: Unauthenticated):
        # Pages send a person to the sign-in form and back; the API answers 401.
        if not request.url.path.startswith("/api/") and request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse({"detail": exc.message}, status_code=401, headers=headers)

    @app.exception_handler(TooManyAttempts)
    async def too_many(_request: Request, exc: TooManyAttempts) -> JSONResponse:
        headers = {"Retry-After": str(exc.extra["retry_after"])}
        return JSONResponse({"detail": exc.message, **exc.extra}, status_code=429, headers=headers)

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, **exc.extra}, status_code=exc.status_code)

    @app.exception_handler(OSError)
    @app.exception_handler(OperationalError)
    async def disk_full(_request: Request, exc: Exception) -> JSONResponse:
        # The one place a full disk becomes an answer: media writes raise OSError ENOSPC or
        # EDQUOT, SQLite "database or disk is full", PostgreSQL disk_full. Other errors stay 500s.
        if not is_disk_full(exc):
            raise exc
        log.error("out of disk space: %s", exc)
        return JSONResponse({"detail": OutOfSpace().message}, status_code=OutOfSpace.status_code)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def too_large(_request: Request, exc: Exception) -> JSONResponse:
        # SQLite binds 64-bit integers, PostgreSQL's integer columns hold 32 bits: a larger id
        # or number in a request (or a text over a column's length) can match or fit nothing;
        # PostgreSQL's driver refuses text with NUL characters before sending it (no SQLSTATE).
        if isinstance(exc, DataError) and getattr(exc.orig, "sqlstate", None) not in UNSTORABLE:
            raise exc
        detail = "The request holds a number or text too large to store, or a NUL character."
        return JSONResponse({"detail": detail}, status_code=422)
