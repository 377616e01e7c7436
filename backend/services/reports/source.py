"""What a report is made of: a finished job's two scored models and the files they point at."""

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Conflict, NotFound
from backend.models import Frame, Job, Mask, Project
from backend.services.jobs import get_job
from backend.services.reports.blocks import FrameFacts
from backend.storage import LocalStorage

# Used when the project's classes no longer match the job's (renamed or reordered since).
FALLBACK_COLORS = ("#000000", "#1f77ff", "#ffd200", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


@dataclass(frozen=True)
class ReportSource:
    """Two models scored on the same test frames by one finished job, with classes and colours.

    A fine-tune job (kind "train") gives before = the base model (None when trained from random
    initialisation) and after = the fine-tuned model. An evaluate job of exactly two models gives
    a comparison: before = model A (its first model id), after = model B (its second).
    """

    job_id: int
    kind: str
    params: dict[str, Any]
    result: dict[str, Any]
    detail: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any]
    class_names: list[str]
    colors: list[str]
    class_pixels: list[int] | None
    frame_ids: list[int]
    mask_versions: list[int | None]
    started_at: Any
    fingerprint: str

    @property
    def is_comparison(self) -> bool:
        """Whether this is a side-by-side comparison of two models (an evaluate job)."""
        return self.kind == "evaluate"

    @property
    def labels(self) -> dict[str, str]:
        """What the two sides are called: the models' names (before/after of a fine-tune)."""
        if self.is_comparison:
            return {"before": _name(self.before), "after": _name(self.after)}
        before = (self.before or {}).get("name") or "base model"
        after = f"fine-tuned model {self.result.get('model_id', '')}".rstrip()
        return {"before": before, "after": after}

    @property
    def model_ids(self) -> dict[str, int | None]:
        """The ids of the two scored models."""
        return {
            "before": (self.before or {}).get("model_id"),
            "after": self.after.get("model_id"),
        }

    @property
    def n_frames(self) -> int:
        """Number of scored test frames."""
        return len(self.after["frame_confusions"])

    def prefix(self) -> str:
        """Storage prefix of this job's cached report files."""
        return f"jobs/{self.job_id}/report"


def _name(scored: dict[str, Any]) -> str:
    return scored.get("name") or f"model {scored.get('model_id')}"


def _train_sides(job: Job) -> tuple[dict | None, dict | None]:
    test = job.result.get("test") or {}
    return test.get("before"), test.get("after")


def _evaluate_sides(job: Job) -> tuple[dict | None, dict | None]:
    models = job.result.get("models") or []
    if len(models) != 2:
        hint = (
            "evaluate it together with another model of the project"
            if len(models) == 1
            else "evaluate the two to compare; each model's scores are in this job's result"
        )
        raise Conflict(
            f"Job {job.id} evaluated {len(models)} model{'s' if len(models) != 1 else ''}; "
            f"a side-by-side report compares exactly two: {hint}."
        )
    return models[0], models[1]


def _class_pixels(counts: Any, names: list[str]) -> list[int] | None:
    """Labeled test pixels per class, from a list (train jobs) or a {name: n} dict (evaluate)."""
    if isinstance(counts, dict):
        counts = [counts[n] for n in names] if set(counts) == set(names) else None
    if not counts or len(counts) != len(names):
        return None
    return [int(n) for n in counts]


def load_source(session: Session, job_id: int) -> ReportSource:
    """The report's inputs; NotFound for an unknown job, Conflict when nothing can be reported."""
    job = get_job(session, job_id)
    if job.kind not in ("train", "evaluate"):
        raise Conflict(
            f"Job {job_id} is a {job.kind} job; reports exist for fine-tune jobs and for "
            "evaluations of two models."
        )
    if job.status != "succeeded" or not job.result:
        raise Conflict(f"Job {job_id} is {job.status}; its report is ready when it succeeds.")
    before, after = _train_sides(job) if job.kind == "train" else _evaluate_sides(job)
    if not after or not after.get("frame_confusions"):
        raise Conflict(f"Job {job_id} had no labeled test frames, so there is nothing to report.")
    if before is not None and len(before["frame_confusions"]) != len(after["frame_confusions"]):
        raise Conflict(f"The two models of job {job_id} were not scored on the same test frames.")
    names = job.result.get("class_names") or [c["name"] for c in after["metrics"]["per_class"]]
    payload = json.dumps([job.result, job.detail], sort_keys=True, default=str)
    return ReportSource(
        job_id=job.id,
        kind=job.kind,
        params=job.params or {},
        result=job.result,
        detail=job.detail or {},
        before=before,
        after=after,
        class_names=list(names),
        colors=_colors(session, job, names),
        class_pixels=_class_pixels(job.result.get("class_pixels"), list(names)),
        frame_ids=list(job.result.get("test_frame_ids") or []),
        mask_versions=list(job.result.get("test_mask_versions") or []),
        started_at=job.started_at,
        fingerprint=hashlib.sha256(payload.encode()).hexdigest()[:16],
    )


