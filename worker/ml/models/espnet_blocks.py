"""Building blocks of ESPNetv2, laid out so state-dict keys match the EdgeNets checkpoints.

Two key spellings coexist in those checkpoints: encoder blocks expose their parts directly
(`conv`, `bn`, `act`), decoder blocks wrap them in a Sequential (`cbr`, `br`). The classes
below reproduce both, and register submodules in the checkpoint's key order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, dilation: int = 1):
    """Bias-free conv with 'same' padding for odd k."""
    pad = (k - 1) // 2 * dilation
    return nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False)


def avg_down(x: torch.Tensor) -> torch.Tensor:
    """Halve the resolution with a 3x3/2 average pool whose zero padding counts in the mean."""
    return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=True)


def pyramid_side(n: int | torch.Tensor, scale: float) -> int | torch.Tensor:
    """max(ceil(n * scale), 5), the side of one pyramid level, in float64 as the original.

    While tracing (ONNX export) `n` is a 0-dim tensor; the size is then computed with tensor
    operations so the exported graph keeps it symbolic (Python maths would freeze it).
    """
    if isinstance(n, torch.Tensor):
        side = torch.ceil(n.to(torch.float64) * scale).clamp(min=5)
        return side.to(torch.int64)
    return max(math.ceil(n * scale), 5)


def adaptive_avg_pool(x: torch.Tensor, size: tuple) -> torch.Tensor:
    """F.adaptive_avg_pool2d, or while tracing an exact equivalent the ONNX exporter accepts.

    The TorchScript exporter only converts adaptive pooling when the output size is constant
    and divides the input size; the pyramid pools to sizes like ceil(0.1 h), which depend on
    the input and rarely divide it. Adaptive pooling is linear and separable: averaging rows
    start..end-1 with start = floor(i H / h), end = ceil((i + 1) H / h) is a product with an
    h x H matrix, and likewise along the width, so P_h @ x @ P_w^T gives the same numbers.
    """
    if not torch.jit.is_tracing():
        return F.adaptive_avg_pool2d(x, size)
    rows = _pool_matrix(x.shape[-2], size[0], x.dtype)
    cols = _pool_matrix(x.shape[-1], size[1], x.dtype)
    return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


def _pool_matrix(n_in, n_out, dtype: torch.dtype) -> torch.Tensor:
    """n_out x n_in matrix averaging the input bins adaptive pooling assigns to each output."""
    n_in, n_out = (n if isinstance(n, torch.Tensor) else torch.tensor(n) for n in (n_in, n_out))
    i = torch.arange(n_out).unsqueeze(1)
    start = torch.div(i * n_in, n_out, rounding_mode="floor")
    end = torch.div((i + 1) * n_in + n_out - 1, n_out, rounding_mode="floor")
    j = torch.arange(n_in).unsqueeze(0)
    member = ((j >= start) & (j < end)).to(dtype)
    return member / member.sum(1, keepdim=True)


class CBR(nn.Module):
    """Encoder conv + batch norm + per-channel PReLU (keys `conv`, `bn`, `act`)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv = _conv(cin, cout, k, stride, groups)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply conv, BN, PReLU."""
        return self.act(self.bn(self.conv(x)))


class CB(nn.Module):
    """Encoder conv + batch norm (keys `conv`, `bn`)."""

    def __init__(self, cin: int, cout: int, k: int, groups: int = 1):
        super().__init__()
        self.conv = _conv(cin, cout, k, groups=groups)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply conv, BN."""
        return self.bn(self.conv(x))


class BR(nn.Module):
    """Encoder batch norm + PReLU (keys `bn`, `act`)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply BN, PReLU."""
        return self.act(self.bn(x))


