"""Full-resolution inference and honest metrics over a set of labeled frames."""

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from . import metrics
from .checkpoints import ModelMeta
from .classmap import map_labels
from .data import Sample
from .runtime import amp_dtype, autocast, prepare, resolve_device
from .tiles import DEFAULT_TILING, Tiling, plan_tiles, predict_tiles


@dataclass
class EvalResult:
    """Confusion matrix over all frames, its metrics, and per-frame predictions and matrices."""

    confusion: np.ndarray
    metrics: dict
    predictions: list[np.ndarray]
    frame_confusions: list[np.ndarray]
    names: list[str]


def predict_logits(
    model: nn.Module,
    image: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    flip_tta: bool = False,
    dtype: torch.dtype | None = None,
    scales: Sequence[float] = (1.0,),
) -> torch.Tensor:
    """Logits (K x H x W, float32, on device) for one uint8 frame at its own resolution.

    With several scales (and/or flip) the logits of each rescaled (mirrored) copy, brought back
    to the frame's size, are averaged: multi-scale and flip test-time augmentation.
    """
    height, width = image.shape[:2]
    with torch.inference_mode():
        x = to_input(image, mean, std, device)
    total = None
    for scale in scales:
        with torch.inference_mode():
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            xs = x if size == (height, width) else _resize(x, size)
        with torch.inference_mode(), autocast(device, dtype):
            batch = torch.cat([xs, xs.flip(-1)]) if flip_tta else xs
            out = model(batch).float()
        if out.shape[-2:] != size:
            raise RuntimeError(f"model returned {tuple(out.shape[-2:])} for a {size} input")
        with torch.inference_mode():
            logits = (out[0] + out[1].flip(-1)) / 2 if flip_tta else out[0]
            if size != (height, width):
                logits = _resize(logits[None], (height, width))[0]
            total = logits if total is None else total + logits
    return total / len(scales) if len(scales) > 1 else total


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def to_input(
    image: np.ndarray, mean: Sequence[float], std: Sequence[float], device: torch.device
) -> torch.Tensor:
    """1 x 3 x H x W normalised channels_last tensor; the uint8 frame is sent, not floats."""
    x = torch.tensor(image, device=device).permute(2, 0, 1)[None].float()
    scale = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255
    x = (x - torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255) / scale
    return x.contiguous(memory_format=torch.channels_last)


def predict(
    model: nn.Module,
    image: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    flip_tta: bool = False,
    dtype: torch.dtype | None = None,
    class_map: Sequence[int] | None = None,
    scales: Sequence[float] = (1.0,),
    tiling: Tiling | None = None,
) -> np.ndarray:
    """H x W uint8 class ids: argmax at full resolution, then mapped through class_map if given.

    A frame above tiling.max_pixels (default DEFAULT_TILING) is predicted in overlapping tiles
    (worker/ml/tiles.py), so memory is bounded by the tile size, not the frame's.
    """

    def window(part: np.ndarray) -> np.ndarray:
        logits = predict_logits(model, part, mean, std, device, flip_tta, dtype, scales)
        return logits.argmax(0).to(torch.uint8).cpu().numpy()

    tiles = plan_tiles(*image.shape[:2], tiling or DEFAULT_TILING)
    pred = window(image) if len(tiles) == 1 else predict_tiles(image, tiles, window)
    return map_labels(pred, class_map) if class_map is not None else pred


