"""Model registry bodies."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class SegModelOut(BaseModel):
    """A registered or fine-tuned model."""

    model_config = ConfigDict(from_attributes=True, protected_namespaces=())
    id: int
    project_id: int | None
    name: str
    kind: str
    status: str
    error: str | None
    architecture: str | None
    output_stride: int | None
    classes: list[dict[str, Any]] | None
    preset: str | None
    filename: str
    size_bytes: int
    sha256: str | None
    metrics: dict[str, Any] | None
    train_job_id: int | None
    base_model_id: int | None
    created_at: datetime
    has_onnx: bool
