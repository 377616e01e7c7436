"""ESPNetv2 semantic segmentation (Mehta et al., CVPR 2019) in plain PyTorch.

State dicts are key-for-key and numerically compatible with the EdgeNets "city" checkpoints
(`espnetv2_s_<scale>_city_1024x512.pth`): a strided EESP encoder with input reinforcement and a
bottom-up decoder of efficient pyramid pooling (EPP) blocks merged with gated encoder features.

Input sizes: the network halves the resolution four times and its decoder upsamples by exactly
2 at each level, so it needs sides that are multiples of 16. Other sizes are padded at the bottom
and right to the next multiple of 16 and the logits are cropped back, rather than resized:
- the weights were trained on undistorted 1024x512 crops of real images; padding keeps every
  object at the scale and aspect ratio the caller chose, while resizing to a multiple of 16
  would stretch the frame anisotropically (up to 15 px per side) and blur it;
- cropping returns logits on the caller's exact pixel grid, with no second interpolation step,
  and for sides already a multiple of 16 the model is bit-for-bit the original one;
- the padding is a reflection of the image (replicated edges for frames under 16 px) because the
  training crops always had real image content around them; a constant border would be a
  flat region the network never saw, and it also leaks into the global pools of the decoder.
Measured with the real s=2.0 weights on 16 CamVid dusk frames at 1024x768 cropped to 1016x760,
against the prediction made with the true pixels present: reflect padding agrees on 99.65% of
pixels (97.6% within 32 px of the padded edges), replicate 99.65% (97.4%), zero padding 98.5%
(91.1%), resizing to 1024x768 and back 98.1% (95.9%).

ONNX: while traced (torch.onnx.export) the padding and the pyramid's pooling sizes are computed
with tensor operations and adaptive pooling becomes an exact matrix product (see
espnet_blocks.adaptive_avg_pool), so one exported graph takes any input whose sides are at
least 16 px and gives the eager model's logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worker.ml.models.espnet_blocks import (
    CBR,
    EESP,
    DownSampler,
    GatedProjection,
    PyramidPool,
    avg_down,
)

ARCHITECTURE = "espnetv2"
WIDTH_SCALES = (0.5, 1.0, 1.5, 2.0)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_MULTIPLE = 16
# The public Cityscapes heads have 20 outputs: the 19 train ids and a void class (19).
CITYSCAPES_VOID_CLASSES = 20
CITYSCAPES_VOID_INDEX = 19
CITYSCAPES_CLASS_NAMES = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
    "void",
)
CITYSCAPES_WEIGHT_FILES = {
    2.0: "espnetv2_s_2.0_city_1024x512.pth",
    1.0: "espnetv2_s_1.0_city_1024x512.pth",
}

# Encoder widths (strides 2, 4, 8, 16) per width scale, from the EdgeNets configuration.
_CHANNELS = {
    0.5: (16, 32, 64, 128),
    1.0: (32, 64, 128, 256),
    1.5: (32, 96, 192, 384),
    2.0: (32, 128, 256, 512),
}
_DECODER_PLANES = (64, 48, 32)
_PYRAMID_PROJ_MAX = 16


def _channels(scale: float) -> tuple[int, int, int, int]:
    """Encoder widths for a supported width scale."""
    try:
        return _CHANNELS[float(scale)]
    except KeyError:
        raise ValueError(
            f"ESPNetv2 width scale must be one of {WIDTH_SCALES}, got {scale}"
        ) from None


class ESPNetv2Encoder(nn.Module):
    """EESPNet backbone without its classification levels; returns strides 2, 4, 8, 16."""

    def __init__(self, scale: float = 2.0):
        super().__init__()
        c0, c1, c2, c3 = _channels(scale)
        self.level1 = CBR(3, c0, 3, stride=2)
        self.level2_0 = DownSampler(c0, c1, r_lim=13)
        self.level3_0 = DownSampler(c1, c2, r_lim=11)
        self.level3 = nn.Sequential(*(EESP(c2, c2, r_lim=9) for _ in range(3)))
        self.level4_0 = DownSampler(c2, c3, r_lim=9)
        self.level4 = nn.Sequential(*(EESP(c3, c3, r_lim=7) for _ in range(7)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encode x (sides multiple of 16) into features at strides 2, 4, 8 and 16."""
        e1 = self.level1(x)
        # The reinforcing image is pooled once more per level; pooling the previous level's copy
        # gives the same values as re-pooling the full image from scratch, for less work.
        img = avg_down(avg_down(x))
        e2 = self.level2_0(e1, img)
        img = avg_down(img)
        e3 = self.level3(self.level3_0(e2, img))
        img = avg_down(img)
        e4 = self.level4(self.level4_0(e3, img))
        return [e1, e2, e3, e4]


