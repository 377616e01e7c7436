"""Job body: run a model over frames and store its predictions as draft masks."""

from typing import Any

import numpy as np
from PIL import Image

from backend.db import session_scope
from backend.errors import Conflict
from backend.services.frames import get_frame
from backend.services.prelabel import save_draft
from worker.evaluation import model_source, project_frames
from worker.ml.checkpoints import load_model
from worker.ml.evaluate import encode_png, predict
from worker.ml.presets import default_class_map
from worker.ml.runtime import resolve_device


def run_prelabel(ctx) -> dict[str, Any]:
    """Predict each frame at full resolution; never hide a person's mask unless asked to."""
    _, classes = project_frames(ctx)
    source = model_source(ctx, ctx.params["model_id"])
    model, meta = load_model(
        source["path"], source["architecture"], source["output_stride"], source["classes"] or None
    )
    names = [c["name"] for c in classes]
    # The class map was settled when the job was requested; older jobs match by name.
    table = ctx.params.get("class_map")
    if table is None and [c["name"] for c in meta.classes] != names:
        table = default_class_map(meta.classes, names)
    device = resolve_device("auto")
    model = model.to(device).eval()
    frame_ids = ctx.params["frame_ids"]
    outcomes = []
    for done, frame_id in enumerate(frame_ids):
        with session_scope(ctx.sessions) as session:
            path = ctx.storage.path(get_frame(session, frame_id).storage_key)
        with Image.open(path) as img:
            image = np.asarray(img.convert("RGB"))
        pred = predict(model, image, meta.mean, meta.std, device, class_map=table)
        try:
            with session_scope(ctx.sessions) as session:
                frame = get_frame(session, frame_id)
                outcome = save_draft(
                    session, ctx.storage, frame, encode_png(pred), ctx.params["overwrite"]
                )
        except Conflict:
            # Someone saved this frame while we predicted it: their work wins.
            outcome = {"frame_id": frame_id, "saved": False, "reason": "edited meanwhile"}
        outcomes.append(outcome)
        ctx.progress((done + 1) / len(frame_ids), f"{done + 1}/{len(frame_ids)} frames")
    saved = sum(o["saved"] for o in outcomes)
    return {
        "saved": saved,
        "skipped": len(outcomes) - saved,
        "frames": outcomes,
        "class_map": table,
    }
