"""Find image/mask pairs in the dataset layouts SegTune imports.

Names are archive-relative with '/' separators. Images are PNG or JPEG; masks are PNG. Every
image must have a mask and every mask an image (a typo must not quietly import half a set).

- plain: `.../images/<sub>/x.jpg` with `.../masks/<sub>/x.png` (the same relative path under a
  sibling `masks` folder), or side by side `x.jpg` with `x_mask.png`. Pixels are class ids.
- color: the plain layout with RGB masks, one colour per class.
- camvid: `<d>/x.png` with `<d>annot/x.png` (the SegNet CamVid copy), e.g. train + trainannot.
- cityscapes: `leftImg8bit/<split>/<city>/<n>_leftImg8bit.png` with
  `gtFine/<split>/<city>/<n>_gtFine_labelIds.png`; the other gtFine files are ignored. labelIds
  are Cityscapes label ids (car 26, traffic sign 20), not train ids.
- segtune: a SegTune export, read through its `manifest.json` (which also gives the classes).
- auto: segtune if there is a manifest.json, else cityscapes if there are leftImg8bit/ and
  gtFine/ folders, else camvid if there is an `<d>annot/` folder, else plain.

Splits come from the layout: a folder named train, val or test (plain, camvid, cityscapes), or
the manifest (segtune).
"""

import json
import math
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from backend.errors import Invalid
from backend.models.frame import LABEL_STATUSES, SPLITS
from backend.services.datasets.archive import Source, unsafe_reason

LAYOUTS = ("auto", "plain", "color", "camvid", "cityscapes", "segtune")
IMAGE_EXTS = (".png", ".jpg", ".jpeg")
MAX_MANIFEST_BYTES = 256 * 2**20
_CITY_IMAGE = re.compile(
    r"^(?P<pre>(?:.*/)?)leftImg8bit/(?P<rest>[^/]+/[^/]+/[^/]+)_leftImg8bit\.png$"
)
_CITY_MASK = re.compile(
    r"^(?P<pre>(?:.*/)?)gtFine/(?P<rest>[^/]+/[^/]+/[^/]+)_gtFine_labelIds\.png$"
)


@dataclass(frozen=True)
class Pair:
    """One image, its mask (None only in SegTune exports) and what the layout says about it."""

    image: str
    mask: str | None
    split: str | None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Dataset:
    """The pairs found, the layout that found them, and the source classes when known."""

    layout: str
    pairs: list[Pair]
    classes: list[dict[str, Any]] | None = None


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTS)


def _stem(name: str) -> str:
    return posixpath.splitext(posixpath.basename(name))[0]


def _split_of(path: str) -> str | None:
    folders = [p for p in path.split("/")[:-1] if p in SPLITS]
    return folders[-1] if folders else None


def detect_layout(names: list[str], colour_mapping: bool = False) -> str:
    """The layout 'auto' stands for, from the file names alone."""
    dirs = {part for name in names for part in name.split("/")[:-1]}
    if any(posixpath.basename(n) == "manifest.json" for n in names):
        return "segtune"
    if "leftImg8bit" in dirs and "gtFine" in dirs:
        return "cityscapes"
    if any(d.endswith("annot") and d[:-5] in dirs for d in dirs):
        return "camvid"
    return "color" if colour_mapping else "plain"


def find_pairs(source: Source, layout: str) -> Dataset:
    """Pair every image with its mask in a (non-auto) layout; refuses strays by name."""
    if layout == "segtune":
        return _segtune(source)
    finder = {"plain": _plain, "color": _plain, "camvid": _camvid, "cityscapes": _cityscapes}
    if layout not in finder:
        raise Invalid(f"layout must be one of {', '.join(LAYOUTS)}.")
    pairs = finder[layout](source.names)
    if not pairs:
        raise Invalid(f"No image/mask pairs were found in the {layout} layout.")
    return Dataset(layout, pairs)


def _match(images: list[str], masks: set[str], candidates, layout: str) -> list[Pair]:
    pairs, used = [], set()
    for image in images:
        options = candidates(image)
        mask = next((m for m in options if m in masks), None)
        if mask is None:
            raise Invalid(
                f"{image}: no mask found for this image (looked for {' or '.join(options)}).",
                entry=image,
            )
        if mask in used:
            raise Invalid(f"{image}: its mask {mask} belongs to another image too.", entry=image)
        used.add(mask)
        pairs.append(Pair(image, mask, _split_of(image)))
    strays = sorted(masks - used)
    if strays:
        raise Invalid(f"{strays[0]}: a {layout} mask without an image.", entry=strays[0])
    return pairs


