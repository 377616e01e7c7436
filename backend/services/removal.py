"""Deleting projects, videos, frames and models: a preview of what goes, then the deletion.

The jobs still queued or running that use the thing are cancelled. Rows are deleted and
committed before any file (a failed commit leaves both as they were; a crash after it leaves
files no row names, which fsck reports). A report stays while another model it scores still
exists: scores and predictions live with its job. Deleting frames keeps every report; their
cached figures are rebuilt without them. The preview's token names what it counted: a DELETE
that sends it is refused (409) when more would go than the person confirmed.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db import begin_write
from backend.errors import Conflict
from backend.models import Frame, Job, Mask, Project, SegModel, Video
from backend.models.base import utcnow
from backend.services import superpixels
from backend.services.frames import get_frame
from backend.services.projects import get_project
from backend.services.references import scored_models, unreferenced
from backend.services.seg_models import get_model
from backend.services.videos import get_video
from backend.storage import LocalStorage

ACTIVE = ("queued", "running")
REPORT_KINDS = ("train", "evaluate")
# How each count reads: (one, several).
WORDS = {
    "videos": ("1 video", "{n} videos"),
    "video_file": ("the video file", "{n} video files"),
    "frames": ("1 frame", "{n} frames"),
    "masks": ("1 mask version", "{n} mask versions"),
    "labeled": ("of them, 1 labeled frame", "of them, {n} labeled frames"),
    "model_files": ("1 model file (checkpoint)", "{n} model files (checkpoint and ONNX export)"),
    "models": ("1 model", "{n} models"),
    "jobs": ("1 job with its files", "{n} jobs with their files"),
    "based": (
        "1 fine-tune made from it keeps its scores, but no longer links to it",
        "{n} fine-tunes made from it keep their scores, but no longer link to it",
    ),
    "refreshed": (
        "1 report keeps its scores but loses these frames' pictures",
        "{n} reports keep their scores but lose these frames' pictures",
    ),
}
KIND_WORDS = {
    "sample": "sampling",
    "train": "fine-tune",
    "evaluate": "evaluation",
    "prelabel": "pre-label",
    "propagate": "propagation",
    "suggest": "suggestion",
    "register_model": "model check",
    "export_onnx": "ONNX export",
    "export": "dataset export",
    "import": "dataset import",
    "predict": "video prediction",
}


@dataclass
class Plan:
    """What deleting one thing removes, cancels and keeps."""

    kind: str
    thing_id: int
    name: str
    counts: dict[str, int]
    rows: list = field(default_factory=list)
    cancel: list[Job] = field(default_factory=list)
    reports_removed: list[Job] = field(default_factory=list)
    reports_kept: list[int] = field(default_factory=list)
    reports_refreshed: list[int] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    prefixes: list[str] = field(default_factory=list)

    @property
    def token(self) -> str:
        """A fingerprint of what the preview counted (sent back with the DELETE)."""
        seen = [self.counts, sorted(j.id for j in self.cancel), self.removed_ids]
        return hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def removed_ids(self) -> list[int]:
        """Ids of the jobs whose reports go."""
        return sorted(j.id for j in self.reports_removed)

    def lines(self) -> list[str]:
        """What goes, in sentences a person confirms."""
        out = [WORDS[k][n != 1].format(n=n) for k, n in self.counts.items() if n]
        if self.cancel:
            named = ", ".join(f"{KIND_WORDS.get(j.kind, j.kind)} #{j.id}" for j in self.cancel)
            out.append(f"Cancels {_n(len(self.cancel), 'running or queued job')}: {named}")
        removed, kept, refreshed = self.removed_ids, self.reports_kept, self.reports_refreshed
        if removed:
            jobs = f"job{'s' * (len(removed) > 1)} {_ids(removed)}"
            out.append(f"Removes {_n(len(removed), 'report')} ({jobs})")
        if kept:
            out.append(f"Keeps {_n(len(kept), 'report')} that other models need ({_ids(kept)})")
        if refreshed:
            out.append(WORDS["refreshed"][len(refreshed) != 1].format(n=len(refreshed)))
        return out


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids)


def _active_jobs(session: Session, project_id: int | None = None) -> list[Job]:
    query = select(Job).where(Job.status.in_(ACTIVE)).order_by(Job.id)
    if project_id is not None:
        query = query.where(Job.project_id == project_id)
    return list(session.scalars(query))


def _uses_models(job: Job, ids: set[int]) -> bool:
    params = job.params or {}
    named = {params.get("model_id"), params.get("base_model_id"), params.get("compare_model_id")}
    named |= set(params.get("model_ids") or [])
    return bool(named & ids)


def _uses_frames(job: Job, frames: list[Frame]) -> bool:
    """Whether an active job of the frames' project reads any of them."""
    params = job.params or {}
    if job.kind in REPORT_KINDS:  # fine-tunes and evaluations read the split frames
        return any(f.split for f in frames)
    if job.kind in ("prelabel", "propagate", "suggest"):
        chosen = params.get("frame_ids")
        return chosen is None or bool(set(chosen) & {f.id for f in frames})
    if job.kind == superpixels.KIND:
        return params.get("frame_id") in {f.id for f in frames}
    return job.kind == "export"


