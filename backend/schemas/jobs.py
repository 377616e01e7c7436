"""Job bodies."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


def _absent(value: object) -> bool:
    return value is None


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
    error: str | None = Field(description="Why the job failed, in one sentence.")
    error_detail: str | None = Field(
        None,
        exclude_if=_absent,
        description="The failure's technical detail (a traceback); only in answers to site "
        "administrators, and only when there is one.",
    )
    params: dict[str, Any]
    result: dict[str, Any] | None
    detail: dict[str, Any] | None = None
    attempts: int
    device: str | None = Field(
        None, description="What a model job computes on ('CPU', 'GPU (name)') once it started."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_position: int | None = None

    @field_validator("error_detail", mode="before")
    @classmethod
    def _for_admins_only(cls, value: object, info: ValidationInfo) -> object:
        # Whatever builds a JobOut from a Job row drops the detail unless it is validated
        # with context {"admin": True}: a route that forgets leaks nothing.
        return value if (info.context or {}).get("admin") else None

    @classmethod
    def of(cls, job: object, admin: bool) -> "JobOut":
        """A job as seen by an administrator (with error_detail) or anyone else (without)."""
        return cls.model_validate(job, context={"admin": admin})
