"""Uploaded videos: probe, validate, store."""

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import files_owned_by_rows
from backend.errors import Invalid, NotFound
from backend.media import probe_video
from backend.models import Video
from backend.services import duplicates as dupes
from backend.services.naming import checked_name, display_filename, extension
from backend.services.projects import get_project
from backend.storage import LocalStorage, new_key


def add_video(
    session: Session,
    storage: LocalStorage,
    settings: Settings,
    project_id: int,
    upload: Path,
    filename: str | None,
    sha256: str | None = None,
    duplicates: str = "refuse",
) -> Video:
    """Probe an uploaded file and keep it as a video; on any failure nothing remains.

    A file identical (by SHA-256) to a video of the project is refused with its id, unless
    `duplicates` is "keep".
    """
    try:
        get_project(session, project_id)
        name = display_filename(filename, "video")
        if duplicates not in ("refuse", "keep"):
            raise Invalid("duplicates must be refuse or keep for a video.")
        dupes.screen(session, Video, project_id, [(name, sha256)], duplicates)
        ext = extension(name)
        info = probe_video(upload, ext)
        if info.duration_s > settings.max_video_duration_s:
            raise Invalid(
                f"The video lasts {info.duration_s:.0f} s; the limit is "
                f"{settings.max_video_duration_s:.0f} s."
            )
        if info.width * info.height > settings.max_frame_pixels:
            raise Invalid(f"Frames of {info.width}x{info.height} exceed the configured size limit.")
        key = new_key(f"projects/{project_id}/videos", ext or ".video")
        size = upload.stat().st_size
        storage.put_file(upload, key)
    finally:
        upload.unlink(missing_ok=True)
    video = Video(
        project_id=project_id,
        filename=name,
        storage_key=key,
        size_bytes=size,
        container=info.container,
        codec=info.codec,
        fps=info.fps,
        duration_s=info.duration_s,
        width=info.width,
        height=info.height,
        frame_count=info.frame_count,
        rotation=info.rotation,
        content_sha256=sha256 or None,
    )
    session.add(video)
    with files_owned_by_rows(session, storage, [key]):
        session.commit()  # here: the file must not outlive a failed commit
    return video


def get_video(session: Session, video_id: int) -> Video:
    """A video by id, or NotFound."""
    video = session.get(Video, video_id)
    if video is None:
        raise NotFound(f"Video {video_id} does not exist.")
    return video


def rename_video(session: Session, video_id: int, filename: str) -> Video:
    """Give a video another display name (its stored file keeps its key)."""
    video = get_video(session, video_id)
    video.filename = checked_name(filename, 255, "video")
    session.flush()
    return video


def list_videos(session: Session, project_id: int) -> list[Video]:
    """A project's videos in upload order."""
    get_project(session, project_id)
    return list(
        session.scalars(select(Video).where(Video.project_id == project_id).order_by(Video.id))
    )
