"""Class lists of public pre-trained models (pure data: importable without torch)."""

CITYSCAPES_TRAIN_IDS = [
    ("road", (128, 64, 128)),
    ("sidewalk", (244, 35, 232)),
    ("building", (70, 70, 70)),
    ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)),
    ("pole", (153, 153, 153)),
    ("traffic light", (250, 170, 30)),
    ("traffic sign", (220, 220, 0)),
    ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)),
    ("sky", (70, 130, 180)),
    ("person", (220, 20, 60)),
    ("rider", (255, 0, 0)),
    ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)),
    ("bus", (0, 60, 100)),
    ("train", (0, 80, 100)),
    ("motorcycle", (0, 0, 230)),
    ("bicycle", (119, 11, 32)),
]


def _classes(pairs) -> list[dict]:
    return [{"index": i, "name": n, "color": list(c)} for i, (n, c) in enumerate(pairs)]


PRESETS: dict[str, list[dict]] = {
    # DeepLabV3Plus-Pytorch Cityscapes files: the 19 train ids.
    "cityscapes19": _classes(CITYSCAPES_TRAIN_IDS),
    # EdgeNets ESPNetv2 Cityscapes files: the 19 train ids plus 19 = void.
    "cityscapes20": _classes([*CITYSCAPES_TRAIN_IDS, ("void", (0, 0, 0))]),
}
PRESET_LABELS = {
    "cityscapes19": "Cityscapes, 19 train ids (DeepLabV3Plus-Pytorch)",
    "cityscapes20": "Cityscapes, 19 train ids + void (ESPNetv2)",
}


def presets_for(rows: int | None) -> list[str]:
    """The presets with exactly as many classes as a head has rows."""
    return [name for name, classes in PRESETS.items() if len(classes) == rows]


def preset_mismatch(rows: int, preset: str) -> str:
    """Why a head does not fit the named preset, and which preset (if any) does."""
    fits = presets_for(rows)
    hint = (
        f"The preset that fits is {fits[0]}: {PRESET_LABELS[fits[0]]}. Retry with it, or with "
        "Detect."
        if fits
        else "No preset has that many: retry with Detect (the classes are then numbered)."
    )
    return f"file has {rows} classes, {len(PRESETS[preset])} were given (preset {preset}). {hint}"


def default_class_map(source: list[dict], project_names: list[str]) -> list[int]:
    """Source class -> project class by equal name; everything else -> 'background' (or 0)."""
    lowered = [n.lower() for n in project_names]
    fallback = lowered.index("background") if "background" in lowered else 0
    return [
        lowered.index(c["name"].lower()) if c["name"].lower() in lowered else fallback
        for c in source
    ]
