"""Model registry bodies."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SegModelUpdate(BaseModel):
    """PATCH /api/models/{id}: rename."""

    name: str = Field(min_length=1, max_length=200)


class SegModelOut(BaseModel):
    """A registered or fine-tuned model, with its lineage.

    A fine-tune's project_id is the project of its training frames; class_map[i] is the project
    class its base model's class i (named base_class_names[i]) was trained as.
    """

    model_config = ConfigDict(from_attributes=True, protected_namespaces=())
    id: int
    project_id: int | None
    project_name: str | None
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
    class_map: list[int] | None
    base_class_names: list[str] | None
    created_at: datetime
    has_onnx: bool


class RegistrationRetry(BaseModel):
    """POST /api/models/{id}/retry: check a failed registration's file again with these options.

    A field left out is detected from the file (preset: from the size of the model's head).
    """

    model_config = ConfigDict(extra="forbid")
    architecture: str | None = None
    output_stride: int | None = None
    preset: str | None = Field(None, examples=["cityscapes20"])
