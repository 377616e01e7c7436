"""Before/after reports of fine-tune jobs: statistics, figures, timeline and downloads."""

from backend.services.reports.service import (
    get_csv,
    get_figure,
    get_html,
    get_report,
    get_timeline_gif,
    get_timeline_overlay,
)

__all__ = [
    "get_csv",
    "get_figure",
    "get_html",
    "get_report",
    "get_timeline_gif",
    "get_timeline_overlay",
]
