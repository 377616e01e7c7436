"""Self-describing checkpoints that keep the public layouts (DeepLabV3Plus-Pytorch, EdgeNets).

A SegTune file is a dict: `model_state` (the state dict, same keys as the public files), `segtune`
(metadata, below) and, for resumable training files, extra entries such as `optimizer_state`.
The loader also takes public files (a dict with `model_state`) and bare state dicts.
"""

import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

from .classmap import GroupedLogits, unwrap
from .models import build_model
from .models.espnetv2 import HEAD_KEY as ESPNET_HEAD_KEY
from .models.espnetv2 import is_espnetv2_state, scale_from_state

FORMAT = 1
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# Public files store best_score as a numpy scalar; allow exactly that kind of global so files
# can still be read with weights_only=True (uploads are untrusted: no arbitrary unpickling).
_NUMPY_CORE = getattr(np, "_core", None) or np.core  # numpy 2 renamed np.core
_NUMPY_SCALAR_GLOBALS = [
    _NUMPY_CORE.multiarray.scalar,
    np.dtype,
    *{type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)},
]


@dataclass
class ModelMeta:
    """What a checkpoint's weights are: architecture, classes, input normalisation, provenance.

    `classes` are what predictions mean ([{index, name, color}]). When `class_map` is set the
    head keeps one row per entry of `source_classes` and project class k is the max over the
    source rows mapped to k (see classmap.GroupedLogits).
    """

    architecture: str
    output_stride: int
    classes: list[dict]
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    source_classes: list[dict] | None = None
    class_map: list[int] | None = None
    model_kwargs: dict = field(default_factory=dict)
    train_config: dict | None = None
    metrics: dict | None = None

    @property
    def head_classes(self) -> int:
        """Number of rows in the model's final layer."""
        return len(self.source_classes) if self.class_map else len(self.classes)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelMeta":
        """Build from stored metadata, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Checkpoint:
    """A loaded file: the state dict, SegTune metadata (None for public files), other entries."""

    state: dict[str, torch.Tensor]
    meta: ModelMeta | None
    extra: dict[str, Any]


def save_checkpoint(path: str | Path, model: nn.Module, meta: ModelMeta, **extra: Any) -> Path:
    """Write {model_state, segtune, **extra} atomically (a crash never leaves a torn file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    payload = {"model_state": state, "segtune": {"format": FORMAT, **asdict(meta)}, **extra}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(source: str | Path | BinaryIO, map_location: str = "cpu") -> Checkpoint:
    """Read a SegTune file, a public {model_state: ...} file or a bare state dict."""
    with torch.serialization.safe_globals(_NUMPY_SCALAR_GLOBALS):
        raw = torch.load(source, map_location=map_location, weights_only=True)
    if not isinstance(raw, dict):
        raise ValueError("not a checkpoint: expected a dict")
    if "model_state" in raw:
        state = raw["model_state"]
        extra = {k: v for k, v in raw.items() if k not in ("model_state", "segtune")}
    elif raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        state, extra = raw, {}
    else:
        raise ValueError("not a checkpoint: no `model_state` and not a bare state dict")
    # Files saved from nn.DataParallel prefix every key with "module.".
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    meta = ModelMeta.from_dict(raw["segtune"]) if isinstance(raw.get("segtune"), dict) else None
    return Checkpoint(state=state, meta=meta, extra=extra)


def guess_architecture(state: dict[str, torch.Tensor]) -> str | None:
    """Recognise the architecture from the keys (DeepLabv3+'s output stride is not in them)."""
    if is_espnetv2_state(state):
        return "espnetv2"
    if "backbone.low_level_features.0.0.weight" in state:
        return "deeplabv3plus_mobilenet"
    if "backbone.layer3.22.conv1.weight" in state:
        return "deeplabv3plus_resnet101"
    if "backbone.layer4.0.conv1.weight" in state:
        return "deeplabv3plus_resnet50"
    return None


def head_rows(state: dict[str, torch.Tensor]) -> int | None:
    """Number of classes of a DeepLabv3+ or ESPNetv2 head, from its last layer."""
    last = state.get("classifier.classifier.3.bias")
    if last is None:
        last = state.get(ESPNET_HEAD_KEY)
    return None if last is None else int(last.shape[0])


def infer_model_kwargs(architecture: str, state: dict[str, torch.Tensor]) -> dict:
    """Builder arguments that the weights determine (ESPNetv2's width scale)."""
    if architecture == "espnetv2":
        return {"scale": scale_from_state(state)}
    return {}


def describe(
    ckpt: Checkpoint,
    architecture: str | None = None,
    output_stride: int | None = None,
    classes: list[dict] | None = None,
) -> ModelMeta:
    """Metadata for a loaded file: its own, or built from the arguments and its keys."""
    if ckpt.meta is not None:
        meta = ModelMeta.from_dict(asdict(ckpt.meta))
        if architecture and architecture != meta.architecture:
            raise ValueError(f"file is {meta.architecture!r}, not {architecture!r}")
        if output_stride:
            meta.output_stride = output_stride
        return meta
    architecture = architecture or guess_architecture(ckpt.state)
    if architecture is None:
        raise ValueError("cannot tell the architecture from the keys; please name it")
    rows = head_rows(ckpt.state)
    if classes is None:
        if rows is None:
            raise ValueError("cannot tell the number of classes; please list them")
        classes = [{"index": i, "name": f"class {i}", "color": [0, 0, 0]} for i in range(rows)]
    elif rows is not None and rows != len(classes):
        raise ValueError(f"file has {rows} classes, {len(classes)} were given")
    return ModelMeta(
        architecture=architecture,
        output_stride=output_stride or 16,
        classes=classes,
        model_kwargs=infer_model_kwargs(architecture, ckpt.state),
    )


def build_from_checkpoint(ckpt: Checkpoint, meta: ModelMeta) -> nn.Module:
    """Instantiate meta's architecture, load the weights strictly, wrap a grouped head."""
    model = build_model(
        meta.architecture, meta.head_classes, meta.output_stride, **meta.model_kwargs
    )
    model.load_state_dict(ckpt.state, strict=True)
    if meta.class_map:
        model = GroupedLogits(model, meta.class_map, len(meta.classes))
    return model


def load_model(
    source: str | Path | BinaryIO,
    architecture: str | None = None,
    output_stride: int | None = None,
    classes: list[dict] | None = None,
) -> tuple[nn.Module, ModelMeta]:
    """Load any supported file into an eval-mode model plus its metadata."""
    ckpt = load_checkpoint(source)
    meta = describe(ckpt, architecture, output_stride, classes)
    return build_from_checkpoint(ckpt, meta).eval(), meta
