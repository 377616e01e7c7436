"""Held-out and reference sets of a fine-tune: chosen and decoded, then scored before and after."""

from typing import Any

from backend.db import session_scope
from backend.models import Project
from backend.services.generalisation import class_mismatch, class_names, gap_frame_ids
from backend.services.training import LabeledFrame, labeled_frames
from worker.evaluation import score_model, summary_only
from worker.ml.data import Sample, load_sample


def _frames(ctx, spec: dict[str, Any], classes: list[dict]) -> list[LabeledFrame]:
    """The set's labeled frames as they are now (the request checked them when it was made)."""
    names = [c["name"] for c in classes]
    with session_scope(ctx.sessions) as session:
        if spec["kind"] == "gap":
            ids = set(gap_frame_ids(session, ctx.project_id, spec["gap_s"], spec["frame_rate"]))
            frames = labeled_frames(session, ctx.storage, ctx.project_id)
            chosen = [f for f in frames if f.frame_id in ids]
            if not chosen:
                raise ValueError(
                    f"No labeled test frame is {spec['gap_s']:g} s from the training frames any "
                    "more (the splits changed since the fine-tune was requested)."
                )
            return chosen
        project = session.get(Project, spec["project_id"])
        if project is None:
            raise ValueError(f"Project {spec['project_id']} was deleted.")
        why = class_mismatch(names, class_names(project))
        if why:
            raise ValueError(f"Project {project.id} changed its classes: {why}.")
        chosen = labeled_frames(session, ctx.storage, project.id)
    if not chosen:
        raise ValueError(f"Project {spec['project_id']} has no labeled frames any more.")
    return chosen


def load_sets(ctx, classes: list[dict]) -> dict[str, tuple[list[LabeledFrame], list[Sample]]]:
    """Decode every set's frames up front, so a set that went wrong fails before training."""
    loaded = {}
    for role, spec in (ctx.params.get("sets") or {}).items():
        frames = _frames(ctx, spec, classes)
        # Every frame of the set counts, whatever its split in its own project.
        loaded[role] = (frames, [load_sample(f.image_path, f.mask_path, f.name) for f in frames])
    return loaded


def score_sets(ctx, loaded: dict, classes: list[dict], sides: list[tuple[str, dict]], mapping):
    """Each set scored by each side (the base through the job's class map), as result["sets"]."""
    out = {}
    for role, (frames, samples) in loaded.items():
        scored: dict[str, Any] = {"before": None}
        for label, source in sides:

            def on_frame(done, total, label=label, role=role):
                ctx.progress(1.0, f"scoring {label} model on {role} frame {done}/{total}")

            table = ctx.params.get("class_map") if label == "before" else None
            result = score_model(source, samples, classes, table, False, on_frame)
            result["mapping"] = mapping(label)
            scored[label] = summary_only(result)
        out[role] = {
            **ctx.params["sets"][role],
            "frame_ids": [f.frame_id for f in frames],
            **scored,
        }
    return out