class ESPNetv2Seg(nn.Module):
    """ESPNetv2 segmentation network: normalised N x 3 x H x W -> logits N x C x H x W."""

    # The pre-trained encoder (trained at the backbone learning-rate multiplier when fine-tuning).
    backbone_prefixes = ("base_net.",)

    def __init__(self, num_classes: int = CITYSCAPES_VOID_CLASSES, scale: float = 2.0):
        super().__init__()
        c0, c1, c2, c3 = _channels(scale)
        self.num_classes = num_classes
        self.scale = float(scale)
        d1, d2, d3 = _DECODER_PLANES
        proj = min(num_classes // 2, _PYRAMID_PROJ_MAX)
        if proj < 1:
            raise ValueError("ESPNetv2 needs at least 2 classes")
        self.base_net = ESPNetv2Encoder(scale)
        self.bu_dec_l1 = PyramidPool(c3, proj, d1)
        self.bu_dec_l2 = PyramidPool(d1, proj, d2)
        self.bu_dec_l3 = PyramidPool(d2, proj, d3)
        self.bu_dec_l4 = PyramidPool(d3, proj, num_classes, last_br=False)
        self.merge_enc_dec_l2 = GatedProjection(c2, d1)
        self.merge_enc_dec_l3 = GatedProjection(c1, d2)
        self.merge_enc_dec_l4 = GatedProjection(c0, d3)
        self.bu_br_l2 = _bn_prelu(d1)
        self.bu_br_l3 = _bn_prelu(d2)
        self.bu_br_l4 = _bn_prelu(d3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits at the input's full resolution, for any input size."""
        h, w = x.shape[-2:]
        padded = pad_to_multiple(x, INPUT_MULTIPLE)
        logits = self.forward_aligned(padded)
        return logits[..., :h, :w]

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        """Run the original network on an input whose sides are multiples of 16."""
        if not torch.jit.is_tracing() and (
            x.shape[-2] % INPUT_MULTIPLE or x.shape[-1] % INPUT_MULTIPLE
        ):
            raise ValueError(f"input sides must be multiples of {INPUT_MULTIPLE}: {tuple(x.shape)}")
        e1, e2, e3, e4 = self.base_net(x)
        d = self.bu_dec_l1(e4)
        d = self.bu_dec_l2(self.bu_br_l2(_up2(d) + self.merge_enc_dec_l2(e3)))
        d = self.bu_dec_l3(self.bu_br_l3(_up2(d) + self.merge_enc_dec_l3(e2)))
        d = self.bu_dec_l4(self.bu_br_l4(_up2(d) + self.merge_enc_dec_l4(e1)))
        return F.interpolate(d, size=x.shape[-2:], mode="bilinear", align_corners=True)


def _bn_prelu(channels: int) -> nn.Sequential:
    """Plain BN + PReLU Sequential (keys `0.*`, `1.*`), as the decoder's merge points use."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.PReLU(channels))


def _up2(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 upsampling with align_corners=True, as the weights were trained with."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


def pad_to_multiple(x: torch.Tensor, multiple: int = INPUT_MULTIPLE) -> torch.Tensor:
    """Pad N x C x H x W at the bottom/right so both sides divide by `multiple`."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if torch.jit.is_tracing():
        # Traced for ONNX the sizes are symbolic: always pad (by 0..15), always by reflection,
        # so the graph serves every input size whose sides are at least 16 px.
        return F.pad(x, (0, pw, 0, ph), mode="reflect")
    if ph == 0 and pw == 0:
        return x
    # Reflection needs the pad to be smaller than the side; tiny frames replicate their edge.
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


# Keys whose first dimension is the width of each encoder level (strides 2, 4, 8, 16).
_WIDTH_KEYS = (
    "base_net.level1.conv.weight",
    "base_net.level2_0.act.weight",
    "base_net.level3_0.act.weight",
    "base_net.level4_0.act.weight",
)
HEAD_KEY = "bu_dec_l4.merge_layer.3.weight"  # the last 1x1 conv: one row per class


def is_espnetv2_state(state: dict[str, torch.Tensor]) -> bool:
    """True when a state dict has the EdgeNets ESPNetv2 segmentation layout."""
    return _WIDTH_KEYS[0] in state and HEAD_KEY in state


def scale_from_state(state: dict[str, torch.Tensor]) -> float:
    """The width scale of an ESPNetv2 state dict, read from its encoder's channel counts."""
    try:
        widths = tuple(int(state[k].shape[0]) for k in _WIDTH_KEYS)
    except KeyError as exc:
        raise ValueError(f"not an ESPNetv2 state dict: no {exc.args[0]!r}") from None
    for scale, channels in _CHANNELS.items():
        if channels == widths:
            return scale
    raise ValueError(f"ESPNetv2 encoder widths {widths} match no width scale {WIDTH_SCALES}")


def build_espnetv2(num_classes: int, scale: float = 2.0) -> nn.Module:
    """Build an ESPNetv2 segmenter with `num_classes` outputs at width `scale`."""
    return ESPNetv2Seg(num_classes=num_classes, scale=scale)
