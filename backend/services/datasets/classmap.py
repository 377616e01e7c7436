"""Source mask values -> project class indices (255 = unlabeled), with presets by class name.

A mapping is a preset name or a JSON object. Keys are source ids ("8") or, for colour masks,
colours ("#rrggbb"); "default" covers every other value. Values are a project class index, a
project class name, or 255 / "unlabeled" (also "unlabelled", "ignore": these words always mean
255). A value with no mapping fails the import with the file's name. Without a mapping, id masks
must already hold project indices or 255, colour masks use the project's class colours, and
SegTune exports are matched to the project's classes by name.

Presets name project classes, so they work for any project that has those classes:
- camvid-default: Car 8 -> car, SignSymbol 6 (which also covers traffic lights) -> traffic
  sign, Unlabelled 11 -> unlabeled, every other CamVid class -> background.
- cityscapes-default (labelIds, not train ids): car 26 -> car, traffic sign 20 -> traffic sign;
  0-3 (unlabeled, ego vehicle, rectification border, out of roi) -> unlabeled, because they are
  not street content (the ego car's bonnet is not a car to learn); every other id, including
  the void classes static, dynamic and ground, -> background.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from backend.errors import Invalid

UNLABELED = 255
UNLABELED_WORDS = ("unlabeled", "unlabelled", "ignore")
_COLOR = re.compile(r"^#[0-9a-f]{6}$")
# ASCII digits only: str.isdigit() also accepts '²', which int() refuses.
_SMALL_INT = re.compile(r"[0-9]{1,4}")

PRESETS: dict[str, dict[str, Any]] = {
    "camvid-default": {"8": "car", "6": "traffic sign", "11": "unlabeled", "default": "background"},
    "cityscapes-default": {
        "26": "car",
        "20": "traffic sign",
        **{str(i): "unlabeled" for i in range(4)},
        "default": "background",
    },
}


@dataclass(frozen=True)
class ProjectClass:
    """What a mapping needs to know of a project class."""

    index: int
    name: str
    color: str


def parse_mapping(raw: str | dict | None) -> dict[str, Any] | None:
    """A preset name, JSON text or dict as a mapping dict (None = no mapping)."""
    if raw is None or raw == "" or raw == {}:
        return None
    if isinstance(raw, str):
        text = raw.strip()
        if text in PRESETS:
            return dict(PRESETS[text])
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise Invalid(
                f"mapping must be a preset ({', '.join(PRESETS)}) or a JSON object."
            ) from exc
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise Invalid('mapping must be a JSON object such as {"8": "car", "default": 0}.')
    mapping = {
        k.strip().lower() if k.strip().startswith("#") else k.strip(): v for k, v in raw.items()
    }
    return mapping or None  # '{}' means no mapping, as {} does


def parse_cli_map(text: str | None, default: str | None = None) -> dict[str, Any] | None:
    """`8=car,6=traffic sign,11=unlabeled` (or a preset, or JSON) plus --default as a mapping."""
    if text and (text.strip() in PRESETS or text.strip().startswith("{")):
        mapping = parse_mapping(text) or {}
    else:
        mapping = {}
        for item in filter(None, (part.strip() for part in (text or "").split(","))):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise Invalid(f"--map entries look like 8=car; got {item!r}.")
            mapping[key.strip()] = value.strip().strip("\"'")
    if default is not None:
        mapping["default"] = default
    return mapping or None


def _target(value: Any, classes: list[ProjectClass]) -> int:
    if isinstance(value, str) and _SMALL_INT.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(classes) or value == UNLABELED:
            return value
        raise Invalid(f"mapping target {value} is not a class index (0-{len(classes) - 1}) or 255.")
    if isinstance(value, str):
        wanted = value.strip().lower()
        if wanted in UNLABELED_WORDS:
            return UNLABELED
        for cls in classes:
            if cls.name.lower() == wanted:
                return cls.index
    names = ", ".join(c.name for c in classes)
    raise Invalid(f"mapping target {value!r} is not a class of this project ({names}).")


class ClassMap:
    """Turns a decoded source mask into project class ids, or names the first unmapped value."""

    def __init__(
        self,
        ids: np.ndarray | None,
        colors: dict[int, int] | None,
        default: int | None,
        source_names: dict[int, str] | None = None,
    ):
        self.ids, self.colors, self.default = ids, colors, default
        self.source_names = source_names or {}

    def apply(self, mask: Image.Image, name: str) -> np.ndarray:
        """Project class ids (uint8, 255 = unlabeled) of a mask image."""
        return self._by_color(mask, name) if self.colors is not None else self._by_id(mask, name)

    def target(self, value: int) -> int | None:
        """The project class a source id (or packed 0xRRGGBB colour) maps to; None: unmapped."""
        if self.colors is not None:
            return self.colors.get(value, self.default)
        found = int(self.ids[value])
        return None if found < 0 else found

    def source_values(self, mask: Image.Image, name: str) -> dict[int, int]:
        """Pixel count per source value of a mask (ids, or packed colours in colour mode)."""
        if self.colors is not None:
            values, counts = np.unique(_packed(mask), return_counts=True)
        else:
            counts = np.bincount(_ids(mask, name).ravel(), minlength=256)
            values = np.flatnonzero(counts)
            counts = counts[values]
        return dict(zip(values.tolist(), counts.tolist(), strict=True))

    def _by_id(self, mask: Image.Image, name: str) -> np.ndarray:
        source = _ids(mask, name)
        present = np.bincount(source.ravel(), minlength=256) > 0
        unmapped = np.flatnonzero(present & (self.ids < 0))
        if unmapped.size:
            value = int(unmapped[0])
            known = self.source_names.get(value)
            what = f"mask value {value}" + (f" (class {known!r} of the export)" if known else "")
            raise Invalid(f"{name}: {what} has no mapping to a project class.", entry=name)
        return self.ids.astype(np.uint8)[source]

    def _by_color(self, mask: Image.Image, name: str) -> np.ndarray:
        packed = _packed(mask)
        values, inverse = np.unique(packed.ravel(), return_inverse=True)
        out = np.empty(len(values), np.uint8)
        for i, value in enumerate(values.tolist()):
            target = self.colors.get(value, self.default)
            if target is None:
                raise Invalid(
                    f"{name}: mask colour #{value:06x} has no mapping to a project class.",
                    entry=name,
                )
            out[i] = target
        return out[inverse].reshape(packed.shape)


def _ids(mask: Image.Image, name: str) -> np.ndarray:
    if mask.mode not in ("L", "P"):
        raise Invalid(
            f"{name}: a mask must be a single-channel 8-bit PNG of class ids, not {mask.mode}"
            " (use the color layout for colour-coded masks).",
            entry=name,
        )
    return np.asarray(mask, dtype=np.uint8)


def _packed(mask: Image.Image) -> np.ndarray:
    rgb = np.asarray(mask.convert("RGB"), dtype=np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def resolve(
    mapping: dict[str, Any] | None,
    classes: list[ProjectClass],
    colour: bool = False,
    source_classes: list[dict[str, Any]] | None = None,
) -> ClassMap:
    """Check a mapping against the project's classes and build the lookup it stands for."""
    if mapping is None:
        return _implicit(classes, colour, source_classes)
    default = _target(mapping["default"], classes) if "default" in mapping else None
    keys = [k for k in mapping if k != "default"]
    if colour:
        bad = [k for k in keys if not _COLOR.match(k)]
        if bad:
            raise Invalid(f"colour mapping keys look like #rrggbb; got {bad[0]!r}.")
        return ClassMap(None, {int(k[1:], 16): _target(mapping[k], classes) for k in keys}, default)
    ids = np.full(256, -1 if default is None else default, np.int16)
    for key in keys:
        if not _SMALL_INT.fullmatch(key) or int(key) > 255:
            raise Invalid(f"mapping keys are source ids 0-255 or 'default'; got {key!r}.")
        ids[int(key)] = _target(mapping[key], classes)
    return ClassMap(ids, None, default)


def _implicit(
    classes: list[ProjectClass], colour: bool, source_classes: list[dict[str, Any]] | None
) -> ClassMap:
    if colour:
        return ClassMap(None, {int(c.color[1:], 16): c.index for c in classes}, None)
    ids = np.full(256, -1, np.int16)
    ids[UNLABELED] = UNLABELED
    if source_classes is None:
        ids[: len(classes)] = np.arange(len(classes))
        return ClassMap(ids, None, None)
    by_name = {c.name.lower(): c.index for c in classes}
    for cls in source_classes:
        if cls["name"].lower() in by_name and 0 <= cls["index"] < 255:
            ids[cls["index"]] = by_name[cls["name"].lower()]
    return ClassMap(ids, None, None, {c["index"]: c["name"] for c in source_classes})
