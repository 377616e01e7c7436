"""Display names for user-supplied file names (never used to build storage paths)."""

import unicodedata

from backend.errors import Invalid

MAX_NAME = 255


def display_filename(raw: str | None, fallback: str = "upload") -> str:
    """The last path component of a client file name, without control characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if name in ("", ".", ".."):
        name = fallback
    return name[:MAX_NAME]


def extension(name: str) -> str:
    """Lower-case extension of a display name, with the dot ('' when absent)."""
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem and ext.isalnum() and len(ext) <= 5 else ""


def checked_name(raw: str, limit: int, what: str) -> str:
    """A renamed object's name without surrounding spaces; 422 unless 1 to limit characters."""
    name = raw.strip()
    if not name or len(name) > limit:
        raise Invalid(f"A {what} name must be 1 to {limit} characters long.")
    return name