def predict_batch(
    model: nn.Module,
    images: Sequence[np.ndarray],
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    dtype: torch.dtype | None = None,
    class_map: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """H x W uint8 class ids of same-sized frames, run through the model as one batch."""
    with torch.inference_mode():
        x = torch.cat([to_input(image, mean, std, device) for image in images])
        with autocast(device, dtype):
            out = model(x)
        if out.shape[-2:] != x.shape[-2:]:
            raise RuntimeError(f"model returned {tuple(out.shape[-2:])} for a {x.shape[-2:]} input")
        preds = out.argmax(1).to(torch.uint8).cpu().numpy()
    return [map_labels(p, class_map) if class_map is not None else p for p in preds]


def class_probs_batch(
    model: nn.Module,
    images: Sequence[np.ndarray],
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    num_classes: int,
    class_map: Sequence[int] | None = None,
) -> torch.Tensor:
    """N x num_classes x H x W half-precision probabilities of the project classes.

    A base model's class probabilities are summed into the project class each one maps to, so
    that frames can be averaged (temporal smoothing) in few channels.
    """
    with torch.inference_mode():
        x = torch.cat([to_input(image, mean, std, device) for image in images])
        probs = model(x).float().softmax(1)
        if class_map is not None:
            index = torch.tensor(list(class_map), device=device)
            shape = (probs.shape[0], num_classes, *probs.shape[2:])
            probs = torch.zeros(shape, device=device).index_add_(1, index, probs)
        return probs.half()


def evaluate(
    model: nn.Module,
    samples: Sequence[Sample],
    num_classes: int,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    class_map: Sequence[int] | None = None,
    class_names: list[str] | None = None,
    flip_tta: bool = False,
    device: str = "auto",
    amp: str = "off",
    on_frame: Callable[[int, int], None] | None = None,
    scales: Sequence[float] = (1.0,),
) -> EvalResult:
    """Predict every frame at full size (ground truth is never resized) and score the lot.

    class_map maps a base model's source classes to the num_classes project classes ("before"
    predictions); on_frame(done, total) may raise to cancel.
    """
    dev = resolve_device(device)
    model = prepare(model, dev).eval()
    dtype = amp_dtype(dev, amp)
    total = np.zeros((num_classes, num_classes), np.int64)
    predictions, frame_cms = [], []
    for i, sample in enumerate(samples):
        pred = predict(model, sample.image, mean, std, dev, flip_tta, dtype, class_map, scales)
        cm = metrics.confusion_matrix(sample.mask, pred, num_classes)
        total += cm
        predictions.append(pred)
        frame_cms.append(cm)
        if on_frame:
            on_frame(i + 1, len(samples))
    return EvalResult(
        confusion=total,
        metrics=metrics.summarize(total, class_names),
        predictions=predictions,
        frame_confusions=frame_cms,
        names=[s.name for s in samples],
    )


def frame_loss(logits: torch.Tensor, mask: np.ndarray) -> tuple[float, int]:
    """(summed cross-entropy over labeled pixels, number of labeled pixels) for one frame."""
    target = torch.from_numpy(mask.astype(np.int64)).to(logits.device)[None]
    loss = F.cross_entropy(logits[None], target, ignore_index=metrics.IGNORE_INDEX, reduction="sum")
    return float(loss), int((target != metrics.IGNORE_INDEX).sum())


def colorize(pred: np.ndarray, colors: Sequence[Sequence[int]]) -> np.ndarray:
    """H x W x 3 uint8 picture of class ids (255 and unknown ids are black)."""
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(colors)] = np.asarray(colors, np.uint8)
    return palette[pred]


def overlay(
    image: np.ndarray,
    pred: np.ndarray,
    colors: Sequence[Sequence[int]],
    alpha: float = 0.5,
    max_side: int = 0,
) -> np.ndarray:
    """The frame blended with its coloured prediction, optionally shrunk to max_side."""
    if max_side and max(image.shape[:2]) > max_side:
        # Shrinking first keeps the blend and any later PNG encoding cheap.
        scale = max_side / max(image.shape[:2])
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
        pred = np.asarray(Image.fromarray(pred).resize(size, Image.NEAREST))
    blend = image * (1 - alpha) + colorize(pred, colors) * alpha
    return blend.round().astype(np.uint8)


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an RGB or single-channel uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def validate(
    model: nn.Module,
    samples: list[Sample],
    meta: ModelMeta,
    device: torch.device,
    dtype: torch.dtype | None,
    max_side: int,
) -> tuple[float | None, np.ndarray, list]:
    """(mean val loss, confusion matrix, overlays) over full-resolution val frames.

    fit validates in float32 (dtype None) whatever precision it trains in (validate_precision).
    """
    k = len(meta.classes)
    colors = [c["color"] for c in meta.classes]
    model.eval()
    loss_sum, count, cm, pictures = 0.0, 0, np.zeros((k, k), np.int64), []
    for sample in samples:
        logits = predict_logits(model, sample.image, meta.mean, meta.std, device, dtype=dtype)
        loss, n = frame_loss(logits, sample.mask)
        loss_sum, count = loss_sum + loss, count + n
        pred = logits.argmax(0).to(torch.uint8).cpu().numpy()
        cm += metrics.confusion_matrix(sample.mask, pred, k)
        if max_side:
            pictures.append((sample.name, overlay(sample.image, pred, colors, max_side=max_side)))
    model.train()
    return (loss_sum / count if count else None), cm, pictures
