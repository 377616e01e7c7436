"""Mask propagation: carry a labeled frame's mask to its video's neighbouring sampled frames."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Invalid
from backend.models import Frame, Job, User
from backend.services.frames import get_frame
from backend.services.jobs import create_job
from backend.services.prelabel import model_mapping

KIND = "propagate"
MAX_COUNT = 50
DIRECTIONS = ("forward", "backward", "both")


def neighbours(session: Session, frame: Frame, direction: str, count: int) -> dict[str, list[int]]:
    """The next `count` sampled frames of the frame's video each way, nearest first."""
    query = select(Frame.id).where(Frame.video_id == frame.video_id)
    chains: dict[str, list[int]] = {}
    if direction in ("forward", "both"):
        later = query.where(Frame.index > frame.index).order_by(Frame.index)
        chains["forward"] = list(session.scalars(later.limit(count)))
    if direction in ("backward", "both"):
        earlier = query.where(Frame.index < frame.index).order_by(Frame.index.desc())
        chains["backward"] = list(session.scalars(earlier.limit(count)))
    return chains


def request_propagation(
    session: Session,
    frame_id: int,
    direction: str,
    count: int,
    model_id: int | None = None,
    overwrite: bool = False,
    *,
    reader: User | None,
    class_map: list[int] | None = None,
) -> Job:
    """Queue drafts for the neighbouring frames; every refusal comes before anything is queued.

    Where the flow is unreliable the draft falls back to the model's prediction (with its class
    map, as for pre-labels) or, without a model, stays unlabeled.
    """
    if direction not in DIRECTIONS:
        raise Invalid(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}.")
    if not 1 <= count <= MAX_COUNT:
        raise Invalid(f"count must be from 1 to {MAX_COUNT}, not {count}.")
    frame = get_frame(session, frame_id)
    if frame.video_id is None or frame.index is None:
        raise Invalid(
            f"Frame {frame_id} is an imported image, not a frame of a video: it has no "
            "neighbouring frames to propagate to."
        )
    if frame.mask_version == 0:
        raise Invalid(f"Frame {frame_id} has no mask yet: paint or accept one, then propagate it.")
    mapping = None
    if model_id is not None:
        mapping = model_mapping(session, frame.project_id, model_id, reader, class_map)
    chains = neighbours(session, frame, direction, count)
    if not any(chains.values()):
        where = {"forward": "after", "backward": "before", "both": "next to"}[direction]
        raise Invalid(f"No sampled frame of this video comes {where} frame {frame_id}.")
    params = {
        "frame_id": frame_id,
        "source_version": frame.mask_version,
        "direction": direction,
        "count": count,
        "chains": chains,
        # Every frame the job reads or writes: deleting one of them cancels the job.
        "frame_ids": [frame_id, *(i for chain in chains.values() for i in chain)],
        "overwrite": overwrite,
        "model_id": model_id,
        "class_map": None if mapping is None else mapping["table"],
        "mapping": mapping,
    }
    # A model runs where the models run; flow alone is light work.
    queue = "gpu" if model_id is not None else "cpu"
    return create_job(session, KIND, params, frame.project_id, queue=queue)
