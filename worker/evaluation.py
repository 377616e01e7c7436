"""Scoring models on a project's test frames: shared by the train and evaluate job bodies."""

from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from backend.db import session_scope
from backend.models import Mask
from backend.services.seg_models import get_model
from backend.services.training import LabeledFrame, labeled_frames
from worker.ml.checkpoints import load_model
from worker.ml.data import Sample, load_sample
from worker.ml.evaluate import encode_png, evaluate
from worker.ml.presets import PRESETS, default_class_map
from worker.registration import rgb_color


def load_split(frames: list[LabeledFrame], split: str) -> list[Sample]:
    """Decode the frames of one split once (kept in memory for the whole job)."""
    return [load_sample(f.image_path, f.mask_path, f.name) for f in frames if f.split == split]


def project_frames(ctx) -> tuple[list[LabeledFrame], list[dict]]:
    """Labeled frames and the project's classes (colours as RGB lists)."""
    from backend.services.projects import get_project

    with session_scope(ctx.sessions) as session:
        frames = labeled_frames(session, ctx.storage, ctx.project_id)
        project = get_project(session, ctx.project_id)
        classes = [
            {"index": c.index, "name": c.name, "color": rgb_color(c.color)} for c in project.classes
        ]
    return frames, classes


def model_source(ctx, model_id: int) -> dict[str, Any]:
    """Where a registered model's file is and what its outputs mean."""
    with session_scope(ctx.sessions) as session:
        model = get_model(session, model_id)
        classes = model.classes or (PRESETS[model.preset] if model.preset else None)
        return {
            "id": model.id,
            "name": model.name,
            "kind": model.kind,
            "path": str(ctx.storage.path(model.storage_key)),
            "architecture": model.architecture,
            "output_stride": model.output_stride,
            "classes": [{**c, "color": rgb_color(c["color"])} for c in classes or []],
        }


def score_model(
    source: dict[str, Any],
    samples: list[Sample],
    classes: list[dict],
    class_map: list[int] | None,
    flip_tta: bool,
    on_frame,
) -> dict[str, Any]:
    """Evaluate one model on samples, its classes read as the project's through class_map.

    Without a class map, a model whose classes are not the project's is matched by name.
    """
    model, meta = load_model(
        source["path"], source["architecture"], source["output_stride"], source["classes"] or None
    )
    names = [c["name"] for c in classes]
    table = class_map
    if table is None and [c["name"] for c in meta.classes] != names:
        table = default_class_map(meta.classes, names)
    result = evaluate(
        model,
        samples,
        len(classes),
        mean=meta.mean,
        std=meta.std,
        class_map=table,
        class_names=names,
        flip_tta=flip_tta,
        on_frame=on_frame,
    )
    return {
        "model_id": source["id"],
        "name": source["name"],
        "class_map": table,
        "metrics": result.metrics,
        "confusion": result.confusion.tolist(),
        "frame_confusions": [cm.tolist() for cm in result.frame_confusions],
        "frame_names": result.names,
        "predictions": result.predictions,
    }


def store_predictions(ctx, prefix: str, scored: dict[str, Any]) -> list[str]:
    """Save each predicted class-id map as a PNG; returns their storage keys."""
    keys = []
    for name, pred in zip(scored["frame_names"], scored["predictions"], strict=True):
        key = f"{prefix}/{len(keys):03d}_{Path(name).stem[:40]}.png"
        ctx.storage.put_bytes(key, encode_png(pred))
        keys.append(key)
    return keys


def summary_only(scored: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready part of a scored model (predictions are stored as files)."""
    return {k: v for k, v in scored.items() if k != "predictions"}


def pixel_counts_per_class(samples: list[Sample], n_classes: int) -> list[int]:
    """Labeled pixels of each class over the samples."""
    counts = np.zeros(n_classes, np.int64)
    for sample in samples:
        counts += np.bincount(sample.mask.ravel(), minlength=256)[:n_classes]
    return counts.tolist()


def mask_versions(ctx, frames: list[LabeledFrame]) -> list[int | None]:
    """The version of the mask each frame was read from (mask storage keys are unique)."""
    ids = [f.frame_id for f in frames]
    with session_scope(ctx.sessions) as session:
        rows = session.execute(
            select(Mask.frame_id, Mask.version, Mask.storage_key).where(Mask.frame_id.in_(ids))
        ).all()
    by_frame: dict[int, list[tuple[int, str]]] = {}
    for frame_id, version, key in rows:
        by_frame.setdefault(frame_id, []).append((version, key))
    paths = [Path(f.mask_path).as_posix() for f in frames]
    return [
        next((v for v, key in by_frame.get(f.frame_id, []) if path.endswith(f"/{key}")), None)
        for f, path in zip(frames, paths, strict=True)
    ]


def run_evaluation(ctx) -> dict[str, Any]:
    """Score each requested model on the project's test split."""
    frames, classes = project_frames(ctx)
    test_frames = [f for f in frames if f.split == "test"]
    samples = load_split(frames, "test")
    if not samples:
        raise ValueError("The project has no labeled test frames.")
    results = []
    model_ids = ctx.params["model_ids"]
    # The class mapping of each model was settled (and checked) when the job was requested.
    chosen = ctx.params.get("mappings") or {}
    for m, model_id in enumerate(model_ids):
        source = model_source(ctx, model_id)
        mapping = chosen.get(str(model_id))

        def on_frame(done, total, m=m):
            ctx.progress((m + done / total) / len(model_ids), f"model {m + 1}: {done}/{total}")

        table = mapping["table"] if mapping else None
        flip = ctx.params.get("flip_tta", False)
        scored = score_model(source, samples, classes, table, flip, on_frame)
        scored["mapping"] = mapping
        scored["prediction_keys"] = store_predictions(
            ctx, f"jobs/{ctx.job_id}/pred{model_id}", scored
        )
        results.append(summary_only(scored))
    return {
        "n_test_frames": len(samples),
        "class_pixels": dict(
            zip(
                [c["name"] for c in classes],
                pixel_counts_per_class(samples, len(classes)),
                strict=True,
            )
        ),
        "models": results,
        # Which frames (and mask versions) were scored, in order, for the comparison report.
        "test_frame_ids": [f.frame_id for f in test_frames],
        "test_mask_versions": mask_versions(ctx, test_frames),
    }
