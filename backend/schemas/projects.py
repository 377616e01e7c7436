"""Project bodies."""

from pydantic import BaseModel, ConfigDict, Field


class ClassIn(BaseModel):
    """A class as sent by a client."""

    name: str = Field(min_length=1, max_length=100)
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$", examples=["#1f77ff"])


class ClassOut(BaseModel):
    """A class with its mask pixel value."""

    model_config = ConfigDict(from_attributes=True)
    index: int
    name: str
    color: str


class ProjectCreate(BaseModel):
    """POST /api/projects."""

    name: str = Field(min_length=1, max_length=200)
    classes: list[ClassIn] | None = Field(None, max_length=254)
    initial_mask: str = Field("unlabeled", pattern="^(unlabeled|background)$")


class ProjectUpdate(BaseModel):
    """PATCH /api/projects/{id}."""

    name: str | None = Field(None, min_length=1, max_length=200)
    classes: list[ClassIn] | None = Field(None, min_length=1, max_length=254)
    initial_mask: str | None = Field(None, pattern="^(unlabeled|background)$")


class ProjectOut(BaseModel):
    """A project with its ordered classes."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    initial_mask: str
    classes_version: int
    class_ids_version: int
    classes: list[ClassOut]


class ProjectListItem(ProjectOut):
    """A project in GET /api/projects, with the caller's role in it."""

    role: str
