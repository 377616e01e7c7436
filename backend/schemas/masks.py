"""Mask bodies."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class MaskSaved(BaseModel):
    """Result of a mask save."""

    model_config = ConfigDict(from_attributes=True)
    version: int
    class_pixel_counts: dict[str, int]


class MaskVersionOut(MaskSaved):
    """One stored version and who saved it (no author: a model draft, or saved before authors)."""

    source: str
    created_at: datetime
    author_id: int | None = None
    author_name: str | None = None
    author_email: str | None = None
