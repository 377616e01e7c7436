"""Job bodies."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class JobOut(BaseModel):
    """A background job as the database records it."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    project_id: int | None
    kind: str
    queue: str
    status: str
    progress: float
    message: str
    error: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    detail: dict[str, Any] | None = None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_position: int | None = None
