"""Frames to label next: a model's class probabilities, scored and chosen for diversity."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .diversity import Place, select_k_center, select_time_gap
from .evaluate import to_input
from .uncertainty import frame_score, pooled_features

# Scoring ranks frames, it labels nothing: a frame above this is scored shrunk to it (memory
# stays bounded, and the ranking hardly depends on detail finer than a 1.6 MP grid).
MAX_SCORE_PIXELS = 1600 * 1000
DEFAULT_RULE = "time"
DEFAULT_GAP_S = 2.0


def project_probs(
    model: nn.Module,
    image: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    num_classes: int,
    class_map: Sequence[int] | None = None,
    max_pixels: int = MAX_SCORE_PIXELS,
) -> np.ndarray:
    """K x H x W float32 probabilities of the project's classes (a base's summed via its map)."""
    height, width = image.shape[:2]
    with torch.inference_mode():
        x = to_input(image, mean, std, device)
        if height * width > max_pixels:
            scale = (max_pixels / (height * width)) ** 0.5
            size = (max(16, round(height * scale)), max(16, round(width * scale)))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        probs = model(x).float().softmax(1)[0]
        if class_map is not None:
            index = torch.tensor(list(class_map), device=probs.device)
            out = torch.zeros((num_classes, *probs.shape[1:]), device=probs.device)
            probs = out.index_add_(0, index, probs)
        return probs.cpu().numpy()


@dataclass
class Scored:
    """One candidate frame's scores, where it lies in time and what its prediction looks like."""

    score: float
    uncertainty: float
    rare_weight: float
    place: Place
    features: np.ndarray


def score_frame(probs: np.ndarray, weights: np.ndarray, place: Place, measure: str) -> Scored:
    """The frame's score parts and pooled features from its probabilities."""
    parts = frame_score(probs, weights, measure)
    return Scored(**parts, place=place, features=pooled_features(probs))


def rank(
    scored: Sequence[Scored],
    labeled_places: Sequence[Place],
    labeled_features: np.ndarray,
    count: int,
    rule: str = DEFAULT_RULE,
    gap_s: float = DEFAULT_GAP_S,
) -> list[tuple[int, str]]:
    """(candidate index, reason) of the `count` frames to label next, best first."""
    scores = [s.score for s in scored]
    if rule == "time":
        picks = select_time_gap(scores, [s.place for s in scored], labeled_places, count, gap_s)
    elif rule == "kcenter":
        feats = np.stack([s.features for s in scored]) if scored else np.zeros((0, 1))
        picks = select_k_center(scores, feats, labeled_features, count)
    else:
        raise ValueError(f"rule must be time or kcenter, not {rule!r}")
    return [(p.index, p.reason) for p in picks]
