"""What fsck does about rows whose file is missing, taking care of the rows that depend on them.

- video: its frames are stored separately and may carry people's masks, so they are kept,
  detached from the video (named after it); the video row goes.
- frame: without its image it cannot be shown, painted or trained on; it goes with its mask
  versions (whose files are removed too).
- mask version: that version goes; if it was the frame's current one, the newest remaining
  version becomes current (none left: the frame is unlabeled again).
- model checkpoint: the model goes (with its ONNX file); models fine-tuned from it stay.
- ONNX export: the model forgets it (export again).
- job output (export zip, prediction, timeline picture): the job and its scores stay; the
  reference is dropped, so its download or figure says the file is gone.
"""

import copy
from collections.abc import Iterator
from pathlib import PurePosixPath

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.models import Frame, Job, Mask, SegModel, Video
from backend.services.references import Ref, scored_models

ORDER = {"videos": 0, "frames": 1}  # detach and delete frames before looking at their masks


def _video(session: Session, ref: Ref, delete: bool) -> str:
    video = session.get(Video, ref.row_id)
    frames = list(session.scalars(select(Frame).where(Frame.video_id == video.id)))
    if delete:
        stem = PurePosixPath(video.filename).stem or "video"
        for frame in frames:
            # The name an export gave the frame while it had its video.
            frame.source_name = frame.source_name or f"{stem}_{frame.index or 0:06d}.png"
            frame.video_id = None
        session.flush()
        session.delete(video)
        session.flush()
    return f"delete the video row; its {len(frames)} frames stay, without a video"


def _frame(session: Session, ref: Ref, delete: bool, doomed: list[str]) -> str:
    keys = list(session.scalars(select(Mask.storage_key).where(Mask.frame_id == ref.row_id)))
    if delete:
        session.execute(sql_delete(Mask).where(Mask.frame_id == ref.row_id))
        session.execute(sql_delete(Frame).where(Frame.id == ref.row_id))
        doomed += keys
    return f"delete the frame and its {len(keys)} mask versions"


def _mask(session: Session, ref: Ref, delete: bool, missing: set[int]) -> str:
    mask = session.get(Mask, ref.row_id)
    frame = session.get(Frame, mask.frame_id)
    action = f"delete mask version {mask.version}"
    if frame.mask_version == mask.version:
        others = select(func.max(Mask.version)).where(
            Mask.frame_id == frame.id, Mask.id != mask.id, Mask.id.not_in(missing)
        )
        current = session.scalar(others) or 0
        action += (
            f"; version {current} is current again"
            if current
            else "; the frame has no mask left and is unlabeled again"
        )
        if delete:
            frame.mask_version = current
            if not current:
                frame.label_status = "unlabeled"
    if delete:
        session.delete(mask)
        session.flush()
    return action


def _model(session: Session, ref: Ref, delete: bool, doomed: list[str]) -> str:
    model = session.get(SegModel, ref.row_id)
    if ref.field == "onnx_key":
        if delete:
            model.onnx_key = None
        return "forget the ONNX export; the model stays (export it again)"
    onnx = model.onnx_key
    if delete:
        session.delete(model)
        session.flush()
        doomed += [onnx] if onnx else []
    return "delete the model row" + (" and its ONNX file" if onnx else "")


def _job(session: Session, ref: Ref, delete: bool) -> str:
    if delete:
        job = session.get(Job, ref.row_id)
        result, detail = copy.deepcopy(job.result or {}), copy.deepcopy(job.detail or {})
        if result.get("storage_key") == ref.key:
            result["storage_key"] = None
        for scored in scored_models(job.kind, result):
            if "prediction_keys" in scored:  # positions stay: the k-th belongs to test frame k
                scored["prediction_keys"] = [
                    None if key == ref.key else key for key in scored["prediction_keys"]
                ]
        for entry in detail.get("timeline") or []:
            entry["overlays"] = [o for o in entry.get("overlays") or [] if o["key"] != ref.key]
        job.result, job.detail = result or job.result, detail or job.detail
        session.flush()
    return "drop the reference; the job and its scores stay"


def repair(
    session: Session, missing: list[Ref], delete: bool, doomed: list[str]
) -> Iterator[tuple[Ref, str]]:
    """For each reference to a missing file, what is done about its row (done when delete).

    Files that become unreferenced are added to doomed, to delete once the rows are committed.
    """
    gone_frames = {r.row_id for r in missing if r.table == "frames"}
    gone_models = {r.row_id for r in missing if r.table == "seg_models" and r.field != "onnx_key"}
    missing_masks = {r.row_id for r in missing if r.table == "masks"}
    for ref in sorted(missing, key=lambda r: ORDER.get(r.table, 2)):
        if ref.table == "videos":
            yield ref, _video(session, ref, delete)
        elif ref.table == "frames":
            yield ref, _frame(session, ref, delete, doomed)
        elif ref.table == "masks":
            mask = session.get(Mask, ref.row_id)
            if mask is None or mask.frame_id in gone_frames:
                yield ref, "goes with its frame"
            else:
                yield ref, _mask(session, ref, delete, missing_masks)
        elif ref.table == "seg_models":
            if ref.field == "onnx_key" and ref.row_id in gone_models:
                yield ref, "goes with its model"
            else:
                yield ref, _model(session, ref, delete, doomed)
        else:
            yield ref, _job(session, ref, delete)
