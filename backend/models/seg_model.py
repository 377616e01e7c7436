"""Segmentation models: registered base checkpoints and fine-tuned results."""

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, Timestamped
from backend.models.project import Project

MODEL_STATUSES = ("pending", "ready", "failed")


class SegModel(Timestamped, Base):
    """A checkpoint file SegTune can run: what it is, what its outputs mean, where it lives."""

    __tablename__ = "seg_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="base")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    architecture: Mapped[str | None] = mapped_column(String(60))
    output_stride: Mapped[int | None] = mapped_column(Integer)
    classes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    preset: Mapped[str | None] = mapped_column(String(40))
    storage_key: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    onnx_key: Mapped[str | None] = mapped_column(String(255))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    train_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    base_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("seg_models.id", ondelete="SET NULL")
    )
    # Lineage of a fine-tune: base class i was trained as project class class_map[i]. The base's
    # class names are kept with it, so the mapping stays readable when the base is deleted.
    class_map: Mapped[list[int] | None] = mapped_column(JSON)
    base_class_names: Mapped[list[str] | None] = mapped_column(JSON)
    # The project of a fine-tune's training frames (None: a shared model).
    project: Mapped[Project | None] = relationship(lazy="selectin")

    @property
    def project_name(self) -> str | None:
        """Name of the model's project (None for a shared model)."""
        return self.project.name if self.project else None

    @property
    def has_onnx(self) -> bool:
        """Whether an ONNX export of this model is stored."""
        return bool(self.onnx_key)
