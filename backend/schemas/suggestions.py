"""Suggestion request body."""

from typing import Literal

from pydantic import BaseModel, Field

from backend.services.suggestions import DEFAULT_COUNT, DEFAULT_GAP_S, DEFAULT_RULE


class SuggestRequest(BaseModel):
    """POST /api/projects/{id}/suggestions: rank `count` unlabeled frames to label next."""

    model_id: int | None = Field(None, description="Default: the project's newest fine-tune.")
    count: int = DEFAULT_COUNT
    split: str | None = Field(None, description="Only frames of this split; default: all.")
    class_map: list[int] | None = None
    measure: Literal["entropy", "margin"] = "entropy"
    rule: Literal["time", "kcenter"] = DEFAULT_RULE
    gap_s: float = Field(DEFAULT_GAP_S, description="The time rule's gap, in seconds.")
