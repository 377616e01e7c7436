"""Superpixel request and state bodies."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.schemas.jobs import JobOut

Granularity = Literal["fine", "coarse"]


class SuperpixelRequest(BaseModel):
    """Which superpixels of a frame to compute."""

    model_config = ConfigDict(extra="forbid")
    granularity: Granularity = "fine"


class SuperpixelStateOut(BaseModel):
    """Whether a frame's superpixels are cached, else the job computing them."""

    model_config = ConfigDict(from_attributes=True)
    frame_id: int
    granularity: Granularity
    ready: bool = Field(description="True when GET returns the label image now.")
    job: JobOut | None = Field(description="The job computing them, while they are not ready.")
