"""Small colour previews of a frame's current mask for the frame grid (cached per version)."""

import hashlib
import io

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Mask
from backend.services.frames import THUMB_SIZE, get_frame
from backend.services.projects import get_project
from backend.storage import LocalStorage

UNLABELED = 255
UNKNOWN = (255, 0, 255)  # ids without a class stand out, as in the painter


def _palette(colours: dict[int, str]) -> list[int]:
    palette = list(UNKNOWN) * 256
    for index, colour in colours.items():
        value = int(colour.lstrip("#")[:6], 16)
        palette[3 * index : 3 * index + 3] = [value >> 16, (value >> 8) & 0xFF, value & 0xFF]
    return palette


def render(mask_png: bytes, colours: dict[int, str]) -> bytes:
    """A palette PNG at most THUMB_SIZE, class colours, unlabeled transparent."""
    with Image.open(io.BytesIO(mask_png)) as image:
        ids = image.convert("L")
    # Nearest: a class id must never be blended into another id.
    ids.thumbnail(THUMB_SIZE, resample=Image.Resampling.NEAREST)
    small = Image.frombytes("P", ids.size, ids.tobytes())
    small.putpalette(_palette(colours))
    buf = io.BytesIO()
    small.save(buf, format="PNG", transparency=UNLABELED, optimize=False)
    return buf.getvalue()


def mask_thumbnail(session: Session, storage: LocalStorage, frame_id: int) -> tuple[bytes, str]:
    """The current mask's preview and its tag (changes with the version and the class colours)."""
    frame = get_frame(session, frame_id)
    colours = {c.index: c.color for c in get_project(session, frame.project_id).classes}
    digest = hashlib.sha256(repr(sorted(colours.items())).encode()).hexdigest()[:10]
    tag = f"{frame.mask_version}-{digest}"
    mask = session.scalar(
        select(Mask).where(Mask.frame_id == frame.id, Mask.version == frame.mask_version)
    )
    if mask is None:  # nothing saved yet: an empty, fully transparent preview
        blank = Image.new("L", (frame.width, frame.height), UNLABELED)
        buf = io.BytesIO()
        blank.save(buf, format="PNG")
        return render(buf.getvalue(), colours), tag
    key = f"thumbs/{mask.storage_key.removesuffix('.png')}-{digest}.png"
    if not storage.exists(key):
        with storage.open_read(mask.storage_key) as fh:
            storage.put_bytes(key, render(fh.read(), colours))
    with storage.open_read(key) as fh:
        return fh.read(), tag
