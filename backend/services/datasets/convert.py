"""One image/mask pair of an import: decode strictly, check, map the mask, write both PNGs."""

import io
import zlib
from typing import Any

from PIL import Image, UnidentifiedImageError

from backend.config import Settings
from backend.errors import Invalid
from backend.services.datasets.classmap import ClassMap
from backend.services.datasets.layouts import Pair
from backend.services.mask_codec import encode_mask, pixel_counts
from backend.storage import LocalStorage


def open_image(data: bytes, name: str, settings: Settings, what: str) -> Image.Image:
    """Decode an image or mask of an import strictly (format, size), naming the entry on failure."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in ("PNG", "JPEG") or (what == "mask" and image.format != "PNG"):
            allowed = "PNG" if what == "mask" else "JPEG or PNG"
            raise Invalid(f"{name}: a {what} must be {allowed}, not {image.format}.", entry=name)
        if image.width * image.height > settings.max_frame_pixels:
            size = f"{image.width}x{image.height}"
            raise Invalid(f"{name}: {size} is over the frame size limit.", entry=name)
        image.load()
        return image
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, zlib.error) as exc:
        raise Invalid(f"{name}: not a readable {what} image.", entry=name) from exc
    except Image.DecompressionBombError as exc:
        raise Invalid(f"{name}: the image is too large.", entry=name) from exc


def convert_pair(
    storage: LocalStorage,
    settings: Settings,
    classmap: ClassMap,
    pair: Pair,
    image_bytes: bytes,
    mask_bytes: bytes | None,
    image_key: str,
    mask_key: str | None,
) -> dict[str, Any]:
    """Write the frame PNG and the mapped mask PNG of a pair; returns keys, size and counts."""
    # EXIF orientation is ignored on purpose: dataset masks align with the stored pixel grid.
    source = open_image(image_bytes, pair.image, settings, "image")
    verbatim = _plain_rgb_png(image_bytes, source)
    image = source.convert("RGB")
    out: dict[str, Any] = {"image_key": image_key, "width": image.width, "height": image.height}
    if pair.mask is not None:
        mask = open_image(mask_bytes, pair.mask, settings, "mask")
        if mask.size != image.size:
            raise Invalid(
                f"{pair.mask}: the mask is {mask.width}x{mask.height} but its image "
                f"{pair.image} is {image.width}x{image.height}.",
                entry=pair.mask,
            )
        labels = classmap.apply(mask, pair.mask)
        with storage.open_write(mask_key) as fh:
            fh.write(encode_mask(labels))
        out.update(mask_key=mask_key, counts=pixel_counts(labels))
    with storage.open_write(image_key) as fh:
        if verbatim:
            fh.write(image_bytes)  # already what we would write: skip a slow re-encode
        else:
            image.save(fh, format="PNG", compress_level=1)
    return out


def _plain_rgb_png(data: bytes, image: Image.Image) -> bool:
    # IHDR: bit depth at byte 24, colour type 2 (truecolour) at byte 25.
    return (
        image.format == "PNG"
        and data[24:26] == b"\x08\x02"
        and not getattr(image, "is_animated", False)
    )
