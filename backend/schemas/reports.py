"""Report bodies: before/after scores, their 95% intervals and blocks, curves and the timeline.

The same body serves a comparison of two models (an evaluate job): before = model A,
after = model B, change = B - A, plus labels and model_ids naming the two sides.
"""

from typing import Any

from pydantic import BaseModel, Field

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


class SideLabels(BaseModel):
    """The names of the two compared models: A (before) and B (after)."""

    before: str
    after: str


class SideIds(BaseModel):
    """The ids of the two compared models: A (before) and B (after)."""

    before: int | None
    after: int | None


class SideMapping(BaseModel):
    """How one side's outputs were read as the project's classes, and where that came from.

    source: direct (its classes are the project's), given (with the request), lineage (the map
    model via_model_id was trained with), name (matched by name), training (the fine-tune job's
    own map); None for jobs older than recorded mappings. class_map[i] is the project class of
    the model's class i (None: read as they are); groups names, for each project class, the
    source classes read (or, for a direct fine-tune, trained) as it.
    """

    model_id: int | None
    source: str | None
    via_model_id: int | None
    description: str
    class_map: list[int] | None
    groups: dict[str, list[str]] | None


class MappingDifference(BaseModel):
    """Two models that read some source classes as different project classes."""

    models: list[int]
    classes: list[str]
    text: str


class ReportMappings(BaseModel):
    """The mappings of both sides; differs is non-empty when they disagree (it was confirmed)."""

    before: SideMapping | None
    after: SideMapping
    differs: list[MappingDifference]


class ReportSet(BaseModel):
    """A held-out or reference set of a fine-tune, reported like the test split.

    role: heldout (another project's labeled frames, kind "project", or this project's test
    frames at least gap_s from every train/val frame of their sequence, kind "gap") or
    reference (another project's frames from the base model's domain: a decline is forgetting).
    """

    role: str
    kind: str | None
    title: str
    lead: str = Field(description="What the set is and how to read a change on it.")
    project_id: int | None
    gap_s: float | None
    frame_ids: list[int]
    frame_names: list[str]
    frame_noun: str
    n_frames: int
    n_test_frames: int = Field(description="The same as n_frames.")
    n_blocks: int
    block_seconds: float
    frame_blocks: list[int]
    min_blocks: int
    before: Scores | None
    after: Scores
    change: Scores | None
    ci: ReportIntervals
    class_frames: dict[str, int]
    class_pixels: dict[str, int]
    sentences: list[str]


class ReportStart(BaseModel):
    """What a fine-tune started from (model_id None: random initialisation), the project's
    base model then (None when it had none yet), whether the two differ, and a sentence."""

    model_id: int | None
    name: str | None
    project_base_id: int | None
    project_base_name: str | None
    differs: bool
    sentence: str


class ReportOut(BaseModel):
    """GET /api/jobs/{id}/report: before/after of a fine-tune, or A/B of two evaluated models.

    labels and model_ids are present for comparisons only (the route leaves unset fields out,
    so a fine-tune's report keeps exactly its keys); history and timeline are then empty and
    best_iteration and model_id null.
    """

    before: Scores | None
    after: Scores
    change: Scores | None
    ci: ReportIntervals
    n_test_frames: int
    n_blocks: int = Field(description="Independent blocks of test frames the intervals rest on.")
    block_seconds: float = Field(description="Block length (0: every frame its own block).")
    block_rule: str = Field(description="The block rule in words.")
    frame_blocks: list[int] = Field(description="Block id of each test frame, in frame order.")
    min_blocks: int = Field(description="Fewer blocks than this give no 'clear' verdict.")
    class_pixels: dict[str, int]
    class_frames: dict[str, int]
    sentences: list[str]
    history: list[dict[str, Any]]
    best_iteration: int | None
    model_id: int | None
    timeline: list[TimelineStep]
    mappings: ReportMappings | None = None
    sets: dict[str, ReportSet] | None = Field(
        None, description="Held-out and reference sets by role ({} when the job had none)."
    )
    labels: SideLabels | None = None
    model_ids: SideIds | None = None
    start: ReportStart | None = Field(
        None, description="Fine-tunes: the start; null for jobs launched before it was recorded."
    )
