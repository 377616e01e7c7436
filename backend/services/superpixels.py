"""Superpixels of a frame for the painter's superpixel tool: computed by a job, cached in storage.

A frame's superpixels are a label image (one uint16 id per pixel, ids 0..count-1) stored as a
16-bit greyscale PNG whose rows all use PNG filter 0, so the painter decodes it with a plain
inflate. Computed with scikit-image's SLIC (chosen over Felzenszwalb by bench/superpixels.py)
at a granularity the user picks; the granularity fixes the number of superpixels per frame,
whatever the frame's size.
"""

import io
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Invalid, NotFound
from backend.models import Frame, Job
from backend.services import jobs
from backend.services.frames import get_frame
from backend.storage import LocalStorage

KIND = "superpixels"
# SLIC parameters per granularity: about this many superpixels per frame (see bench/superpixels.py).
# A small frame gets fewer: a superpixel covers at least `min_area` pixels.
GRANULARITIES: dict[str, dict[str, Any]] = {
    "fine": {"n_segments": 2000, "compactness": 10.0, "min_area": 64},
    "coarse": {"n_segments": 500, "compactness": 10.0, "min_area": 256},
}
DEFAULT_GRANULARITY = "fine"
METHOD = "slic1"  # part of the cache key: changing the parameters must not serve old files
ACTIVE = ("queued", "running")


@dataclass
class SuperpixelState:
    """Whether a frame's superpixels at a granularity are cached, and the job computing them."""

    frame_id: int
    granularity: str
    ready: bool
    job: Job | None = None
    queued_now: bool = False  # the job was created by this request: the caller enqueues it


def storage_key(frame: Frame, granularity: str) -> str:
    """Where a frame's superpixels at a granularity are cached (derived from the frame's key)."""
    return f"superpixels/{frame.storage_key.removesuffix('.png')}-{granularity}-{METHOD}.png"


def all_keys(frame: Frame) -> set[str]:
    """Every cache key a frame's superpixels may have (deleted with the frame)."""
    return {storage_key(frame, g) for g in GRANULARITIES}


def _check(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        names = ", ".join(GRANULARITIES)
        raise Invalid(f"Unknown superpixel granularity {granularity!r}; use one of: {names}.")


def compute(image: np.ndarray, granularity: str) -> np.ndarray:
    """SLIC superpixels of an RGB image: uint16 ids 0..count-1, each one connected region."""
    from skimage.segmentation import slic  # the worker's dependency; the web never computes

    _check(granularity)
    params = dict(GRANULARITIES[granularity])
    most = max(1, image.shape[0] * image.shape[1] // params.pop("min_area"))
    params["n_segments"] = min(params["n_segments"], most)
    labels = slic(image, start_label=0, **params)
    # Renumber densely: the painter indexes its per-superpixel tables by id.
    _, dense = np.unique(labels, return_inverse=True)
    return dense.reshape(labels.shape).astype(np.uint16)


def encode(labels: np.ndarray) -> bytes:
    """A 16-bit greyscale PNG of uint16 labels, every row with filter 0 (big-endian samples)."""
    height, width = labels.shape
    rows = np.zeros((height, 1 + 2 * width), np.uint8)
    rows[:, 1:] = labels.astype(">u2").view(np.uint8).reshape(height, 2 * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    idat = zlib.compress(rows.tobytes(), 6)
    parts = [chunk(b"IHDR", header), chunk(b"IDAT", idat), chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(parts)


def decode(data: bytes) -> np.ndarray:
    """The uint16 labels of a stored superpixel PNG."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image).astype(np.uint16)


def _active_job(session: Session, frame: Frame, granularity: str) -> Job | None:
    query = select(Job).where(
        Job.kind == KIND, Job.project_id == frame.project_id, Job.status.in_(ACTIVE)
    )
    for job in session.scalars(query.order_by(Job.id)):
        params = job.params or {}
        if params.get("frame_id") == frame.id and params.get("granularity") == granularity:
            return job
    return None


def request_superpixels(
    session: Session, storage: LocalStorage, frame_id: int, granularity: str
) -> SuperpixelState:
    """Ready when cached; else the job already computing them, or a new queued one."""
    _check(granularity)
    frame = get_frame(session, frame_id)
    state = SuperpixelState(frame.id, granularity, storage.exists(storage_key(frame, granularity)))
    if state.ready:
        return state
    state.job = _active_job(session, frame, granularity)
    if state.job is None:
        params = {"frame_id": frame.id, "granularity": granularity}
        state.job = jobs.create_job(session, KIND, params, frame.project_id)
        state.queued_now = True
    return state


def read_superpixels(
    session: Session, storage: LocalStorage, frame_id: int, granularity: str
) -> bytes:
    """The cached superpixel PNG, or NotFound (with what to do) when not computed yet."""
    _check(granularity)
    frame = get_frame(session, frame_id)
    key = storage_key(frame, granularity)
    if not storage.exists(key):
        raise NotFound(
            f"The {granularity} superpixels of frame {frame.id} are not computed yet; "
            "POST to this address to compute them."
        )
    with storage.open_read(key) as fh:
        return fh.read()


def ensure_superpixels(
    storage: LocalStorage, frame: Frame, granularity: str, progress=None
) -> dict[str, Any]:
    """Compute and store a frame's superpixels unless cached; returns what the job records."""
    _check(granularity)
    key = storage_key(frame, granularity)
    done = {"frame_id": frame.id, "granularity": granularity}
    if storage.exists(key):  # a re-run, or another job was first: nothing to do
        with storage.open_read(key) as fh:
            return {**done, "count": int(decode(fh.read()).max()) + 1, "cached": True}
    with storage.open_read(frame.storage_key) as fh, Image.open(fh) as image:
        pixels = np.asarray(image.convert("RGB"))
    if progress is not None:
        progress(0.1, f"computing {granularity} superpixels")
    labels = compute(pixels, granularity)
    if progress is not None:
        progress(0.9, "storing")
    storage.put_bytes(key, encode(labels))  # temp file + rename: never half-written
    return {**done, "count": int(labels.max()) + 1, "cached": False}


def run_superpixels(ctx: jobs.JobContext) -> dict[str, Any]:
    """Job body: compute one frame's superpixels at one granularity (safe to re-run)."""
    from backend.db import session_scope

    frame_id, granularity = int(ctx.params["frame_id"]), str(ctx.params["granularity"])
    ctx.progress(0.0, "reading the frame")
    with session_scope(ctx.sessions) as session:
        row = session.get(Frame, frame_id)
        if row is None:
            raise NotFound(f"Frame {frame_id} was deleted.")
        # A detached copy: no database transaction stays open while SLIC runs for seconds.
        frame = Frame(id=row.id, storage_key=row.storage_key, project_id=row.project_id)
    return ensure_superpixels(ctx.storage, frame, granularity, ctx.progress)
