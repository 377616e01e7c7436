"""Projects and their ordered label classes."""

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, Timestamped


class Project(Timestamped, Base):
    """A labeling and fine-tuning project."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    initial_mask: Mapped[str] = mapped_column(String(20), default="unlabeled")
    # Bumped by every class edit, so that an editor working on an older list gets 409.
    classes_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped by each remap job: pages send it with mask saves, so one loaded before a reorder,
    # removal or merge cannot store strokes under the old ids.
    class_ids_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # One entry per remap job that changed class ids: {"job_id", "after_mask_id", "table"};
    # mask versions with id <= after_mask_id hold the ids from before it (old id -> table[id]).
    class_remaps: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    classes: Mapped[list["LabelClass"]] = relationship(
        back_populates="project",
        order_by="LabelClass.index",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class LabelClass(Base):
    """One class of a project; `index` is the pixel value stored in masks."""

    __tablename__ = "label_classes"
    __table_args__ = (UniqueConstraint("project_id", "index", name="uq_label_classes_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(7))
    project: Mapped[Project] = relationship(back_populates="classes")
