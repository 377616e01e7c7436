"""COCO JSON with RLE masks, written without pycocotools.

One annotation per class present in a frame (semantic segmentation, as in COCO-Stuff), with the
segmentation in COCO's compressed RLE: run lengths over the mask in column-major order, starting
with a run of zeros, then packed as in pycocotools' rleToString. Category ids are the project
class index + 1 (COCO tools treat category 0 as background); `segtune_index` gives the mask value.
Unlabeled pixels (255) belong to no annotation.
"""

from typing import Any

import numpy as np


def rle_counts(binary: np.ndarray) -> list[int]:
    """COCO run lengths of a 2-D boolean mask: column-major, the first run counts zeros."""
    flat = np.asarray(binary, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat[0] else runs


def rle_string(counts: list[int]) -> str:
    """Pack run lengths as pycocotools does: deltas against the run two back, 5 bits a char."""
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift, like the C code's signed long
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def _bbox(binary: np.ndarray) -> list[int]:
    rows = np.flatnonzero(binary.any(axis=1))
    cols = np.flatnonzero(binary.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


class CocoBuilder:
    """Collects images and per-class RLE annotations into one COCO document."""

    def __init__(self, classes: list[dict[str, Any]]):
        self.categories = [
            {
                "id": c["index"] + 1,
                "name": c["name"],
                "segtune_index": c["index"],
                "color": c["color"],
            }
            for c in classes
        ]
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []

    def add(self, image_id: int, file_name: str, labels: np.ndarray | None, **extra) -> None:
        """Add one image and, when it has a mask, one annotation per class present."""
        height, width = labels.shape if labels is not None else (extra["height"], extra["width"])
        self.images.append(
            {"id": image_id, "file_name": file_name, "width": width, "height": height}
            | {k: v for k, v in extra.items() if k not in ("width", "height")}
        )
        if labels is None:
            return
        for value in np.flatnonzero(np.bincount(labels.ravel(), minlength=256)[:255]):
            binary = labels == value
            self.annotations.append(
                {
                    "id": len(self.annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(value) + 1,
                    "segmentation": {
                        "size": [height, width],
                        "counts": rle_string(rle_counts(binary)),
                    },
                    "area": int(binary.sum()),
                    "bbox": _bbox(binary),
                    "iscrowd": 0,
                }
            )

    def document(self, description: str) -> dict[str, Any]:
        """The COCO JSON object."""
        return {
            "info": {"description": description, "version": "1.0"},
            "images": self.images,
            "annotations": self.annotations,
            "categories": self.categories,
        }
