"""In-memory training data and the seed study's augmentations, deterministic per (seed, step).

Every random draw comes from a generator seeded by (seed, iteration, slot), so a batch depends
only on those numbers: a resumed run sees exactly the batches an uninterrupted one would.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .metrics import IGNORE_INDEX


@dataclass
class Sample:
    """A decoded frame (H x W x 3 uint8 RGB) and its mask (H x W uint8 ids, 255 = unlabeled)."""

    image: np.ndarray
    mask: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"{self.name}: image must be H x W x 3 uint8")
        if self.mask.shape != self.image.shape[:2] or self.mask.dtype != np.uint8:
            raise ValueError(f"{self.name}: mask must be H x W uint8 matching the image")


@dataclass
class TrainData:
    """Frames decoded once and kept in memory for the whole run."""

    train: list[Sample]
    val: list[Sample] = field(default_factory=list)
    # Frames without masks (all 255): only distillation toward the base model learns from them.
    unlabeled: list[Sample] = field(default_factory=list)


@dataclass
class Augment:
    """Augmentation settings; defaults follow the seed study."""

    scale_range: tuple[float, float] | None = (0.5, 2.0)
    color_jitter: float = 0.5
    hflip: bool = True


def load_sample(image_path: str | Path, mask_path: str | Path, name: str | None = None) -> Sample:
    """Decode an RGB frame and its single-channel class-id PNG."""
    with Image.open(image_path) as img:
        image = np.asarray(img.convert("RGB"))
    with Image.open(mask_path) as msk:
        if msk.mode not in ("L", "P"):
            raise ValueError(f"{mask_path}: mask must be single-channel class ids, not {msk.mode}")
        mask = np.asarray(msk)
    return Sample(image=image, mask=mask, name=name or Path(image_path).stem)


def crop_shape(samples: list[Sample], crop: int) -> tuple[int, int]:
    """The crop size clamped to the smallest frame, so a batch has one shape."""
    height = min(s.image.shape[0] for s in samples)
    width = min(s.image.shape[1] for s in samples)
    return min(crop, height), min(crop, width)


def batch_indices(n: int, batch: int, iteration: int, seed: int, stream: int = 0) -> list[int]:
    """Indices for one batch of an endless sequence of seeded per-epoch shuffles."""
    out = []
    for pos in range(iteration * batch, (iteration + 1) * batch):
        epoch, offset = divmod(pos, n)
        key = [seed, epoch, stream] if stream else [seed, epoch]
        out.append(int(np.random.default_rng(key).permutation(n)[offset]))
    return out


def _axis_window(size: float, crop: int, rng: np.random.Generator) -> tuple[float, int]:
    """(start in scaled pixels, output length) of a crop along one axis of a scaled frame."""
    if size <= crop:
        return 0.0, int(round(size))
    return float(rng.integers(0, int(size) - crop + 1)), crop


def augment(
    sample: Sample, crop: tuple[int, int], cfg: Augment, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random scale + crop (mask padded with 255), colour jitter, flip -> (float image, mask)."""
    height, width = sample.mask.shape
    scale = rng.uniform(*cfg.scale_range) if cfg.scale_range else 1.0
    y0, out_h = _axis_window(height * scale, crop[0], rng)
    x0, out_w = _axis_window(width * scale, crop[1], rng)
    out_h, out_w = max(out_h, 1), max(out_w, 1)
    # Resample only the source region under the crop, not the whole scaled frame.
    # Clamped because rounding can push the far edge a hair past the frame.
    box = (
        x0 / scale,
        y0 / scale,
        min(width, (x0 + out_w) / scale),
        min(height, (y0 + out_h) / scale),
    )
    image = np.asarray(Image.fromarray(sample.image).resize((out_w, out_h), Image.BILINEAR, box))
    mask = np.asarray(Image.fromarray(sample.mask).resize((out_w, out_h), Image.NEAREST, box))
    image_out = np.zeros((*crop, 3), np.float32)
    mask_out = np.full(crop, IGNORE_INDEX, np.uint8)
    image_out[:out_h, :out_w] = image / np.float32(255)
    mask_out[:out_h, :out_w] = mask
    if cfg.color_jitter:
        image_out[:out_h, :out_w] = jitter(image_out[:out_h, :out_w], cfg.color_jitter, rng)
    if cfg.hflip and rng.random() < 0.5:
        image_out, mask_out = image_out[:, ::-1], mask_out[:, ::-1]
    return image_out, mask_out


def jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation, each scaled by a factor in [1-s, 1+s]."""
    b, c, s = rng.uniform(max(0.0, 1 - strength), 1 + strength, size=3).astype(np.float32)
    image = image * b
    gray = image @ np.array([0.299, 0.587, 0.114], np.float32)
    image = (image - gray.mean()) * c + gray.mean()
    gray = image @ np.array([0.299, 0.587, 0.114], np.float32)
    image = (image - gray[..., None]) * s + gray[..., None]
    return np.clip(image, 0.0, 1.0)


def normalize(image: np.ndarray, mean: list[float], std: list[float]) -> torch.Tensor:
    """H x W x 3 float in [0, 1] (or uint8) -> normalised 3 x H x W float tensor."""
    if image.dtype == np.uint8:
        image = image / np.float32(255)
    out = (image - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32))


def make_batch(
    samples: list[Sample],
    iteration: int,
    batch: int,
    seed: int,
    crop: tuple[int, int],
    cfg: Augment,
    mean: list[float],
    std: list[float],
    stream: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The augmented batch of an iteration: (N x 3 x H x W float, N x H x W int64 with 255).

    stream > 0 draws an independent batch of the same iteration (another list of frames).
    """
    images, masks = [], []
    for slot, index in enumerate(batch_indices(len(samples), batch, iteration, seed, stream)):
        key = [seed, iteration, slot, stream] if stream else [seed, iteration, slot]
        rng = np.random.default_rng(key)
        image, mask = augment(samples[index], crop, cfg, rng)
        images.append(normalize(image, mean, std))
        masks.append(torch.from_numpy(mask.astype(np.int64)))
    return torch.stack(images), torch.stack(masks)
