"""Mask propagation request body."""

from typing import Literal

from pydantic import BaseModel, Field

from backend.services.propagation import MAX_COUNT


class PropagateRequest(BaseModel):
    """POST /api/frames/{id}/propagate: `count` sampled frames each way the direction names."""

    count: int = Field(5, ge=1, le=MAX_COUNT)
    direction: Literal["forward", "backward", "both"] = "forward"
    model_id: int | None = None
    overwrite: bool = False
    class_map: list[int] | None = None
