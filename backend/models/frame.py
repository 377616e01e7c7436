"""Frames to label: sampled from a video or uploaded as images."""

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, column_property, mapped_column

from backend.models.base import Base, Timestamped, UTCDateTime
from backend.models.mask import Mask

SPLITS = ("train", "val", "test")
LABEL_STATUSES = ("unlabeled", "in_progress", "done", "changes_requested", "reviewed")
REVIEW_DECISIONS = ("reviewed", "changes_requested")
"""Statuses only a reviewer (or owner) sets; see backend/services/review.py for the rules."""
FINISHED = ("done", "reviewed")
"""Statuses whose mask the annotator calls finished (exports' "only labeled")."""
DRAFT_SOURCE = "prelabel"
PROPAGATION_SOURCE = "propagation"
DRAFT_SOURCES = (DRAFT_SOURCE, PROPAGATION_SOURCE)
"""Mask sources that are drafts for a person to check: a model's pre-label, a propagated mask."""


class Frame(Timestamped, Base):
    """One image (stored losslessly as PNG) with its split and label status."""

    __tablename__ = "frames"
    __table_args__ = (
        UniqueConstraint("video_id", "index", name="uq_frames_video_index"),
        Index("ix_frames_project_id_content_sha256", "project_id", "content_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    video_id: Mapped[int | None] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), index=True
    )
    index: Mapped[int | None] = mapped_column(Integer)
    timestamp_s: Mapped[float | None] = mapped_column(Float)
    source_name: Mapped[str | None] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(255))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    split: Mapped[str | None] = mapped_column(String(10))
    split_locked: Mapped[bool] = mapped_column(default=False)
    label_status: Mapped[str] = mapped_column(String(20), default="unlabeled")
    mask_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The last review decision (reviewed or changes requested): who, when, and what they said.
    review_comment: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SHA-256 of the uploaded file (videos, uploaded images), to report an identical upload.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    # Read, never stored: the source of the current mask version ("prelabel" = a model draft).
    mask_source: Mapped[str | None] = column_property(
        select(Mask.source)
        .where(Mask.frame_id == id, Mask.version == mask_version)
        .correlate_except(Mask)
        .scalar_subquery()
    )
