"""Mask bodies."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class MaskSaved(BaseModel):
    """Result of a mask save."""

    model_config = ConfigDict(from_attributes=True)
    version: int
    class_pixel_counts: dict[str, int]


class MaskVersionOut(MaskSaved):
    """One stored version."""

    source: str
    created_at: datetime
