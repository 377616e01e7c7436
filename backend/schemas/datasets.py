"""Dataset import and export bodies."""

from typing import Any, Literal

from pydantic import BaseModel


class ExportRequest(BaseModel):
    """POST /api/projects/{id}/exports."""

    split: Literal["train", "val", "test"] | None = None
    layout: Literal["segtune", "cityscapes"] = "segtune"
    coco: bool = False
    only_labeled: bool = False


class MappingPreset(BaseModel):
    """A named class mapping usable as the `mapping` of an import."""

    name: str
    mapping: dict[str, Any]


class PreviewValue(BaseModel):
    """One source mask value (an id, or #rrggbb for colour masks) and the class it maps to."""

    value: str
    source_name: str | None
    pixels: int
    target: int | None
    target_name: str | None


class ImportPreview(BaseModel):
    """POST /api/projects/{id}/imports/preview: what importing the zip would do."""

    layout: str
    mapping: dict[str, Any] | None
    frames: int
    masks: int
    splits: dict[str, int]
    examples: list[dict[str, str | None]]
    masks_scanned: int
    values: list[PreviewValue]
    unmapped: list[str]
    classes: list[dict[str, Any]]
