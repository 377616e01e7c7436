"""Superpixel routes: compute a frame's superpixels in a job, then read the cached label image."""

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from backend.api.access import by
from backend.api.deps import DbSession, get_dispatcher, get_storage
from backend.schemas.superpixels import Granularity, SuperpixelRequest, SuperpixelStateOut
from backend.services import jobs, superpixels

router = APIRouter(tags=["superpixels"])
LABELS_PNG = {
    "responses": {
        "200": {
            "description": "16-bit greyscale PNG: the superpixel id of every pixel.",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


@router.post(
    "/api/frames/{frame_id}/superpixels",
    response_model=SuperpixelStateOut,
    responses={202: {"model": SuperpixelStateOut, "description": "Queued or computing."}},
    openapi_extra=by("frame_id", "annotator"),
)
def request_superpixels(
    frame_id: int,
    body: SuperpixelRequest,
    session: Session = DbSession,
    storage=Depends(get_storage),
    dispatcher=Depends(get_dispatcher),
):
    """200 when the superpixels are cached; else 202 with the job computing them (one per
    frame and granularity: asking again returns the same job)."""
    state = superpixels.request_superpixels(session, storage, frame_id, body.granularity)
    if state.queued_now:
        jobs.enqueue(session, state.job, dispatcher.dispatch)
    out = SuperpixelStateOut.model_validate(state)
    return JSONResponse(jsonable_encoder(out), status_code=200 if state.ready else 202)


@router.get(
    "/api/frames/{frame_id}/superpixels",
    response_class=Response,
    openapi_extra={**by("frame_id"), **LABELS_PNG},
)
def get_superpixels(
    frame_id: int,
    granularity: Granularity = Query("fine"),
    session: Session = DbSession,
    storage=Depends(get_storage),
):
    """The cached superpixel label image; 404 until computed (POST here computes it)."""
    data = superpixels.read_superpixels(session, storage, frame_id, granularity)
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})
