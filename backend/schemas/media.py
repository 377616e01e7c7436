"""Video, frame and split bodies."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from backend.models.frame import DRAFT_SOURCES


class VideoOut(BaseModel):
    """An uploaded video and its probed facts (width/height as displayed)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    project_id: int
    filename: str
    container: str
    codec: str
    fps: float
    duration_s: float
    width: int
    height: int
    frame_count: int
    rotation: int
    size_bytes: int


class VideoUpdate(BaseModel):
    """PATCH /api/videos/{id}: rename."""

    filename: str = Field(min_length=1, max_length=255)


class SampleRequest(BaseModel):
    """POST /api/videos/{id}/sample: a rate or every N-th frame, optionally a range and cap."""

    fps: float | None = Field(None, gt=0, le=240)
    every_n_frames: int | None = Field(None, ge=1)
    start_s: float | None = Field(None, ge=0)
    end_s: float | None = Field(None, gt=0)
    max_frames: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_mode(self):
        if (self.fps is None) == (self.every_n_frames is None):
            raise ValueError("give exactly one of fps or every_n_frames")
        return self


class FrameOut(BaseModel):
    """A frame to label."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    video_id: int | None
    index: int | None
    timestamp_s: float | None
    source_name: str | None
    width: int
    height: int
    split: str | None
    split_locked: bool
    label_status: str
    mask_version: int
    mask_source: str | None
    assignee_id: int | None
    review_comment: str | None
    reviewed_by_id: int | None
    reviewed_at: datetime | None

    @computed_field
    @property
    def draft(self) -> bool:
        """Whether the current mask is a draft (pre-label, propagation) nobody has accepted."""
        return self.mask_source in DRAFT_SOURCES


class FrameUpdate(BaseModel):
    """PATCH /api/frames/{id}: a review decision needs a reviewer; changes need a comment."""

    split: str | None = Field(None, pattern="^(train|val|test|none)$")
    label_status: str | None = Field(
        None, pattern="^(unlabeled|in_progress|done|changes_requested|reviewed)$"
    )
    review_comment: str | None = Field(None, max_length=2000)


class AssignRequest(BaseModel):
    """POST /api/projects/{id}/assignments: these frames to this member (null: unassign)."""

    frame_ids: list[int] = Field(min_length=1, max_length=100_000)
    assignee_id: int | None


class AssignResult(BaseModel):
    """How many frames were (un)assigned."""

    assigned: int


class SplitRequest(BaseModel):
    """POST /api/projects/{id}/splits; fractions need not sum to 1 (they are normalised)."""

    strategy: str = Field("contiguous", pattern="^(contiguous|random)$")
    train: float = Field(0.7, ge=0)
    val: float = Field(0.1, ge=0)
    test: float = Field(0.2, ge=0)
    seed: int = 0


class SplitCounts(BaseModel):
    """Frames per split after an assignment."""

    train: int
    val: int
    test: int