def frame_facts(session: Session, source: ReportSource) -> list[FrameFacts]:
    """Where each scored test frame sits in time (see scored_facts)."""
    names = source.after.get("frame_names") or []
    return scored_facts(session, source.frame_ids, names, source.n_frames)


def scored_facts(
    session: Session, frame_ids: list[int], names: list[str], n: int
) -> list[FrameFacts]:
    """Where each of n scored frames sits in time, from its row; from its name when gone."""
    ids = frame_ids if len(frame_ids) == n else [None] * n
    found = [i for i in ids if i is not None]
    rows = {f.id: f for f in session.scalars(select(Frame).where(Frame.id.in_(found)))}
    facts = []
    for k, frame_id in enumerate(ids):
        frame = rows.get(frame_id)
        name = names[k] if k < len(names) else None
        # The worker records source_name or "frame<id>": a row with another name is not the
        # frame that was scored (SQLite may reuse the id of a deleted row).
        if (
            frame is not None
            and name is not None
            and name != (frame.source_name or f"frame{frame.id}")
        ):
            frame = None
        if frame is None:
            facts.append(FrameFacts(source_name=name))
        else:
            facts.append(
                FrameFacts(frame.video_id, frame.timestamp_s, frame.index, frame.source_name)
            )
    return facts


def _colors(session: Session, job: Job, names: list[str]) -> list[str]:
    project = session.get(Project, job.project_id) if job.project_id else None
    classes = project.classes if project else []
    if [c.name for c in classes] == names:
        return [c.color for c in classes]
    return [FALLBACK_COLORS[i % len(FALLBACK_COLORS)] for i in range(len(names))]


@dataclass
class TestFrame:
    """One test frame's pictures; image or ground truth is None when no longer stored."""

    name: str
    image: np.ndarray | None
    truth: np.ndarray | None
    before: np.ndarray | None
    after: np.ndarray
    before_cm: np.ndarray | None
    after_cm: np.ndarray


def _png(storage: LocalStorage, key: str | None, labels: bool = True) -> np.ndarray | None:
    """A stored label map (raw class ids) or picture (RGB); None when not stored."""
    if not key or not storage.exists(key):
        return None
    with storage.open_read(key) as fh:
        with Image.open(io.BytesIO(fh.read())) as img:
            return np.asarray(img if labels else img.convert("RGB"))


def _scored_mask(session: Session, frame: Frame, started_at, version: int | None) -> Mask | None:
    """The mask version the job scored: as recorded, else the newest before it started, else
    the current one.
    """
    query = select(Mask).where(Mask.frame_id == frame.id).order_by(Mask.version.desc())
    masks = list(session.scalars(query))
    if version is not None:
        return next((m for m in masks if m.version == version), None)
    if started_at is not None:
        earlier = [m for m in masks if m.created_at is not None and m.created_at <= started_at]
        if earlier:
            return earlier[0]
    return next((m for m in masks if m.version == frame.mask_version), None)


def _prediction_key(scored: dict[str, Any], k: int) -> str | None:
    keys = scored.get("prediction_keys") or []
    return keys[k] if k < len(keys) else None


def load_test_frame(
    session: Session, storage: LocalStorage, source: ReportSource, k: int
) -> TestFrame:
    """The k-th test frame: image, ground truth and both predictions."""
    if not 0 <= k < source.n_frames:
        raise NotFound(f"Job {source.job_id} has no test frame {k}.")
    after, before = source.after, source.before
    frame_ids, versions = source.frame_ids, source.mask_versions
    frame = session.get(Frame, frame_ids[k]) if k < len(frame_ids) else None
    image = truth = None
    if frame is not None:
        image = _png(storage, frame.storage_key, labels=False)
        version = versions[k] if k < len(versions) else None
        mask = _scored_mask(session, frame, source.started_at, version)
        truth = _png(storage, mask.storage_key) if mask else None
    pred_after = _png(storage, _prediction_key(after, k))
    if pred_after is None:
        raise NotFound(f"The predictions of job {source.job_id} are no longer stored.")
    # A frame replaced since the job ran no longer lines up with the predictions: leave it out.
    if truth is not None and truth.shape != pred_after.shape:
        truth = None
    if image is not None and image.shape[:2] != pred_after.shape:
        image = None
    names = after.get("frame_names") or []
    return TestFrame(
        name=names[k] if k < len(names) else f"test frame {k + 1}",
        image=image,
        truth=truth,
        before=_png(storage, _prediction_key(before, k)) if before else None,
        after=pred_after,
        before_cm=np.asarray(before["frame_confusions"][k]) if before else None,
        after_cm=np.asarray(after["frame_confusions"][k]),
    )
