"""Report bodies: before/after scores, their 95% intervals, curves and the timeline."""

from typing import Any

from pydantic import BaseModel

Interval = list[float] | None  # [low, high]; None (n/a) when no resample had the figure


class Scores(BaseModel):
    """Pixel accuracy, mean IoU and IoU per class name (None = n/a)."""

    pixel_accuracy: float | None
    mean_iou: float | None
    class_iou: dict[str, float | None]


class Intervals(BaseModel):
    """95% bootstrap percentile intervals of every figure."""

    pixel_accuracy: Interval
    mean_iou: Interval
    class_iou: dict[str, Interval]


class ReportIntervals(BaseModel):
    """Intervals of before, after and the paired change (before/change None without a base)."""

    before: Intervals | None
    after: Intervals
    change: Intervals | None


class TimelineStep(BaseModel):
    """The validation overlays recorded after one iteration."""

    iteration: int
    urls: list[str]


class ReportOut(BaseModel):
    """GET /api/jobs/{id}/report: the before/after report of a finished fine-tune."""

    before: Scores | None
    after: Scores
    change: Scores | None
    ci: ReportIntervals
    n_test_frames: int
    class_pixels: dict[str, int]
    class_frames: dict[str, int]
    sentences: list[str]
    history: list[dict[str, Any]]
    best_iteration: int | None
    model_id: int | None
    timeline: list[TimelineStep]
