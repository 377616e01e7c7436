"""Frames to label: sampled from a video or uploaded as images."""

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Timestamped

SPLITS = ("train", "val", "test")
LABEL_STATUSES = ("unlabeled", "in_progress", "done")


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
    # SHA-256 of the uploaded file (videos, uploaded images), to report an identical upload.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
