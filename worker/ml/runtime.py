"""Device, thread and precision choices shared by training and evaluation."""

import os
from contextlib import AbstractContextManager, nullcontext
from functools import cache

import torch
from torch import nn


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; anything else is passed to torch.device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def describe_device(device: str = "auto") -> str:
    """What a job on this worker computes on, for people: 'GPU (NVIDIA H200)' or 'CPU'."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(resolved)})"
    return resolved.type.upper()


def use_all_cores(num_threads: int | None = None) -> int:
    """Give intra-op parallelism every core this process may run on (or num_threads)."""
    threads = num_threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    return threads


@cache
def cpu_has_native_bf16() -> bool:
    """True when the CPU executes bf16 matrix work natively (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def amp_dtype(device: torch.device, amp: str) -> torch.dtype | None:
    """bf16 for 'bf16', None for 'off'; 'auto' picks bf16 where the hardware runs it natively."""
    if amp not in ("auto", "bf16", "off"):
        raise ValueError(f"amp must be 'auto', 'bf16' or 'off', not {amp!r}")
    if amp == "off":
        return None
    if amp == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    """Mixed-precision context for dtype, or a no-op when dtype is None."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def prepare(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move to device in channels_last, the faster layout for convolutions on CPU and GPU."""
    return model.to(device=device, memory_format=torch.channels_last)


class Float32DepthwiseConv2d(nn.Conv2d):
    """A depthwise convolution that runs in float32 even inside a bf16 autocast region.

    On this project's CPU (oneDNN, channels_last) the bf16 weight gradient of dilated depthwise
    convolutions now and then comes back as garbage: finite values of 1e24-1e36 in one weight
    tensor, for the same weights and batch that give ~0.5 on the next try. The step then moves
    that weight by orders of magnitude; train-mode batch norm hides it, but the running
    statistics lag one step behind, so the next eval-mode forward explodes (validation loss
    ~1e30). Depthwise convolutions are a small share of the work, so float32 costs little.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution with autocast off and a float32 input."""
        if not torch.is_autocast_enabled(x.device.type):
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float())


def depthwise_in_float32(model: nn.Module) -> int:
    """Make every depthwise Conv2d of the model a Float32DepthwiseConv2d; returns how many.

    Only the class changes: parameters, state dict and checkpoints stay exactly the same.
    """
    count = 0
    for module in model.modules():
        if type(module) is nn.Conv2d and module.groups > 1 and module.groups == module.in_channels:
            module.__class__ = Float32DepthwiseConv2d
            count += 1
    return count
