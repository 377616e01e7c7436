"""Dataset export: a project (or one split) as a zip of images, masks, previews and a manifest.

- segtune layout: `images/<n>.png`, `masks/<n>.png` (the stored mask bytes, unchanged),
  `previews/<n>.jpg` (class colours blended over the image, unlabeled pixels left as they are).
- cityscapes layout: `leftImg8bit/<split>/<city>/<n>_leftImg8bit.png`,
  `gtFine/<split>/<city>/<n>_gtFine_labelIds.png` (project class ids, not Cityscapes label ids)
  and `..._gtFine_color.png` (plain class colours, unlabeled black); <split> is train, val, test
  or `unassigned`, <city> the source video's file stem or `images`.
- Both: `manifest.json` (classes; per frame its files, split, label status, source video, frame
  index, timestamp, mask version), so either imports back as layout "segtune"; `coco.json` when
  asked. Frames without a saved mask get no mask file and `"mask": null`.
"""

import io
import json
import posixpath
import re
import zipfile
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import session_scope
from backend.errors import Conflict, Invalid, NotFound
from backend.models import Frame, Job, Mask, Video
from backend.models.base import utcnow
from backend.models.frame import FINISHED
from backend.services.datasets.coco import CocoBuilder
from backend.services.frames import list_frames
from backend.services.jobs import JobContext, create_job, get_job
from backend.services.projects import get_project
from backend.storage import LocalStorage, new_key

EXPORT_LAYOUTS = ("segtune", "cityscapes")
PREVIEW_ALPHA = 0.5
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _select(session: Session, project_id: int, split: str | None, only_labeled: bool):
    frames = list_frames(session, project_id, split)
    return [f for f in frames if f.label_status in FINISHED] if only_labeled else frames


def request_export(
    session: Session,
    project_id: int,
    split: str | None = None,
    layout: str = "segtune",
    coco: bool = False,
    only_labeled: bool = False,
) -> Job:
    """Check the options and queue an export job (only_labeled = frames marked done)."""
    get_project(session, project_id)
    if layout not in EXPORT_LAYOUTS:
        raise Invalid(f"layout must be one of {', '.join(EXPORT_LAYOUTS)}.")
    if not _select(session, project_id, split, only_labeled):
        raise Invalid("There are no frames to export with these options.")
    params = {
        "project_id": project_id,
        "split": split,
        "layout": layout,
        "coco": coco,
        "only_labeled": only_labeled,
    }
    return create_job(session, "export", params, project_id, queue="cpu")


def slug(text: str) -> str:
    """A file-name-safe version of a display name."""
    return _UNSAFE.sub("_", text).strip("._-")[:80]


def _frame_names(frames: list[Frame], videos: dict[int, str]) -> list[str]:
    names, used = [], set()
    for frame in frames:
        if frame.video_id is not None and frame.index is not None:
            base = f"{slug(posixpath.splitext(videos[frame.video_id])[0])}_{frame.index:06d}"
        else:
            base = slug(posixpath.splitext(frame.source_name or "")[0])
        base = base or "frame"
        while base in used:
            base = f"{base}_{frame.id}"
        used.add(base)
        names.append(base)
    return names


def _palette(classes: list[dict[str, Any]]) -> np.ndarray:
    palette = np.zeros((256, 3), np.uint8)
    for cls in classes:
        palette[cls["index"]] = [int(cls["color"][i : i + 2], 16) for i in (1, 3, 5)]
    return palette