def _frame_plan(session: Session, plan: Plan, frames: list[Frame]) -> None:
    """Add the frames' files, the jobs reading them and the reports that scored them."""
    ids = {f.id for f in frames}
    masks = list(session.scalars(select(Mask).where(Mask.frame_id.in_(ids)))) if ids else []
    plan.counts["frames"] = len(frames)
    plan.counts["masks"] = len(masks)
    plan.counts["labeled"] = sum(1 for f in frames if f.mask_version)
    for frame in frames:
        plan.keys |= {frame.storage_key, f"thumbs/{frame.storage_key.removesuffix('.png')}.jpg"}
        plan.keys |= superpixels.all_keys(frame)
    plan.keys |= {m.storage_key for m in masks}
    if frames:
        project_id = frames[0].project_id
        plan.cancel += [j for j in _active_jobs(session, project_id) if _uses_frames(j, frames)]
        done = select(Job).where(
            Job.project_id == project_id, Job.kind.in_(REPORT_KINDS), Job.status == "succeeded"
        )
        for job in session.scalars(done.order_by(Job.id)):
            if set((job.result or {}).get("test_frame_ids") or []) & ids:
                plan.reports_refreshed.append(job.id)
                plan.prefixes.append(f"jobs/{job.id}/report")


def _scored_ids(job: Job) -> set[int]:
    result, params = job.result or {}, job.params or {}
    ids = {s.get("model_id") for s in scored_models(job.kind, result)}
    ids |= {result.get("model_id"), params.get("base_model_id"), *(params.get("model_ids") or [])}
    return {i for i in ids if isinstance(i, int)}


def _model_plan(session: Session, plan: Plan, models: list[SegModel], gone_project: int | None):
    """Add the models' files, the jobs using them, and the reports only they needed."""
    ids = {m.id for m in models}
    for model in models:
        plan.keys |= {k for k in (model.storage_key, model.onnx_key) if k}
    plan.cancel += [
        j
        for j in _active_jobs(session)
        if _uses_models(j, ids) and (gone_project is None or j.project_id != gone_project)
    ]
    done = select(Job).where(Job.kind.in_(REPORT_KINDS), Job.status == "succeeded")
    if gone_project is not None:  # the project's own reports go with it anyway
        done = done.where(Job.project_id != gone_project)
    for job in session.scalars(done.order_by(Job.id)):
        scored = _scored_ids(job)
        if not scored & ids:
            continue
        others = scored - ids
        alive = others and session.scalar(
            select(func.count()).select_from(SegModel).where(SegModel.id.in_(others))
        )
        if alive:
            plan.reports_kept.append(job.id)
        else:
            plan.reports_removed.append(job)
            plan.prefixes.append(f"jobs/{job.id}")


def plan_frame(session: Session, frame_id: int) -> Plan:
    """What deleting one frame removes."""
    frame = get_frame(session, frame_id)
    name = frame.source_name or f"frame {frame.id}"
    plan = Plan("frame", frame.id, name, {}, rows=[frame])
    _frame_plan(session, plan, [frame])
    return plan


