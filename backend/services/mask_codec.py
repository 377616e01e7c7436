"""Mask PNGs: single-channel 8-bit class ids, 255 = unlabeled; decode strictly, encode fast."""

import io
import zlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from backend.errors import Invalid

UNLABELED = 255
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_mask(data: bytes, width: int, height: int, n_classes: int) -> dict[str, int]:
    """Check an uploaded mask and return its pixel counts per id; every rejection says why."""
    if not data.startswith(PNG_SIGNATURE):
        raise Invalid("The mask must be a PNG image (Content-Type image/png).")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.mode not in ("L", "P"):
                raise Invalid(
                    f"The mask must have one 8-bit channel of class ids; this PNG is {image.mode}."
                )
            if image.size != (width, height):
                raise Invalid(
                    f"The mask is {image.width}x{image.height}; the frame is {width}x{height}."
                )
            # Pillow's histogram counts the raw 8-bit values (palette indices for mode P) in C,
            # several times faster than decoding to numpy and counting there.
            histogram = image.histogram()[:256]
    except Image.DecompressionBombError as exc:
        raise Invalid(f"The mask PNG claims a size far over the frame's {width}x{height}.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, zlib.error) as exc:
        raise Invalid("The mask PNG is corrupt and cannot be decoded.") from exc
    bad = [v for v, n in enumerate(histogram) if n and v >= n_classes and v != UNLABELED]
    if bad:
        raise Invalid(
            f"The mask contains value {bad[0]}, which is not a class index "
            f"(0-{n_classes - 1}) or 255 (unlabeled)."
        )
    return {str(v): n for v, n in enumerate(histogram) if n}


def pixel_counts(labels: np.ndarray) -> dict[str, int]:
    """Pixels per class id present (keys are ids as strings, '255' = unlabeled)."""
    counts = np.bincount(labels.ravel(), minlength=256)
    return {str(int(v)): int(counts[v]) for v in np.flatnonzero(counts)}


def encode_mask(labels: np.ndarray) -> bytes:
    """PNG bytes of a label map (fast compression: masks are mostly flat regions)."""
    buf = io.BytesIO()
    Image.fromarray(labels.astype(np.uint8), mode="L").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def remap_png(data: bytes, table: list[int]) -> tuple[bytes, dict[str, int]]:
    """A stored mask PNG with every id v replaced by table[v], and its new pixel counts."""
    with Image.open(io.BytesIO(data)) as image:
        # Stored masks are mode L or P; for P the palette indices are the class ids.
        labels = np.asarray(image)
    remapped = np.asarray(table, np.uint8)[labels]
    return encode_mask(remapped), pixel_counts(remapped)


def blank_mask(width: int, height: int, initial: str) -> np.ndarray:
    """The starting mask of a frame: all unlabeled, or all background (class 0)."""
    return np.full((height, width), 0 if initial == "background" else UNLABELED, np.uint8)
