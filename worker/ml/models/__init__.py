"""Model registry: architecture name -> builder(num_classes, output_stride, **kw)."""

from collections.abc import Callable

from torch import nn

from .deeplab import deeplabv3plus_mobilenet, deeplabv3plus_resnet50, deeplabv3plus_resnet101

# Names match the `architecture` field of the compatibility reference. Other model families
# register here too: a builder takes (num_classes, output_stride, **kw) and returns a module
# mapping (N, 3, H, W) images to (N, num_classes, H, W) logits. Parameters under a submodule
# named `backbone` train at the backbone learning-rate multiplier.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "deeplabv3plus_mobilenet": deeplabv3plus_mobilenet,
    "deeplabv3plus_resnet50": deeplabv3plus_resnet50,
    "deeplabv3plus_resnet101": deeplabv3plus_resnet101,
}


def build_model(architecture: str, num_classes: int, output_stride: int = 16, **kw) -> nn.Module:
    """Build a registered architecture with freshly initialised weights."""
    try:
        builder = MODELS[architecture]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown architecture {architecture!r}; known: {known}") from None
    return builder(num_classes, output_stride=output_stride, **kw)
