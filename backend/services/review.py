"""The review workflow: which label status changes are allowed to whom, and frame assignment.

States: unlabeled -> in_progress -> done -> reviewed, or done -> changes_requested (with a
comment for the annotator) -> done again once fixed. Annotators move a frame between
unlabeled, in_progress and done (and out of changes_requested); only reviewers and owners
decide reviewed or changes_requested, and only on a frame marked done (or to revise their own
decision). A reviewed frame is reopened only by a reviewer or owner, and a new mask version on
it (painted, pre-labeled, restored) moves it back to in_progress: a review covers the mask it saw.
"""

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.errors import Conflict, Forbidden, Invalid
from backend.models import Frame, Membership, User
from backend.models.base import utcnow
from backend.models.frame import LABEL_STATUSES, REVIEW_DECISIONS
from backend.services.access import RANK
from backend.services.projects import get_project


def _label(status: str) -> str:
    return status.replace("_", " ")


def change_status(
    frame: Frame, status: str, user: User | None, role: str, comment: str | None = None
) -> None:
    """Apply a label status change by a user of the given project role, or explain the refusal."""
    if status not in LABEL_STATUSES:
        raise Invalid(f"label_status must be one of {', '.join(LABEL_STATUSES)}.")
    comment = (comment or "").strip() or None
    reviewer = RANK[role] >= RANK["reviewer"]
    if status in REVIEW_DECISIONS:
        if not reviewer:
            raise Forbidden(
                f"Your role in this project is {role}; only reviewers and owners mark frames "
                f"{_label(status)}."
            )
        if frame.label_status not in ("done", *REVIEW_DECISIONS):
            raise Conflict(
                f"Frame {frame.id} is {_label(frame.label_status)}; only frames marked done "
                "can be reviewed.",
                label_status=frame.label_status,
            )
        if status == "changes_requested" and comment is None:
            raise Invalid("Say what should change: review_comment is required.")
        frame.review_comment = comment
        frame.reviewed_by_id = user.id if user else None
        frame.reviewed_at = utcnow()
    else:
        if comment is not None:
            raise Invalid("review_comment goes with label_status reviewed or changes_requested.")
        if frame.label_status == "reviewed" and not reviewer:
            raise Forbidden(
                f"Frame {frame.id} is reviewed; only a reviewer or owner can reopen it."
            )
    frame.label_status = status


def _assignable(session: Session, project_id: int, user_id: int) -> None:
    role = session.scalar(
        select(Membership.role).where(
            Membership.project_id == project_id, Membership.user_id == user_id
        )
    )
    if role is None:
        raise Invalid(f"User {user_id} is not a member of project {project_id}.")
    if RANK[role] < RANK["annotator"]:
        raise Invalid(f"User {user_id} is a viewer here and cannot label; make them annotator.")


def assign_frames(
    session: Session, project_id: int, frame_ids: list[int], assignee_id: int | None
) -> int:
    """Assign frames of a project to a member who labels (None: unassign); how many changed."""
    get_project(session, project_id)
    if not frame_ids:
        raise Invalid("Choose at least one frame (frame_ids).")
    wanted = set(frame_ids)
    found = set(
        session.scalars(
            select(Frame.id).where(Frame.project_id == project_id, Frame.id.in_(wanted))
        )
    )
    missing = sorted(wanted - found)
    if missing:
        raise Invalid(f"Frames {missing} are not in project {project_id}.")
    if assignee_id is not None:
        _assignable(session, project_id, assignee_id)
    session.execute(update(Frame).where(Frame.id.in_(found)).values(assignee_id=assignee_id))
    return len(found)


def release_assignments(session: Session, project_id: int, user_id: int) -> None:
    """Unassign a user's frames in a project (they left it or can no longer label)."""
    session.execute(
        update(Frame)
        .where(Frame.project_id == project_id, Frame.assignee_id == user_id)
        .values(assignee_id=None)
    )
