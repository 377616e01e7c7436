"""Job body: warp a frame's mask along its video and store the results as draft masks."""

import io
from typing import Any

import numpy as np
from PIL import Image

from backend.db import session_scope
from backend.errors import Conflict
from backend.models.frame import PROPAGATION_SOURCE
from backend.services.frames import get_frame
from backend.services.mask_codec import encode_mask
from backend.services.masks import read_mask, read_version
from backend.services.prelabel import human_edited, save_draft
from worker.flow import fill_unreliable, warp_mask

# Below this share of trusted pixels the frames hardly match (a cut, a jump): the chain stops.
MIN_RELIABLE = 0.2


def _labels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img)


def _image(ctx, key: str) -> np.ndarray:
    with Image.open(ctx.storage.path(key)) as img:
        return np.asarray(img.convert("RGB"))


class _Fallback:
    """The model's prediction for a frame, mapped to the project's classes (loaded once)."""

    def __init__(self, ctx):
        from worker.evaluation import model_source
        from worker.ml.checkpoints import load_model
        from worker.ml.runtime import resolve_device

        source = model_source(ctx, ctx.params["model_id"])
        model, self.meta = load_model(
            source["path"],
            source["architecture"],
            source["output_stride"],
            source["classes"] or None,
        )
        self.device = resolve_device("auto")
        self.model = model.to(self.device).eval()
        self.table = ctx.params.get("class_map")

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from worker.ml.evaluate import predict

        meta = self.meta
        return predict(self.model, image, meta.mean, meta.std, self.device, class_map=self.table)


def _plan(ctx) -> tuple[np.ndarray, str, list[tuple[str, list[dict]]]]:
    """The source mask (the version the request saw), its image key, and each chain's frames."""
    params = ctx.params
    with session_scope(ctx.sessions) as session:
        source = get_frame(session, params["frame_id"])
        mask = _labels(read_version(session, ctx.storage, source.id, params["source_version"]))
        key = source.storage_key
        chains = []
        for direction, ids in params["chains"].items():
            frames = []
            for frame_id in ids:
                frame = get_frame(session, frame_id)
                kept = human_edited(session, frame) and not params["overwrite"]
                frames.append({"id": frame_id, "key": frame.storage_key, "kept": kept})
            chains.append((direction, frames))
    return mask, key, chains


def _human_mask(ctx, frame_id: int) -> np.ndarray:
    with session_scope(ctx.sessions) as session:
        return _labels(read_mask(session, ctx.storage, frame_id)[0])


def run_propagation(ctx) -> dict[str, Any]:
    """Compute every draft first (cancellable, nothing written), then store each as a version.

    Each step warps the previous step's result; a person's mask met on the way is kept and
    carries the chain on instead.
    """
    mask, source_key, chains = _plan(ctx)
    fallback = _Fallback(ctx) if ctx.params.get("model_id") else None
    total = sum(len(frames) for _, frames in chains)
    drafts: list[tuple[int, bytes, float]] = []
    outcomes: list[dict[str, Any]] = []
    done = 0
    for direction, frames in chains:
        labels, image = mask, _image(ctx, source_key)
        for position, frame in enumerate(frames):
            target = _image(ctx, frame["key"])
            if frame["kept"]:
                outcomes.append(
                    {"frame_id": frame["id"], "saved": False, "reason": "human-edited mask kept"}
                )
                labels, image = _human_mask(ctx, frame["id"]), target
            else:
                step = warp_mask(labels, image, target)
                if step.reliable_share < MIN_RELIABLE:
                    for rest in frames[position:]:
                        outcomes.append(
                            {"frame_id": rest["id"], "saved": False, "reason": "flow lost"}
                        )
                    done += len(frames) - position
                    break
                predicted = fallback(target) if fallback is not None else None
                draft = fill_unreliable(step, predicted)
                drafts.append((frame["id"], encode_mask(draft), step.reliable_share))
                labels, image = step.labels, target
            done += 1
            ctx.progress(0.95 * done / total, f"{direction}: {done}/{total} frames")
    ctx.progress(0.95, "saving drafts")  # the last point where a cancel leaves nothing written
    shares = {frame_id: share for frame_id, _, share in drafts}
    for frame_id, png, share in drafts:
        try:
            with session_scope(ctx.sessions) as session:
                frame = get_frame(session, frame_id)
                outcome = save_draft(
                    session, ctx.storage, frame, png, ctx.params["overwrite"], PROPAGATION_SOURCE
                )
        except Conflict:
            # Someone saved this frame while we computed it: their work wins.
            outcome = {"frame_id": frame_id, "saved": False, "reason": "edited meanwhile"}
        outcomes.append({**outcome, "reliable_share": round(share, 4)})
    order = {fid: i for i, fid in enumerate(ctx.params["frame_ids"])}
    outcomes.sort(key=lambda o: order[o["frame_id"]])
    saved = sum(o["saved"] for o in outcomes)
    return {
        "saved": saved,
        "skipped": len(outcomes) - saved,
        "frames": outcomes,
        "mean_reliable_share": round(float(np.mean(list(shares.values()))), 4) if shares else None,
    }
