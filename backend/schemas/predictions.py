"""Video prediction request body."""

from pydantic import BaseModel, Field


class PredictRequest(BaseModel):
    """POST /api/videos/{id}/predict: a model (and a 'before' model to compare) over a range."""

    model_id: int
    compare_model_id: int | None = None
    fps: float | None = Field(None, gt=0, le=120, description="Default: the video's own rate.")
    start_s: float | None = Field(None, ge=0)
    end_s: float | None = Field(None, gt=0)
    class_map: list[int] | None = Field(
        None, description="Project class of each of model_id's classes (default: by name)."
    )
    compare_class_map: list[int] | None = Field(
        None,
        description="Project class of each of compare_model_id's classes (default: its lineage "
        "or by name); a fine-tune's report sends the map the fine-tune was trained with.",
    )
    opacity: float = Field(0.5, ge=0, le=1)
    masks: bool = Field(False, description="Also make a zip of one class-id mask PNG per frame.")
    smooth: int = Field(
        1, ge=1, le=15, description="Average class probabilities over this many frames (odd)."
    )
