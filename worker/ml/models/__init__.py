"""Model registry: architecture name -> builder(num_classes, output_stride, **kw)."""

from collections.abc import Callable

from torch import nn

from .deeplab import deeplabv3plus_mobilenet, deeplabv3plus_resnet50, deeplabv3plus_resnet101
from .espnetv2 import build_espnetv2

# The parameter-name prefixes of a model's pre-trained encoder, trained at the backbone
# learning-rate multiplier. A model declares its own as a class attribute `backbone_prefixes`;
# models that do not declare one use this.
DEFAULT_BACKBONE_PREFIXES = ("backbone.",)


def espnetv2(num_classes: int, output_stride: int = 16, scale: float = 2.0) -> nn.Module:
    """ESPNetv2 at width `scale`; its encoder always ends at stride 16, so output_stride is
    accepted (the registry's common signature) and ignored."""
    del output_stride
    return build_espnetv2(num_classes, scale)


# Names match the `architecture` field of the compatibility references. A builder takes
# (num_classes, output_stride, **kw) and returns a module mapping (N, 3, H, W) images to
# (N, num_classes, H, W) logits at the input's size.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "deeplabv3plus_mobilenet": deeplabv3plus_mobilenet,
    "deeplabv3plus_resnet50": deeplabv3plus_resnet50,
    "deeplabv3plus_resnet101": deeplabv3plus_resnet101,
    "espnetv2": espnetv2,
}


def build_model(architecture: str, num_classes: int, output_stride: int = 16, **kw) -> nn.Module:
    """Build a registered architecture with freshly initialised weights."""
    try:
        builder = MODELS[architecture]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown architecture {architecture!r}; known: {known}") from None
    return builder(num_classes, output_stride=output_stride, **kw)


def backbone_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Parameter-name prefixes of the pre-trained encoder (see DEFAULT_BACKBONE_PREFIXES)."""
    return tuple(getattr(model, "backbone_prefixes", DEFAULT_BACKBONE_PREFIXES))
