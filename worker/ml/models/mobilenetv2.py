"""MobileNetV2 backbone laid out like the DeepLabV3Plus-Pytorch checkpoints."""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# (expansion t, channels c, repeats n, stride s) of each stage, as in the MobileNetV2 paper.
STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# Stem plus the first three inverted residuals form the stride-4 low-level branch.
LOW_LEVEL_BLOCKS = 4


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a scaled channel count to a multiple of divisor, never losing more than 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn_relu6(
    cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1, groups: int = 1
) -> nn.Sequential:
    """Unpadded conv, batch norm, ReLU6 (padding is done explicitly by the caller)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, 0, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """Expansion, depthwise and projection convs on an input zero-padded by the dilation."""

    def __init__(self, cin: int, cout: int, stride: int, dilation: int, expansion: int):
        super().__init__()
        hidden = round(cin * expansion)
        self.pad = (dilation,) * 4
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn_relu6(cin, hidden, 1))
        layers += [
            conv_bn_relu6(hidden, hidden, 3, stride, dilation, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The padding precedes the expansion conv, so it cannot be folded into the depthwise conv.
        out = self.conv(F.pad(x, self.pad))
        return x + out if self.use_residual else out


class MobileNetV2Backbone(nn.Module):
    """Returns (low-level features at stride 4, high-level features at the output stride)."""

    def __init__(self, output_stride: int = 16, width_mult: float = 1.0):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"MobileNetV2 output stride must be 8, 16 or 32, not {output_stride}")
        cin = make_divisible(32 * width_mult)
        blocks: list[nn.Module] = [conv_bn_relu6(3, cin, 3, stride=2)]
        stride, dilation = 2, 1
        for expansion, channels, repeats, stage_stride in STAGES:
            cout = make_divisible(channels * width_mult)
            first_dilation = dilation
            if stride == output_stride:
                block_stride, dilation = 1, dilation * stage_stride
            else:
                block_stride, stride = stage_stride, stride * stage_stride
            for i in range(repeats):
                if i == 0:
                    blocks.append(
                        InvertedResidual(cin, cout, block_stride, first_dilation, expansion)
                    )
                else:
                    blocks.append(InvertedResidual(cout, cout, 1, dilation, expansion))
                cin = cout
        # Both halves keep the global block indices, as slicing nn.Sequential does in the reference.
        self.low_level_features = nn.Sequential(
            OrderedDict((str(i), b) for i, b in enumerate(blocks[:LOW_LEVEL_BLOCKS]))
        )
        self.high_level_features = nn.Sequential(
            OrderedDict((str(i), b) for i, b in enumerate(blocks) if i >= LOW_LEVEL_BLOCKS)
        )
        self.low_channels = make_divisible(24 * width_mult)
        self.high_channels = cin

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.low_level_features(x)
        return low, self.high_level_features(low)
