"""Job body: write every affected mask in the new class ids, then swap the classes at once."""

from typing import Any

from backend.db import session_scope
from backend.services.classes import affected_masks, apply_remap, lut
from backend.services.mask_codec import remap_png
from backend.storage import new_key


def run_remap(ctx) -> dict[str, Any]:
    """New files first (taken back if the job stops), then one transaction makes them current."""
    table = ctx.params["table"]
    full = lut(table)
    with session_scope(ctx.sessions) as session:
        todo = affected_masks(session, ctx.project_id, table)
    written = []
    ctx.progress(0.0, f"0/{len(todo)} masks")
    for done, (frame_id, version, key, _counts) in enumerate(todo):
        with ctx.storage.open_read(key) as fh:
            png, counts = remap_png(fh.read(), full)
        new = new_key(f"projects/{ctx.project_id}/masks", ".png")
        ctx.storage.put_bytes(new, png)
        written.append((frame_id, version, new, counts))
        ctx.progress((done + 1) / (len(todo) + 1), f"{done + 1}/{len(todo)} masks")
    with session_scope(ctx.sessions) as session:
        return apply_remap(session, ctx.project_id, ctx.params, written, ctx.job_id)
