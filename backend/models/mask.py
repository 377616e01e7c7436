"""Saved mask versions of a frame (every version is kept and can be restored)."""

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Timestamped


class Mask(Timestamped, Base):
    """One version of a frame's mask: a single-channel PNG of class ids, 255 = unlabeled."""

    __tablename__ = "masks"
    __table_args__ = (UniqueConstraint("frame_id", "version", name="uq_masks_frame_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(255))
    class_pixel_counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(20), default="painter")
    # Who saved it (painter, restore, import by a person); NULL for model drafts and old rows.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
