"""Frame routes: image upload, listing, pixels, splits."""

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from backend.api.access import CurrentUser, by
from backend.api.deps import DbSession, get_settings, get_storage
from backend.api.uploads import BINARY, multipart_body, receive_files
from backend.schemas.media import FrameOut, FrameUpdate, SplitCounts, SplitRequest
from backend.services import access, frames, splits
from backend.services.auth import Identity

router = APIRouter(tags=["frames"])

IMAGES_BODY = multipart_body({"files": {"type": "array", "items": BINARY}}, ["files"])


@router.post(
    "/api/projects/{project_id}/images",
    response_model=list[FrameOut],
    status_code=201,
    openapi_extra={**IMAGES_BODY, **by("project_id")},
)
async def upload_images(
    project_id: int,
    request: Request,
    duplicates: Literal["refuse", "skip", "keep"] = Query(
        "refuse", description="Images identical to a frame of the project: 409, left out, or kept."
    ),
    session: Session = DbSession,
    storage=Depends(get_storage),
    settings=Depends(get_settings),
):
    """Upload JPEG/PNG images as frames (multipart field `files`, several); all or none."""
    files = await receive_files(request, storage, {"files"}, settings)
    uploads = [(f.path, f.filename, f.sha256) for f in files]
    return frames.add_images(session, storage, settings, project_id, uploads, duplicates)


@router.get(
    "/api/projects/{project_id}/frames",
    response_model=list[FrameOut],
    openapi_extra=by("project_id"),
)
def list_frames(
    project_id: int,
    split: str | None = None,
    label_status: str | None = None,
    video_id: int | None = None,
    assignee: str | None = Query(None, pattern="^(me|none|[0-9]{1,18})$"),
    draft: bool | None = None,
    identity: Identity = CurrentUser,
    session: Session = DbSession,
):
    """A project's frames, optionally filtered by split (or 'none'), label status, video,
    assignee (a user id, 'me' or 'none') and whether the mask is a model draft."""
    who: int | str | None = assignee
    if assignee == "me":
        who = identity.user.id
    elif assignee is not None and assignee != "none":
        who = int(assignee)
    return frames.list_frames(session, project_id, split, label_status, video_id, who, draft)


@router.get("/api/frames/{frame_id}", response_model=FrameOut, openapi_extra=by("frame_id"))
def get_frame(frame_id: int, session: Session = DbSession):
    """One frame."""
    return frames.get_frame(session, frame_id)


@router.get(
    "/api/frames/{frame_id}/image", response_class=FileResponse, openapi_extra=by("frame_id")
)
def frame_image(frame_id: int, session: Session = DbSession, storage=Depends(get_storage)):
    """The frame's lossless PNG."""
    frame = frames.get_frame(session, frame_id)
    return FileResponse(storage.path(frame.storage_key), media_type="image/png")


@router.get("/api/frames/{frame_id}/thumbnail", openapi_extra=by("frame_id"))
def frame_thumbnail(frame_id: int, session: Session = DbSession, storage=Depends(get_storage)):
    """A small JPEG preview for grids (made once, then cached)."""
    data = frames.thumbnail(session, storage, frame_id)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})


@router.patch(
    "/api/frames/{frame_id}", response_model=FrameOut, openapi_extra=by("frame_id", "annotator")
)
def update_frame(
    frame_id: int,
    body: FrameUpdate,
    request: Request,
    identity: Identity = CurrentUser,
    session: Session = DbSession,
):
    """Set a frame's label status (annotators; reviewed or changes_requested with a comment:
    reviewers and owners) or override its split (owners); 409 for a change the status forbids."""
    if body.split is not None:
        access.authorize(session, identity.user, "frame_id", frame_id, "owner")
    return frames.update_frame(
        session,
        frame_id,
        body.split,
        body.label_status,
        user=identity.user,
        role=request.state.role,
        review_comment=body.review_comment,
    )


@router.post(
    "/api/projects/{project_id}/splits", response_model=SplitCounts, openapi_extra=by("project_id")
)
def assign_splits(project_id: int, body: SplitRequest, session: Session = DbSession):
    """Assign train/val/test to every frame without a manual override."""
    fractions = (body.train, body.val, body.test)
    return splits.assign_splits(session, project_id, body.strategy, fractions, body.seed)
