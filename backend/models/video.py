"""Uploaded videos and what probing found in them."""

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Timestamped


class Video(Timestamped, Base):
    """A video file stored under the media directory."""

    __tablename__ = "videos"
    __table_args__ = (Index("ix_videos_project_id_content_sha256", "project_id", "content_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    container: Mapped[str] = mapped_column(String(50))
    codec: Mapped[str] = mapped_column(String(50))
    fps: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    frame_count: Mapped[int] = mapped_column(Integer)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    # SHA-256 of the uploaded file (videos, uploaded images), to report an identical upload.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
