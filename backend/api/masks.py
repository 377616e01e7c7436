"""Mask routes: PNG of class ids with ETag / If-Match versioning."""

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, by
from backend.api.deps import DbSession, get_storage, in_request_thread
from backend.errors import TooLarge
from backend.schemas.masks import MaskSaved, MaskVersionOut
from backend.services import mask_thumbnails, masks
from backend.services.auth import Identity

router = APIRouter(tags=["masks"])
MAX_MASK_BYTES = 64 * 2**20
PNG_BODY = {
    "requestBody": {
        "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        "required": True,
    }
}


async def png_body(request: Request) -> bytes:
    """The raw request body, refused when over the mask size limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_MASK_BYTES:
        raise TooLarge("A mask PNG may be at most 64 MB.")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_MASK_BYTES:
            raise TooLarge("A mask PNG may be at most 64 MB.")
    return bytes(data)


def _png(data: bytes, version: int) -> Response:
    return Response(
        data, media_type="image/png", headers={"ETag": f'"{version}"', "Cache-Control": "no-store"}
    )


@router.get("/api/frames/{frame_id}/mask", response_class=Response, openapi_extra=by("frame_id"))
def get_mask(frame_id: int, session: Session = DbSession, storage=Depends(get_storage)):
    """The current mask (8-bit class ids, 255 = unlabeled) with its version as ETag."""
    return _png(*masks.read_mask(session, storage, frame_id))


@router.get(
    "/api/frames/{frame_id}/mask/thumbnail",
    response_class=Response,
    openapi_extra=by("frame_id"),
)
def get_mask_thumbnail(
    frame_id: int,
    if_none_match: str | None = Header(None),
    session: Session = DbSession,
    storage=Depends(get_storage),
):
    """A small colour PNG of the current mask (unlabeled transparent), ETagged per version."""
    data, tag = mask_thumbnails.mask_thumbnail(session, storage, frame_id)
    # The grid asks with ?v=<version>, so a private cache may keep an answer for a while.
    headers = {"ETag": f'"{tag}"', "Cache-Control": "private, max-age=3600"}
    if if_none_match and if_none_match.strip().removeprefix("W/") == f'"{tag}"':
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="image/png", headers=headers)


@router.put(
    "/api/frames/{frame_id}/mask",
    response_model=MaskSaved,
    openapi_extra={**PNG_BODY, **by("frame_id", "annotator")},
)
async def put_mask(
    request: Request,
    frame_id: int,
    data: bytes = Depends(png_body),
    if_match: str | None = Header(None),
    x_class_ids_version: int | None = Header(
        None, description="The project's class_ids_version the mask was painted in (412 if old)."
    ),
    session: Session = DbSession,
    storage=Depends(get_storage),
):
    """Save a new version; 409 with current_version if If-Match names an older one."""
    version = masks.parse_if_match(if_match)
    author_id = request.state.identity.user.id  # set by the access check every route runs
    # A coroutine with one explicit hop: the save is the painter's hot path.
    return await in_request_thread(
        request,
        masks.save_mask,
        session,
        storage,
        frame_id,
        data,
        version,
        "painter",
        author_id,
        x_class_ids_version,
    )


@router.get(
    "/api/frames/{frame_id}/masks",
    response_model=list[MaskVersionOut],
    openapi_extra=by("frame_id"),
)
def list_mask_versions(frame_id: int, session: Session = DbSession):
    """Every saved version, newest first."""
    return masks.list_versions(session, frame_id)


@router.get(
    "/api/frames/{frame_id}/masks/{version}", response_class=Response, openapi_extra=by("frame_id")
)
def get_mask_version(
    frame_id: int,
    version: int,
    session: Session = DbSession,
    storage=Depends(get_storage),
):
    """One saved version's PNG."""
    return _png(masks.read_version(session, storage, frame_id, version), version)


@router.post(
    "/api/frames/{frame_id}/masks/{version}/restore",
    response_model=MaskSaved,
    openapi_extra=by("frame_id", "annotator"),
)
def restore_mask_version(
    frame_id: int,
    version: int,
    if_match: str | None = Header(None),
    identity: Identity = CurrentUser,
    session: Session = DbSession,
    storage=Depends(get_storage),
):
    """Make an earlier version current again (stored as a new version by the caller)."""
    expected = masks.parse_if_match(if_match)
    return masks.restore_version(session, storage, frame_id, version, expected, identity.user.id)
