"""ORM models; importing this package registers every table on Base.metadata."""

from backend.models.base import Base
from backend.models.frame import Frame
from backend.models.job import Job
from backend.models.mask import Mask
from backend.models.membership import Membership
from backend.models.project import LabelClass, Project
from backend.models.seg_model import SegModel
from backend.models.user import ApiToken, AuthSession, LoginFailure, User
from backend.models.video import Video

__all__ = [
    "ApiToken",
    "AuthSession",
    "Base",
    "Frame",
    "Job",
    "LabelClass",
    "LoginFailure",
    "Mask",
    "Membership",
    "Project",
    "SegModel",
    "User",
    "Video",
]
