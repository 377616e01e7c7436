"""Frame navigation bodies."""

from pydantic import BaseModel, ConfigDict


class PlaceOut(BaseModel):
    """A frame found by navigation (frame_id null: none of that kind) and its grid position."""

    model_config = ConfigDict(from_attributes=True)
    frame_id: int | None
    position: int | None
    total: int