class SeqCBR(nn.Module):
    """Decoder conv + BN + PReLU wrapped in a Sequential named `cbr`."""

    def __init__(self, cin: int, cout: int, k: int, groups: int = 1):
        super().__init__()
        self.cbr = nn.Sequential(
            _conv(cin, cout, k, groups=groups), nn.BatchNorm2d(cout), nn.PReLU(cout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply conv, BN, PReLU."""
        return self.cbr(x)


class SeqBR(nn.Module):
    """Decoder BN + PReLU wrapped in a Sequential named `br`."""

    def __init__(self, channels: int):
        super().__init__()
        self.br = nn.Sequential(nn.BatchNorm2d(channels), nn.PReLU(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply BN, PReLU."""
        return self.br(x)


class ChannelShuffle(nn.Module):
    """Interleave channel groups: view (groups, C/groups), swap the two, flatten."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shuffle channels across groups."""
        n, c, h, w = x.shape
        x = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2)
        return x.reshape(n, c, h, w)


class EESP(nn.Module):
    """Extremely efficient spatial pyramid unit: grouped 1x1, 4 dilated depthwise branches."""

    branches = 4

    def __init__(self, cin: int, cout: int, stride: int = 1, r_lim: int = 7):
        super().__init__()
        k = self.branches
        n = cout // k
        if n * k != cout:
            raise ValueError(f"EESP output channels {cout} must be divisible by {k}")
        self.stride = stride
        # The residual applies exactly when output and input shapes match: stride 1, cin == cout
        # (decided here rather than by comparing shapes, which a traced graph would freeze).
        self.residual = stride == 1 and cin == cout
        self.proj_1x1 = CBR(cin, n, 1, groups=k)
        # Kernel sizes wider than the receptive-field limit fall back to 3; sorting puts the
        # small dilations first so the hierarchical sums grow from fine to coarse.
        ksizes = sorted(s if s <= r_lim else 3 for s in (3 + 2 * i for i in range(k)))
        self.spp_dw = nn.ModuleList(_DilatedDW(n, stride, (s - 1) // 2) for s in ksizes)
        self.conv_1x1_exp = CB(cout, cout, 1, groups=k)
        self.br_after_cat = BR(cout)
        self.module_act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project, run the pyramid with hierarchical fusion, expand, add residual."""
        p = self.proj_1x1(x)
        outs = [self.spp_dw[0](p)]
        for branch in self.spp_dw[1:]:
            # Adding the previous branch removes gridding artefacts of the dilated convs.
            outs.append(branch(p) + outs[-1])
        e = self.conv_1x1_exp(self.br_after_cat(torch.cat(outs, 1)))
        if self.stride == 2:
            return e
        if self.residual:
            e = e + x
        return self.module_act(e)


class _DilatedDW(nn.Module):
    """3x3 depthwise dilated conv stored under the key `conv`."""

    def __init__(self, channels: int, stride: int, dilation: int):
        super().__init__()
        self.conv = _conv(channels, channels, 3, stride, groups=channels, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the conv."""
        return self.conv(x)


class DownSampler(nn.Module):
    """Strided EESP concatenated with an average pool, plus input-image reinforcement."""

    def __init__(self, cin: int, cout: int, r_lim: int):
        super().__init__()
        self.eesp = EESP(cin, cout - cin, stride=2, r_lim=r_lim)
        self.inp_reinf = nn.Sequential(CBR(3, 3, 3), CB(3, cout, 1))
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Downsample x by 2; `image` is the input image already pooled to the output size."""
        out = torch.cat([avg_down(x), self.eesp(x)], 1)
        return self.act(out + self.inp_reinf(image))


class PyramidPool(nn.Module):
    """Efficient pyramid pooling (EPP): depthwise convs at 5 scales, shuffled and merged."""

    scales = (2.0, 1.5, 1.0, 0.5, 0.1)

    def __init__(self, cin: int, proj: int, cout: int, last_br: bool = True):
        super().__init__()
        ns = len(self.scales)
        self.stages = nn.ModuleList(_conv(proj, proj, 3, groups=proj) for _ in self.scales)
        self.projection_layer = SeqCBR(cin, proj, 1)
        self.merge_layer = nn.Sequential(
            SeqBR(proj * ns),
            ChannelShuffle(ns),
            SeqCBR(proj * ns, proj, 3, groups=proj),
            nn.Conv2d(proj, cout, 1, bias=not last_br),
        )
        self.br = SeqBR(cout) if last_br else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project, filter at each scale, merge."""
        x = self.projection_layer(x)
        h, w = x.shape[-2:]
        outs = []
        for scale, stage in zip(self.scales, self.stages, strict=True):
            # float64 maths on purpose: ceil(70 * 0.1) is 8 there, as in the original.
            hs, ws = pyramid_side(h, scale), pyramid_side(w, scale)
            if scale > 1.0:
                y = F.interpolate(x, (hs, ws), mode="bilinear", align_corners=True)
                y = adaptive_avg_pool(stage(y), (h, w))
            elif scale < 1.0:
                y = stage(adaptive_avg_pool(x, (hs, ws)))
                y = F.interpolate(y, (h, w), mode="bilinear", align_corners=True)
            else:
                y = stage(x)
            outs.append(y)
        out = self.merge_layer(torch.cat(outs, 1))
        return self.br(out) if self.br is not None else out


class GatedProjection(nn.Module):
    """Efficient point-wise conv (EPWC): grouped 3x3 expansion gated by a global context."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.wt_layer = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.Sigmoid()
        )
        self.expansion_layer = SeqCBR(cin, cout, 3, groups=math.gcd(cin, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand x and scale each output channel by its gate."""
        return self.expansion_layer(x) * self.wt_layer(x)
