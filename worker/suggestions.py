"""Job body: score a project's unlabeled frames with a model and rank them to label next."""

from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import select

from backend.db import session_scope
from backend.models import Frame, Mask
from backend.services.projects import get_project
from backend.services.reports.blocks import FRAME_RATE, FrameFacts, place
from backend.services.suggestions import labeled_condition
from worker.evaluation import model_source
from worker.ml.checkpoints import load_model
from worker.ml.presets import default_class_map
from worker.ml.runtime import resolve_device
from worker.ml.suggest import project_probs, rank, score_frame
from worker.ml.uncertainty import class_weights, pooled_features

# Class shares are read from at most this many labeled masks, spread over the project.
MAX_WEIGHT_MASKS = 200


def _place(frame: Frame):
    facts = FrameFacts(frame.video_id, frame.timestamp_s, frame.index, frame.source_name)
    return place(facts, FRAME_RATE)


def _plan(ctx) -> dict[str, Any]:
    """Candidates still unlabeled, the labeled frames (places, images) and class names."""
    p = ctx.params
    with session_scope(ctx.sessions) as session:
        names = [c.name for c in get_project(session, ctx.project_id).classes]
        base = select(Frame).where(Frame.project_id == ctx.project_id)
        # Frames labeled since the request are no longer candidates.
        free = base.where(Frame.id.in_(p["frame_ids"]), ~labeled_condition())
        candidates = [(f.id, f.storage_key, _place(f)) for f in session.scalars(free)]
        labeled_rows = session.execute(
            select(Frame, Mask.storage_key)
            .join(Mask, (Mask.frame_id == Frame.id) & (Mask.version == Frame.mask_version))
            .where(Frame.project_id == ctx.project_id, labeled_condition())
            .order_by(Frame.video_id, Frame.index, Frame.id)
        ).all()
        labeled = [
            {"key": f.storage_key, "mask": key, "place": _place(f), "split": f.split}
            for f, key in labeled_rows
        ]
    order = {fid: i for i, fid in enumerate(p["frame_ids"])}
    candidates.sort(key=lambda c: order[c[0]])
    return {"names": names, "candidates": candidates, "labeled": labeled}


def _weights(ctx, labeled: list[dict], k: int) -> np.ndarray:
    """Rare-class weights from the labeled train masks (all labeled masks if none is train)."""
    masks = [m for m in labeled if m["split"] == "train"] or labeled
    step = max(1, len(masks) // MAX_WEIGHT_MASKS)
    counts = np.zeros(k, np.int64)
    for m in masks[::step]:
        with Image.open(ctx.storage.path(m["mask"])) as img:
            labels = np.asarray(img)
        counts += np.bincount(labels[labels < k].ravel(), minlength=k)[:k]
    return class_weights(counts)


def _image(ctx, key: str) -> np.ndarray:
    with Image.open(ctx.storage.path(key)) as img:
        return np.asarray(img.convert("RGB"))


def run_suggestions(ctx) -> dict[str, Any]:
    """Score every candidate (cancellable, nothing written), rank them, return the ranking."""
    p = ctx.params
    plan = _plan(ctx)
    names, candidates, labeled = plan["names"], plan["candidates"], plan["labeled"]
    k = len(names)
    source = model_source(ctx, p["model_id"])
    model, meta = load_model(
        source["path"], source["architecture"], source["output_stride"], source["classes"] or None
    )
    table = p.get("class_map")
    if table is None and [c["name"] for c in meta.classes] != names:
        table = default_class_map(meta.classes, names)
    device = resolve_device("auto")
    model = model.to(device).eval()

    def probs(key: str) -> np.ndarray:
        image = _image(ctx, key)
        return project_probs(model, image, meta.mean, meta.std, device, k, table)

    weights = _weights(ctx, labeled, k)
    ctx.progress(0.02, f"scoring {len(candidates)} frames")
    scored = []
    for done, (_, key, where) in enumerate(candidates, start=1):
        scored.append(score_frame(probs(key), weights, where, p["measure"]))
        ctx.progress(0.9 * done / len(candidates), f"scored {done}/{len(candidates)} frames")
    labeled_features = np.zeros((0, 1))
    if p["rule"] == "kcenter" and labeled:
        # The labeled frames' predictions: a candidate like one of them adds little.
        step = max(1, len(labeled) // MAX_WEIGHT_MASKS)
        labeled_features = np.stack([pooled_features(probs(m["key"])) for m in labeled[::step]])
    ctx.progress(0.95, "ranking")
    picks = rank(
        scored, [m["place"] for m in labeled], labeled_features, p["count"], p["rule"], p["gap_s"]
    )
    frames = [
        {
            "frame_id": candidates[i][0],
            "rank": position,
            "score": round(scored[i].score, 6),
            "uncertainty": round(scored[i].uncertainty, 6),
            "rare_weight": round(scored[i].rare_weight, 4),
            "reason": reason,
        }
        for position, (i, reason) in enumerate(picks, start=1)
    ]
    return {
        "frames": frames,
        "scored": len(candidates),
        "measure": p["measure"],
        "rule": p["rule"],
        "gap_s": p["gap_s"],
        "class_weights": [round(float(w), 4) for w in weights],
        "class_map": table,
    }
