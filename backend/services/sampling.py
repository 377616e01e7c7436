"""Frame sampling: request it as a job, and the job body that the worker runs."""

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import session_scope
from backend.errors import Invalid
from backend.media import (
    FrameIndex,
    decode_selected,
    exact,
    index_frames,
    select_by_rate,
    upright_image,
)
from backend.models import Frame, Job
from backend.services.jobs import JobContext, create_job
from backend.services.videos import get_video
from backend.storage import LocalStorage, new_key

IN_FLIGHT = 6  # decoded frames waiting for PNG encoding; bounds memory at 4K


def request_sampling(
    session: Session,
    settings: Settings,
    video_id: int,
    fps: float | None = None,
    every_n_frames: int | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    max_frames: int | None = None,
) -> Job:
    """Validate sampling settings and queue a sampling job for a video."""
    video = get_video(session, video_id)
    if (fps is None) == (every_n_frames is None):
        raise Invalid("Give exactly one of fps or every_n_frames.")
    if fps is not None and not 0 < fps <= 240:
        raise Invalid("fps must be above 0 and at most 240.")
    if every_n_frames is not None and every_n_frames < 1:
        raise Invalid("every_n_frames must be at least 1.")
    start = start_s or 0.0
    end = video.duration_s if end_s is None else end_s
    if start < 0 or end <= start:
        raise Invalid("start_s must be at least 0 and below end_s.")
    if max_frames is not None and not 1 <= max_frames <= settings.max_sampled_frames:
        raise Invalid(f"max_frames must be between 1 and {settings.max_sampled_frames}.")
    params = {
        "video_id": video_id,
        "fps": fps,
        "every_n_frames": every_n_frames,
        "start_s": start,
        "end_s": end,
        "max_frames": max_frames or settings.max_sampled_frames,
    }
    return create_job(session, "sample", params, video.project_id, queue="cpu")


def choose_frames(index: FrameIndex, params: dict[str, Any]) -> list[int]:
    """Indices (in presentation order) of the frames a sampling request selects."""
    origin = index.pts[0] if index.pts else 0
    times = [(p - origin) * index.time_base for p in index.pts]
    start, end = exact(params["start_s"]), exact(params["end_s"])
    inside = [i for i, t in enumerate(times) if start <= t <= end]
    if params.get("fps"):
        rel = [times[i] - start for i in inside]
        chosen = [inside[k] for k in select_by_rate(rel, exact(params["fps"]), _shown_until(rel))]
    else:
        chosen = inside[:: params["every_n_frames"]]
    limit = params["max_frames"]
    if len(chosen) > limit:
        # Thin evenly over the whole range rather than truncating, so it stays uniform in time.
        picks = np.linspace(0, len(chosen) - 1, limit).round().astype(int)
        chosen = [chosen[p] for p in picks]
    return chosen


def _shown_until(times: list) -> object:
    """When the last frame stops being shown: its time plus one frame interval."""
    if len(times) < 2:
        return times[-1] if times else 0
    return times[-1] + (times[-1] - times[-2])


def run_sampling(ctx: JobContext) -> dict[str, Any]:
    """Decode the selected frames, store them as PNG and add their rows (skips existing ones)."""
    params = ctx.params
    with session_scope(ctx.sessions) as session:
        video = get_video(session, params["video_id"])
        path = ctx.storage.path(video.storage_key)
        project_id, video_id = video.project_id, video.id
        existing = set(session.scalars(select(Frame.index).where(Frame.video_id == video_id)))
    ctx.progress(0.0, "indexing frames")
    index = index_frames(path)
    chosen = choose_frames(index, params)
    todo = {index.pts[i]: i for i in chosen if i not in existing}
    total = len(todo)
    sink = _FrameSink(ctx, project_id, video_id, index, total)
    ctx.progress(0.0, f"decoding {total} frames")
    try:
        decode_selected(path, index, list(todo), lambda pts, frame: sink.add(todo[pts], frame))
        sink.drain()
    except BaseException:
        sink.abort()
        raise
    return {
        "frames_selected": len(chosen),
        "frames_added": sink.added,
        "frames_existing": len(chosen) - total,
    }


class _FrameSink:
    """Encodes frames on a thread pool and inserts their rows in order, reporting progress."""

    def __init__(
        self, ctx: JobContext, project_id: int, video_id: int, index: FrameIndex, total: int
    ):
        self.ctx, self.project_id, self.video_id = ctx, project_id, video_id
        self.index, self.total, self.added = index, total, 0
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.pending: list[tuple[int, float, str, Future]] = []
        self.last_report = 0.0

    def add(self, frame_index: int, frame) -> None:
        """Queue one decoded frame for encoding and storing."""
        key = new_key(f"projects/{self.project_id}/frames", ".png")
        timestamp = round(self.index.time(frame.pts) - self.index.time(self.index.pts[0]), 6)
        future = self.pool.submit(_store_png, self.ctx.storage, key, frame)
        self.pending.append((frame_index, timestamp, key, future))
        if len(self.pending) >= IN_FLIGHT:
            self._flush(keep=IN_FLIGHT // 2)

    def drain(self) -> None:
        """Store everything still pending."""
        self._flush(keep=0)
        self.pool.shutdown()

    def abort(self) -> None:
        """Wait for in-flight writes and remove their files: no file without a row."""
        for _, _, key, future in self.pending:
            future.exception()
            self.ctx.storage.delete(key)
        self.pending.clear()
        self.pool.shutdown()

    def _flush(self, keep: int) -> None:
        ready, self.pending = (
            self.pending[: len(self.pending) - keep],
            self.pending[len(self.pending) - keep :],
        )
        rows = []
        for frame_index, timestamp, key, future in ready:
            width, height = future.result()
            rows.append(
                Frame(
                    project_id=self.project_id,
                    video_id=self.video_id,
                    index=frame_index,
                    timestamp_s=timestamp,
                    storage_key=key,
                    width=width,
                    height=height,
                )
            )
        if rows:
            with session_scope(self.ctx.sessions) as session:
                session.add_all(rows)
            self.added += len(rows)
        now = time.monotonic()
        if now - self.last_report > 0.3 or not self.pending:
            self.last_report = now
            self.ctx.progress(self.added / max(self.total, 1), f"{self.added}/{self.total} frames")


def _store_png(storage: LocalStorage, key: str, frame) -> tuple[int, int]:
    image = upright_image(frame)
    # Level 1 is still lossless; higher levels cost several times the time for ~10% less disk.
    with storage.open_write(key) as fh:
        image.save(fh, format="PNG", compress_level=1)
    return image.width, image.height