def plan_video(session: Session, video_id: int) -> Plan:
    """What deleting a video with its frames removes."""
    video = get_video(session, video_id)
    frames = list(session.scalars(select(Frame).where(Frame.video_id == video.id)))
    plan = Plan("video", video.id, video.filename, {"video_file": 1}, rows=[video])
    plan.keys.add(video.storage_key)
    plan.cancel = [
        j
        for j in _active_jobs(session, video.project_id)
        if j.kind in ("sample", "predict") and (j.params or {}).get("video_id") == video.id
    ]
    _frame_plan(session, plan, frames)
    return plan


def plan_model(session: Session, model_id: int) -> Plan:
    """What deleting one model (any status: ready, failed, still being checked) removes."""
    model = get_model(session, model_id)
    files = 1 + bool(model.onnx_key)
    plan = Plan("model", model.id, model.name, {"model_files": files}, rows=[model])
    _model_plan(session, plan, [model], None)
    based = select(func.count()).select_from(SegModel).where(SegModel.base_model_id == model.id)
    plan.counts["based"] = session.scalar(based) or 0
    return plan


def plan_project(session: Session, project_id: int) -> Plan:
    """What deleting a project with everything in it removes."""
    project = get_project(session, project_id)

    def count(model, *where) -> int:
        query = select(func.count()).select_from(model).where(*where)
        return session.scalar(query) or 0

    frames = select(Frame.id).where(Frame.project_id == project_id)
    counts = {
        "videos": count(Video, Video.project_id == project_id),
        "frames": count(Frame, Frame.project_id == project_id),
        "masks": count(Mask, Mask.frame_id.in_(frames)),
        "models": count(SegModel, SegModel.project_id == project_id),
        "jobs": count(Job, Job.project_id == project_id),
    }
    plan = Plan("project", project.id, project.name, counts, rows=[project])
    plan.cancel = _active_jobs(session, project_id)
    models = list(session.scalars(select(SegModel).where(SegModel.project_id == project_id)))
    _model_plan(session, plan, models, project_id)
    job_ids = session.scalars(select(Job.id).where(Job.project_id == project_id))
    plan.prefixes += [f"projects/{project_id}", f"thumbs/projects/{project_id}"]
    plan.prefixes.append(f"superpixels/projects/{project_id}")
    plan.prefixes += [f"jobs/{job_id}" for job_id in job_ids]
    return plan


PLANS: dict[str, Callable[[Session, int], Plan]] = {
    "project": plan_project,
    "video": plan_video,
    "frame": plan_frame,
    "model": plan_model,
}


def delete(
    session: Session,
    storage: LocalStorage,
    kind: str,
    thing_id: int,
    token: str | None = None,
    revoke: Callable[[Job], None] | None = None,
) -> Plan:
    """Delete the thing as its plan says: cancel jobs, delete rows, commit, then delete files."""
    # Until the commit no job adds rows under the thing (frames of a video, masks of a frame)
    # that the plan would not name the files of. PostgreSQL: the row lock blocks their foreign
    # key checks; SQLite: this transaction becomes the only writer.
    begin_write(session)
    model = {"project": Project, "video": Video, "frame": Frame, "model": SegModel}[kind]
    session.execute(select(model.id).where(model.id == thing_id).with_for_update())
    plan = PLANS[kind](session, thing_id)
    if token is not None and token != plan.token:
        raise Conflict(
            f"The {kind} changed since you looked; it now removes: "
            f"{'; '.join(plan.lines()) or 'nothing more'}. Review and confirm again."
        )
    message = f"cancelled: {kind} {thing_id} was deleted"
    for job in plan.cancel:
        if kind == "project" and job.project_id == thing_id:
            continue  # its row goes with the project; the worker stops at its next report
        if job.status == "queued":
            job.status, job.finished_at, job.message = "cancelled", utcnow(), message
        else:  # the worker stops at its next progress report
            job.cancel_requested, job.message = True, message.replace("cancelled", "cancelling")
    for row in [*plan.reports_removed, *plan.rows]:
        session.delete(row)
    session.flush()
    # Only files no remaining row refers to (keys can be shared, e.g. a restored mask).
    orphans = unreferenced(session, plan.keys)
    try:
        session.commit()
    except BaseException:
        session.rollback()  # nothing was deleted from storage yet: rows and files agree
        raise
    for key in orphans:
        storage.delete(key)
    for prefix in plan.prefixes:
        storage.delete_tree(prefix)
    if revoke is not None:
        for job in plan.cancel:
            revoke(job)
    return plan
