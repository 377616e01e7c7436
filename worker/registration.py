"""Job body that inspects an uploaded checkpoint with torch and fills in its registry row."""

from typing import Any

from backend.db import session_scope
from backend.errors import Invalid
from backend.services.seg_models import get_model
from worker.ml.checkpoints import (
    Checkpoint,
    build_from_checkpoint,
    describe,
    head_rows,
    load_checkpoint,
)
from worker.ml.presets import PRESETS, preset_mismatch, presets_for


def hex_color(color) -> str:
    """'#rrggbb' from an [r, g, b] list (or pass a hex string through)."""
    if isinstance(color, str):
        return color
    return "#" + "".join(f"{int(c):02x}" for c in color[:3])


def rgb_color(color) -> list[int]:
    """[r, g, b] from '#rrggbb' (or pass a list through)."""
    if isinstance(color, str):
        return [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return [int(c) for c in color[:3]]


def choose_preset(ckpt: Checkpoint, preset: str | None) -> str | None:
    """The preset whose classes the file's outputs mean: the one named, else the one that fits.

    A SegTune file describes its own classes (None). Without a preset named, the head size
    decides when exactly one preset has that many classes; a named preset that does not fit
    the head is refused with the one that would.
    """
    if ckpt.meta is not None:
        return preset
    rows = head_rows(ckpt.state)
    if preset is None:
        fits = presets_for(rows)
        return fits[0] if len(fits) == 1 else None
    if rows is not None and rows != len(PRESETS[preset]):
        raise ValueError(preset_mismatch(rows, preset))
    return preset


def run_registration(ctx) -> dict[str, Any]:
    """Load the file strictly into its architecture; record what it is or why it is unusable."""
    with session_scope(ctx.sessions) as session:
        model = get_model(session, ctx.params["model_id"])
        path = ctx.storage.path(model.storage_key)
        arch, stride, preset = model.architecture, model.output_stride, model.preset
    ctx.progress(0.1, "loading checkpoint")
    try:
        ckpt = load_checkpoint(path)
        preset = choose_preset(ckpt, preset)
        classes = PRESETS[preset] if preset else None
        meta = describe(ckpt, arch, stride, classes)
        build_from_checkpoint(ckpt, meta)
    except Exception as exc:  # noqa: BLE001 - any load failure is the file's fault, say why
        message = f"The checkpoint cannot be used: {exc}"
        with session_scope(ctx.sessions) as session:
            row = get_model(session, ctx.params["model_id"])
            row.status, row.error = "failed", message[:2000]
        raise Invalid(message) from exc
    with session_scope(ctx.sessions) as session:
        row = get_model(session, ctx.params["model_id"])
        row.status, row.error, row.preset = "ready", None, preset
        row.architecture, row.output_stride = meta.architecture, meta.output_stride
        row.classes = [
            {"index": c["index"], "name": c["name"], "color": hex_color(c["color"])}
            for c in meta.classes
        ]
        row.metrics = meta.metrics
        # A SegTune fine-tune uploaded again keeps the map it was trained with (over the first
        # base's classes), though not the link to that base.
        if meta.class_map and meta.source_classes:
            row.class_map = list(meta.class_map)
            row.base_class_names = [c["name"] for c in meta.source_classes]
    return {"model_id": ctx.params["model_id"], "architecture": meta.architecture}
