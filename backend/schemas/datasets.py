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