def _blend(image_path, labels: np.ndarray, palette: np.ndarray) -> bytes:
    with Image.open(image_path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    coloured = palette[labels].astype(np.float32)
    alpha = np.where(labels == 255, 0.0, PREVIEW_ALPHA)[..., None]
    out = (pixels * (1 - alpha) + coloured * alpha).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _plain_colours(labels: np.ndarray, palette: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(palette[labels]).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _paths(layout: str, frame: Frame, name: str, videos: dict[int, str]) -> dict[str, str]:
    if layout == "segtune":
        return {
            "image": f"images/{name}.png",
            "mask": f"masks/{name}.png",
            "preview": f"previews/{name}.jpg",
        }
    city = slug(posixpath.splitext(videos[frame.video_id])[0]) if frame.video_id else "images"
    folder = f"{frame.split or 'unassigned'}/{city or 'video'}"
    return {
        "image": f"leftImg8bit/{folder}/{name}_leftImg8bit.png",
        "mask": f"gtFine/{folder}/{name}_gtFine_labelIds.png",
        "preview": f"gtFine/{folder}/{name}_gtFine_color.png",
    }


def run_export(ctx: JobContext) -> dict[str, Any]:
    """Job body: write the zip under a fresh storage key; returns where it is and what it holds."""
    p = ctx.params
    with session_scope(ctx.sessions) as session:
        project = get_project(session, p["project_id"])
        classes = [{"index": c.index, "name": c.name, "color": c.color} for c in project.classes]
        frames = _select(session, project.id, p.get("split"), p.get("only_labeled", False))
        video_rows = select(Video.id, Video.filename).where(Video.project_id == project.id)
        videos = dict(session.execute(video_rows).all())
        current = select(Mask.frame_id, Mask.storage_key).join(Frame, Frame.id == Mask.frame_id)
        current = current.where(Frame.project_id == project.id, Mask.version == Frame.mask_version)
        masks = dict(session.execute(current).all())
        project_name = project.name
    key = new_key(f"projects/{p['project_id']}/exports", ".zip")
    palette = _palette(classes)
    coco = CocoBuilder(classes) if p.get("coco") else None
    entries = []
    with ctx.storage.open_write(key) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
        names = _frame_names(frames, videos)
        for i, (frame, name) in enumerate(zip(frames, names, strict=True)):
            ctx.progress(i / max(len(frames), 1), f"{i}/{len(frames)} frames")
            paths = _paths(p["layout"], frame, name, videos)
            image_path = ctx.storage.path(frame.storage_key)
            zf.write(image_path, paths["image"])
            labels = None
            if frame.id in masks and frame.mask_version > 0:
                data = _read(ctx.storage, masks[frame.id])
                zf.writestr(paths["mask"], data)
                labels = np.asarray(Image.open(io.BytesIO(data)), dtype=np.uint8)
                preview = (
                    _blend(image_path, labels, palette)
                    if p["layout"] == "segtune"
                    else _plain_colours(labels, palette)
                )
                zf.writestr(paths["preview"], preview)
            else:
                paths["mask"] = paths["preview"] = None
            entries.append(_entry(frame, name, paths, videos))
            if coco is not None:
                coco.add(frame.id, paths["image"], labels, width=frame.width, height=frame.height)
        manifest = {
            "format": "segtune-export",
            "version": 1,
            "created_at": utcnow().isoformat(),
            "project": {"id": p["project_id"], "name": project_name},
            "layout": p["layout"],
            "split": p.get("split"),
            "unlabeled_value": 255,
            "classes": classes,
            "frames": entries,
        }
        deflate = zipfile.ZIP_DEFLATED
        zf.writestr("manifest.json", json.dumps(manifest, indent=1), compress_type=deflate)
        if coco is not None:
            document = json.dumps(coco.document(f"SegTune project {project_name}"))
            zf.writestr("coco.json", document, compress_type=deflate)
    filename = f"{slug(project_name) or 'project'}-{p.get('split') or 'all'}-{p['layout']}.zip"
    return {
        "storage_key": key,
        "filename": filename,
        "frames": len(entries),
        "masks": sum(1 for e in entries if e["mask"]),
        "bytes": ctx.storage.path(key).stat().st_size,
    }


def _read(storage: LocalStorage, key: str) -> bytes:
    with storage.open_read(key) as fh:
        return fh.read()


def _entry(frame: Frame, name: str, paths: dict, videos: dict[int, str]) -> dict[str, Any]:
    return {
        "id": frame.id,
        "name": name,
        **paths,
        "width": frame.width,
        "height": frame.height,
        "split": frame.split,
        "split_locked": frame.split_locked,
        "label_status": frame.label_status,
        "mask_version": frame.mask_version,
        "source": {
            "video": videos.get(frame.video_id) if frame.video_id else None,
            "frame_index": frame.index,
            "timestamp_s": frame.timestamp_s,
            "name": frame.source_name,
        },
    }


def export_file(session: Session, storage: LocalStorage, job_id: int) -> tuple[str, str]:
    """Storage key and download file name of a finished export job."""
    job = get_job(session, job_id)
    if job.kind != "export":
        raise NotFound(f"Job {job_id} is not an export.")
    if job.status != "succeeded":
        raise Conflict(f"Export {job_id} is {job.status}; download it once it has succeeded.")
    key = (job.result or {}).get("storage_key")
    if not key or not storage.exists(key):
        raise NotFound(f"The file of export {job_id} is gone; export again.")
    return key, job.result.get("filename") or f"export-{job_id}.zip"
