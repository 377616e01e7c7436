"""Bottleneck ResNet-50/101 backbone with dilated tail stages (torchvision key layout)."""

import torch
from torch import nn

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries stride and dilation), 1x1 expand, identity or projected shortcut."""

    def __init__(
        self, cin: int, planes: int, stride: int, dilation: int, downsample: nn.Module | None
    ):
        super().__init__()
        cout = planes * EXPANSION
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNetBackbone(nn.Module):
    """Returns (layer1 features at stride 4, layer4 features at the output stride)."""

    def __init__(self, depth: int = 101, output_stride: int = 16):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(DEPTHS)}, not {depth}")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"ResNet output stride must be 8, 16 or 32, not {output_stride}")
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        # Stages whose stride would push past the output stride are dilated instead.
        dilate = {16: (False, False, True), 8: (False, True, True)}.get(output_stride, (False,) * 3)
        self.cin, self.dilation = 64, 1
        layers = DEPTHS[depth]
        self.layer1 = self._stage(64, layers[0], 1, False)
        self.layer2 = self._stage(128, layers[1], 2, dilate[0])
        self.layer3 = self._stage(256, layers[2], 2, dilate[1])
        self.layer4 = self._stage(512, layers[3], 2, dilate[2])
        self.low_channels = 64 * EXPANSION
        self.high_channels = 512 * EXPANSION

    def _stage(self, planes: int, blocks: int, stride: int, dilate: bool) -> nn.Sequential:
        first_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.cin != planes * EXPANSION:
            downsample = nn.Sequential(
                nn.Conv2d(self.cin, planes * EXPANSION, 1, stride, bias=False),
                nn.BatchNorm2d(planes * EXPANSION),
            )
        # The first block keeps the previous dilation; the rest use the stage's new one.
        stage = [Bottleneck(self.cin, planes, stride, first_dilation, downsample)]
        self.cin = planes * EXPANSION
        stage += [Bottleneck(self.cin, planes, 1, self.dilation, None) for _ in range(blocks - 1)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        low = self.layer1(x)
        return low, self.layer4(self.layer3(self.layer2(low)))