def _plain(names: list[str]) -> list[Pair]:
    images, masks = [], set()
    for name in filter(_is_image, names):
        if "masks" in name.split("/")[:-1] or _stem(name).endswith("_mask"):
            masks.add(name)
        else:
            images.append(name)

    def candidates(image: str) -> list[str]:
        folder, stem = posixpath.dirname(image), _stem(image)
        out = []
        parts = folder.split("/")
        if "images" in parts:
            at = len(parts) - 1 - parts[::-1].index("images")
            out.append("/".join([*parts[:at], "masks", *parts[at + 1 :], f"{stem}.png"]))
        out.append(posixpath.join(folder, f"{stem}_mask.png"))
        return out

    return _match(images, masks, candidates, "plain")


def _camvid(names: list[str]) -> list[Pair]:
    images, masks = [], set()
    for name in filter(_is_image, names):
        folder = posixpath.basename(posixpath.dirname(name))
        if folder.endswith("annot") and folder != "annot":
            masks.add(name)
        else:
            images.append(name)

    def candidates(image: str) -> list[str]:
        folder = posixpath.dirname(image) + "annot"
        return list(
            dict.fromkeys([f"{folder}/{posixpath.basename(image)}", f"{folder}/{_stem(image)}.png"])
        )

    return _match(images, masks, candidates, "camvid")


def _cityscapes(names: list[str]) -> list[Pair]:
    images = [n for n in names if _CITY_IMAGE.match(n)]
    masks = {n for n in names if _CITY_MASK.match(n)}

    def candidates(image: str) -> list[str]:
        m = _CITY_IMAGE.match(image)
        return [f"{m['pre']}gtFine/{m['rest']}_gtFine_labelIds.png"]

    pairs = _match(images, masks, candidates, "cityscapes")
    # The split folder may be anything (train_extra, a typo): only train/val/test are splits.
    folders = [_CITY_IMAGE.match(p.image)["rest"].split("/")[0] for p in pairs]
    return [
        Pair(p.image, p.mask, f if f in SPLITS else None)
        for p, f in zip(pairs, folders, strict=True)
    ]


def _segtune(source: Source) -> Dataset:
    manifests = sorted(
        (n for n in source.names if posixpath.basename(n) == "manifest.json"),
        key=lambda n: n.count("/"),
    )
    if not manifests:
        raise Invalid("No manifest.json was found; is this a SegTune export?")
    where = manifests[0]
    data = source.read(where)
    if len(data) > MAX_MANIFEST_BYTES:
        raise Invalid(f"{where} is too large.", entry=where)
    try:
        manifest = json.loads(data)
        classes = [
            {"index": int(c["index"]), "name": str(c["name"]), "color": str(c["color"])}
            for c in manifest["classes"]
        ]
        frames = list(manifest["frames"])
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
        raise Invalid(f"{where} is not a SegTune manifest: {exc}.", entry=where) from exc
    prefix = posixpath.dirname(where)
    listed = set(source.names)
    pairs = [_manifest_pair(frame, prefix, listed, where) for frame in frames]
    if not pairs:
        raise Invalid(f"{where} lists no frames.", entry=where)
    seen: set[str] = set()
    for name in (n for pair in pairs for n in (pair.image, pair.mask) if n is not None):
        if name in seen:
            raise Invalid(f"{name}: listed more than once in {where}.", entry=name)
        seen.add(name)
    return Dataset("segtune", pairs, classes)


def _manifest_pair(frame: Any, prefix: str, listed: set[str], where: str) -> Pair:
    if not isinstance(frame, dict) or not isinstance(frame.get("image"), str):
        raise Invalid(f"{where}: every frame needs an 'image' file name.", entry=where)
    files = []
    for key in ("image", "mask"):
        rel = frame.get(key)
        if rel is None and key == "mask":
            files.append(None)
            continue
        if not isinstance(rel, str) or unsafe_reason(rel):
            raise Invalid(f"{where}: bad {key} file name {rel!r}.", entry=where)
        name = posixpath.join(prefix, rel) if prefix else rel
        if name not in listed:
            raise Invalid(f"{name}: listed in {where} but missing from the archive.", entry=name)
        files.append(name)
    split = frame.get("split")
    status = frame.get("label_status")
    source = frame.get("source") if isinstance(frame.get("source"), dict) else {}
    meta = {
        "split_locked": bool(frame.get("split_locked", split is not None)),
        "label_status": status if status in LABEL_STATUSES else None,
        "timestamp_s": _seconds(source.get("timestamp_s")),
        "source_name": _source_name(source),
    }
    return Pair(files[0], files[1], split if split in SPLITS else None, meta)


def _seconds(value: Any) -> float | None:
    """A finite number of seconds, or None (NaN, infinities and huge ints are not JSON)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def _source_name(source: dict[str, Any]) -> str | None:
    video, index, name = source.get("video"), source.get("frame_index"), source.get("name")
    if isinstance(video, str) and isinstance(index, int):
        return f"{video} #{index}"
    if isinstance(name, str):
        return name
    return None
