"""Suggestions: which unlabeled frames a model would learn most from, ranked by a job.

The job scores unlabeled frames with a model (pixel uncertainty weighted towards the project's
rare classes) and picks them for diversity (worker/ml/uncertainty.py, worker/ml/diversity.py).
Its result on the Job row is the ranking; GET answers the newest finished one.
"""

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.errors import Invalid
from backend.models import Frame, Job, SegModel, User
from backend.models.frame import DRAFT_SOURCES, SPLITS
from backend.services.jobs import create_job
from backend.services.prelabel import model_mapping
from backend.services.projects import get_project

KIND = "suggest"
MAX_COUNT = 200
DEFAULT_COUNT = 8
MEASURES = ("entropy", "margin")
# The diversity rules (worker/ml/diversity.py); the default won bench/suggestions.py.
RULES = ("time", "kcenter")
DEFAULT_RULE = "time"
DEFAULT_GAP_S = 2.0
MAX_GAP_S = 3600.0


def labeled_condition():
    """A frame is labeled when its current mask is a person's (a draft is not a label yet)."""
    return (Frame.mask_version > 0) & or_(
        Frame.mask_source.is_(None), Frame.mask_source.not_in(DRAFT_SOURCES)
    )


def unlabeled_ids(session: Session, project_id: int, split: str | None) -> list[int]:
    """Frames of the project (of one split, if given) without a person's mask, in grid order."""
    query = select(Frame.id).where(Frame.project_id == project_id, ~labeled_condition())
    if split is not None:
        query = query.where(Frame.split == split)
    return list(session.scalars(query.order_by(Frame.video_id, Frame.index, Frame.id)))


def newest_finetune(session: Session, project_id: int) -> SegModel | None:
    """The project's newest ready fine-tuned model."""
    query = (
        select(SegModel)
        .where(SegModel.project_id == project_id, SegModel.kind == "finetuned")
        .where(SegModel.status == "ready")
        .order_by(SegModel.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def request_suggestions(
    session: Session,
    project_id: int,
    *,
    reader: User | None,
    model_id: int | None = None,
    count: int = DEFAULT_COUNT,
    split: str | None = None,
    class_map: list[int] | None = None,
    measure: str = "entropy",
    rule: str = DEFAULT_RULE,
    gap_s: float = DEFAULT_GAP_S,
) -> Job:
    """Queue a suggestion job; every refusal comes before anything is queued."""
    get_project(session, project_id)
    if not 1 <= count <= MAX_COUNT:
        raise Invalid(f"count must be from 1 to {MAX_COUNT}, not {count}.")
    if split is not None and split not in SPLITS:
        raise Invalid(f"split must be one of {', '.join(SPLITS)} (or left out), not {split!r}.")
    if measure not in MEASURES:
        raise Invalid(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}.")
    if rule not in RULES:
        raise Invalid(f"rule must be one of {', '.join(RULES)}, not {rule!r}.")
    if not 0 <= gap_s <= MAX_GAP_S:
        raise Invalid(f"gap_s must be from 0 to {MAX_GAP_S:g} seconds, not {gap_s:g}.")
    if model_id is None:
        newest = newest_finetune(session, project_id)
        if newest is None:
            raise Invalid(
                "This project has no ready fine-tuned model to score frames with: fine-tune one "
                "first, or give model_id (a base model with its class_map)."
            )
        model_id = newest.id
    mapping = model_mapping(session, project_id, model_id, reader, class_map)
    candidates = unlabeled_ids(session, project_id, split)
    if not candidates:
        where = f"in the {split} split" if split else "in this project"
        raise Invalid(f"No unlabeled frames {where}: every frame has a person's mask.")
    params = {
        "model_id": model_id,
        "count": count,
        "split": split,
        "measure": measure,
        "rule": rule,
        "gap_s": gap_s,
        # Every frame the job scores: deleting one of them cancels the job.
        "frame_ids": candidates,
        "class_map": mapping["table"],
        "mapping": mapping,
    }
    return create_job(session, KIND, params, project_id, queue="gpu")


def newest_ranking(session: Session, project_id: int) -> dict[str, Any]:
    """The newest finished suggestion job's ranking; frames labeled since are marked stale.

    Frames deleted since are dropped. Also names the newest suggestion job still running, so a
    page can show its progress.
    """
    get_project(session, project_id)
    jobs = select(Job).where(Job.project_id == project_id, Job.kind == KIND)
    done = session.scalar(jobs.where(Job.status == "succeeded").order_by(Job.id.desc()).limit(1))
    active = session.scalar(
        jobs.where(Job.status.in_(("queued", "running"))).order_by(Job.id.desc()).limit(1)
    )
    out: dict[str, Any] = {
        "job_id": None,
        "active_job_id": active.id if active else None,
        "model_id": None,
        "finished_at": None,
        "frames": [],
    }
    if done is None:
        return out
    result = done.result or {}
    ranked = result.get("frames") or []
    ids = [r["frame_id"] for r in ranked]
    rows = session.execute(
        select(Frame.id, labeled_condition()).where(
            Frame.id.in_(ids), Frame.project_id == project_id
        )
    )
    labeled = {frame_id: bool(flag) for frame_id, flag in rows}
    out.update(
        job_id=done.id,
        model_id=done.params.get("model_id"),
        finished_at=done.finished_at,
        measure=result.get("measure"),
        rule=result.get("rule"),
        frames=[{**r, "stale": labeled[r["frame_id"]]} for r in ranked if r["frame_id"] in labeled],
    )
    return out
