"""Deletion previews and results."""

from pydantic import BaseModel


class JobBrief(BaseModel):
    """A job a deletion cancels."""

    id: int
    kind: str
    status: str


class DeletionOut(BaseModel):
    """What deleting a project, video, frame or model removes, cancels and keeps.

    `lines` says it in sentences for the confirmation dialog; send `token` back with the DELETE
    (?token=) so that it is refused (409) if more would go than was shown.
    """

    kind: str
    id: int
    name: str
    counts: dict[str, int]
    lines: list[str]
    jobs_cancelled: list[JobBrief]
    reports_removed: list[int]
    reports_kept: list[int]
    reports_refreshed: list[int]
    token: str

    @classmethod
    def of(cls, plan) -> "DeletionOut":
        """The preview of a removal plan."""
        return cls(
            kind=plan.kind,
            id=plan.thing_id,
            name=plan.name,
            counts=plan.counts,
            lines=plan.lines(),
            jobs_cancelled=[JobBrief(id=j.id, kind=j.kind, status=j.status) for j in plan.cancel],
            reports_removed=plan.removed_ids,
            reports_kept=plan.reports_kept,
            reports_refreshed=plan.reports_refreshed,
            token=plan.token,
        )
