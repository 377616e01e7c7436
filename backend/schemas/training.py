"""Fine-tune and evaluation request bodies."""

from typing import Literal

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
    # Defences against overfitting and forgetting (worker/ml/defences.py); presets set them.
    distill_weight: float | None = Field(None, ge=0, le=100)
    l2sp_weight: float | None = Field(None, ge=0, le=100)
    freeze_bn: bool | None = None
    ema_decay: float | None = Field(None, ge=0, lt=1)
    select: Literal["best_val", "last"] | None = None
    # Generalisation checks, scored before and after beside the test split (see the report).
    heldout_project_id: int | None = None
    heldout_gap_s: float | None = Field(None, gt=0, le=3600)
    reference_project_id: int | None = None
    # Length of the report's resampling blocks (None: SEGTUNE_REPORT_BLOCK_SECONDS).
    block_seconds: float | None = Field(None, ge=0, le=3600)
    force: bool = False


class MappingRequest(BaseModel):
    """Models to score in a project, with a class map for any whose classes are not its own.

    class_maps: {"<model id>": [project class of each of the model's classes]}. A model left
    out is read through the map a compared fine-tune of it was trained with (its lineage),
    else by class name.
    """

    model_ids: list[int] = Field(min_length=1, max_length=20)
    class_maps: dict[int, list[int]] | None = Field(None, examples=[{"3": [0, 0, 2, 1]}])


class EvaluateRequest(MappingRequest):
    """POST /api/projects/{id}/evaluate; confirm_mapping_differs compares models whose class
    mappings differ (otherwise that is a 422 naming the classes)."""

    flip_tta: bool = False
    confirm_mapping_differs: bool = False
    block_seconds: float | None = Field(None, ge=0, le=3600)


class PrelabelRequest(BaseModel):
    """POST /api/projects/{id}/prelabel: frames default to every frame without a mask."""

    model_id: int
    frame_ids: list[int] | None = Field(None, max_length=100_000)
    overwrite: bool = False
    class_map: list[int] | None = None
