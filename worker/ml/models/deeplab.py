"""DeepLabv3+ (ASPP + decoder) with the DeepLabV3Plus-Pytorch state-dict layout."""

import torch
import torch.nn.functional as F
from torch import nn

from .mobilenetv2 import MobileNetV2Backbone
from .resnet import ResNetBackbone

ASPP_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


def conv_bn_relu(cin: int, cout: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    """Bias-free conv (same padding), batch norm, ReLU."""
    pad = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ImagePooling(nn.Sequential):
    """Global average, 1x1 conv, BN, ReLU, then broadcast back to the input's size."""

    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = super().forward(x)
        return F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3, image pooling, then a 1x1 fuse."""

    def __init__(self, cin: int, rates: tuple[int, int, int], channels: int = 256):
        super().__init__()
        self.convs = nn.ModuleList(
            [conv_bn_relu(cin, channels)]
            + [conv_bn_relu(cin, channels, 3, rate) for rate in rates]
            + [ImagePooling(cin, channels)]
        )
        self.project = nn.Sequential(
            nn.Conv2d(5 * channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


class DeepLabHead(nn.Module):
    """Decoder: projected low-level features, then the upsampled ASPP output, then classifier."""

    def __init__(
        self,
        high_channels: int,
        low_channels: int,
        num_classes: int,
        rates: tuple[int, int, int],
        channels: int = 256,
        low_proj: int = 48,
    ):
        super().__init__()
        self.project = conv_bn_relu(low_channels, low_proj)
        self.aspp = ASPP(high_channels, rates, channels)
        self.classifier = nn.Sequential(
            nn.Conv2d(low_proj + channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_classes, 1),
        )

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        low = self.project(low)
        high = F.interpolate(
            self.aspp(high), size=low.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.classifier(torch.cat([low, high], dim=1))


class DeepLabV3Plus(nn.Module):
    """Backbone + DeepLabv3+ head; logits are resized to the input's height and width."""

    # The pre-trained encoder (trained at the backbone learning-rate multiplier when fine-tuning).
    backbone_prefixes = ("backbone.",)

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        output_stride: int,
        channels: int = 256,
        low_proj: int = 48,
    ):
        super().__init__()
        if output_stride not in ASPP_RATES:
            raise ValueError(f"DeepLabv3+ output stride must be 8 or 16, not {output_stride}")
        self.backbone = backbone
        self.classifier = DeepLabHead(
            backbone.high_channels,
            backbone.low_channels,
            num_classes,
            ASPP_RATES[output_stride],
            channels,
            low_proj,
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.backbone(x)
        logits = self.classifier(low, high)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def init_weights(model: nn.Module) -> None:
    """He-normal convs, unit batch norms, zero biases: the start for training from scratch."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def deeplabv3plus_mobilenet(
    num_classes: int,
    output_stride: int = 16,
    width_mult: float = 1.0,
    channels: int = 256,
    low_proj: int = 48,
) -> DeepLabV3Plus:
    """DeepLabv3+ on MobileNetV2; width_mult/channels/low_proj below default only for tests."""
    backbone = MobileNetV2Backbone(output_stride, width_mult)
    return DeepLabV3Plus(backbone, num_classes, output_stride, channels, low_proj)


def deeplabv3plus_resnet50(
    num_classes: int, output_stride: int = 16, channels: int = 256, low_proj: int = 48
) -> DeepLabV3Plus:
    """DeepLabv3+ on ResNet-50."""
    return DeepLabV3Plus(
        ResNetBackbone(50, output_stride), num_classes, output_stride, channels, low_proj
    )


def deeplabv3plus_resnet101(
    num_classes: int, output_stride: int = 16, channels: int = 256, low_proj: int = 48
) -> DeepLabV3Plus:
    """DeepLabv3+ on ResNet-101."""
    return DeepLabV3Plus(
        ResNetBackbone(101, output_stride), num_classes, output_stride, channels, low_proj
    )
