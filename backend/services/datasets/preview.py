"""What an import of an uploaded zip would do, without importing: layout, pairs, value mapping.

Bounded: only the central directory is read in full; at most PREVIEW_MASKS masks (spread over
the dataset, fewer once PREVIEW_PIXELS are decoded) are scanned for their values, so a large
archive previews as fast as a small one. A value the sample missed can still fail the import.
"""

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import Invalid
from backend.services.datasets.archive import ZipSource
from backend.services.datasets.classmap import UNLABELED, ClassMap, parse_mapping
from backend.services.datasets.convert import open_image
from backend.services.datasets.imports import make_plan, project_classes
from backend.services.datasets.layouts import Pair

PREVIEW_MASKS = 48
PREVIEW_PIXELS = 64_000_000
SHOWN_PAIRS = 5
# A mask with more distinct values than this is not a label mask (a photo, a JPEG'd mask).
MAX_VALUES = 512


def preview_zip(
    session: Session,
    settings: Settings,
    project_id: int,
    zip_path: Path,
    layout: str = "auto",
    mapping: str | dict | None = None,
) -> dict[str, Any]:
    """Inspect an uploaded dataset zip against a project; the zip is deleted afterwards."""
    try:
        classes = project_classes(session, project_id)
        parsed = parse_mapping(mapping)
        source = ZipSource(zip_path, settings.max_upload_bytes)
        try:
            plan = make_plan(source, layout, parsed, classes)
            pairs = plan.dataset.pairs
            scanned, pixels = _scan(source, _sample(pairs), plan.classmap, settings)
        finally:
            source.close()
    finally:
        zip_path.unlink(missing_ok=True)
    colour = plan.classmap.colors is not None
    names = {c.index: c.name for c in classes}
    known = {c["index"]: c["name"] for c in plan.dataset.classes or []}
    values = []
    for value, count in sorted(pixels.items()):
        target = plan.classmap.target(value)
        values.append(
            {
                "value": f"#{value:06x}" if colour else str(value),
                "source_name": None if colour else known.get(value),
                "pixels": count,
                "target": target,
                "target_name": "unlabeled" if target == UNLABELED else names.get(target),
            }
        )
    splits = Counter(p.split or "none" for p in pairs)
    return {
        "layout": plan.dataset.layout,
        "mapping": parsed,
        "frames": len(pairs),
        "masks": sum(1 for p in pairs if p.mask),
        "splits": dict(splits),
        "examples": [{"image": p.image, "mask": p.mask} for p in pairs[:SHOWN_PAIRS]],
        "masks_scanned": scanned,
        "values": values,
        "unmapped": [v["value"] for v in values if v["target"] is None],
        "classes": [{"index": c.index, "name": c.name, "color": c.color} for c in classes],
    }


def _sample(pairs: list[Pair]) -> list[Pair]:
    with_masks = [p for p in pairs if p.mask]
    if len(with_masks) <= PREVIEW_MASKS:
        return with_masks
    step = len(with_masks) / PREVIEW_MASKS
    return [with_masks[int(i * step)] for i in range(PREVIEW_MASKS)]


def _scan(
    source: ZipSource, pairs: list[Pair], classmap: ClassMap, settings: Settings
) -> tuple[int, Counter]:
    pixels: Counter = Counter()
    decoded = scanned = 0
    for pair in pairs:
        if decoded >= PREVIEW_PIXELS:
            break
        with open_image(source.read(pair.mask), pair.mask, settings, "mask") as mask:
            pixels.update(classmap.source_values(mask, pair.mask))
            decoded += mask.width * mask.height
        scanned += 1
        if len(pixels) > MAX_VALUES:
            raise Invalid(
                f"{pair.mask}: the masks hold more than {MAX_VALUES} distinct values; masks must "
                "be lossless PNGs of class ids or class colours (is the layout right?).",
                entry=pair.mask,
            )
    return scanned, pixels
