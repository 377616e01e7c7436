"""Class edit bodies."""

from pydantic import BaseModel, Field

from backend.schemas.jobs import JobOut
from backend.schemas.projects import ProjectOut


class ClassEditIn(BaseModel):
    """One class of the new ordered list; `index` is its current id, null for a new class."""

    index: int | None = None
    name: str = Field(min_length=1, max_length=100)
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$", examples=["#1f77ff"])


class RemovalIn(BaseModel):
    """A class taken out: its pixels become class `into` (a current id) or unlabeled (null)."""

    index: int
    into: int | None = None


class ClassesChange(BaseModel):
    """PUT /api/projects/{id}/classes and its preview."""

    version: int = Field(description="The classes_version the edit was made on (409 if older).")
    classes: list[ClassEditIn] = Field(min_length=1, max_length=254)
    remove: list[RemovalIn] = Field(default_factory=list, max_length=254)


class ClassesPreview(BaseModel):
    """What a change would remap."""

    remaps: bool = Field(description="Whether stored ids change (the change runs as a job).")
    masks: int = Field(description="Current mask versions that get a new 'remap' version.")
    pixels: int = Field(description="Pixels of current masks whose stored id changes.")
    class_pixels: dict[str, int] = Field(description="Pixels per current class id, all masks.")
    class_masks: dict[str, int] = Field(description="Current masks holding each class id.")
    table: list[int] = Field(description="Current id -> new id (255 = unlabeled).")


class ClassesChanged(BaseModel):
    """The project after the change, and the remap job when ids change."""

    project: ProjectOut
    job: JobOut | None
