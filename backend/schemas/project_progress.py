"""Project progress bodies."""

from datetime import datetime

from pydantic import BaseModel


class Counts(BaseModel):
    """Frames, how many are labeled (anything but unlabeled) and how many are done."""

    frames: int
    labeled: int
    done: int


class ProgressOut(Counts):
    """One project's progress, per split too ('none': no split yet)."""

    project_id: int
    splits: dict[str, Counts]
    last_activity: datetime | None
