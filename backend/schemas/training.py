"""Fine-tune and evaluation request bodies."""

from pydantic import BaseModel, Field


class TrainRequest(BaseModel):
    """POST /api/projects/{id}/train: a preset, with any field overridden by hand."""

    base_model_id: int | None = None
    preset: str | None = Field(None, examples=["seed-study"])
    iterations: int | None = Field(None, ge=1, le=100_000)
    batch_size: int | None = Field(None, ge=2, le=256)
    crop_size: int | None = Field(None, ge=32, le=4096)
    lr: float | None = Field(None, gt=0, le=10)
    seed: int | None = None
    val_every: int | None = Field(None, ge=1)
    hflip: bool | None = None
    color_jitter: float | None = Field(None, ge=0, le=1)
    scale_min: float | None = Field(None, gt=0, le=4)
    scale_max: float | None = Field(None, gt=0, le=4)
    class_map: list[int] | None = None
    force: bool = False


class EvaluateRequest(BaseModel):
    """POST /api/projects/{id}/evaluate."""

    model_ids: list[int] = Field(min_length=1, max_length=20)
    flip_tta: bool = False


class PrelabelRequest(BaseModel):
    """POST /api/projects/{id}/prelabel: frames default to every frame without a mask."""

    model_id: int
    frame_ids: list[int] | None = Field(None, max_length=100_000)
    overwrite: bool = False
