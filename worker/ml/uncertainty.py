"""Per-frame labeling value: pixel uncertainty weighted towards the project's rare classes."""

from collections.abc import Sequence

import numpy as np

MEASURES = ("entropy", "margin")
# A class seen on fewer than this share of labeled pixels weighs as if it had this share, so
# a class nobody labeled yet counts a lot, not infinitely.
MIN_SHARE = 0.01


def pixel_uncertainty(probs: np.ndarray, measure: str = "entropy") -> np.ndarray:
    """H x W uncertainty in 0..1 of K x H x W class probabilities.

    entropy: Shannon entropy over log K; margin: 1 - (best - second best probability).
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    p = np.asarray(probs, np.float64)
    k = p.shape[0]
    if k < 2:
        return np.zeros(p.shape[1:])
    if measure == "entropy":
        safe = np.clip(p, 1e-12, 1.0)
        return -(p * np.log(safe)).sum(0) / np.log(k)
    top = np.partition(p, k - 2, axis=0)
    return 1.0 - (top[k - 1] - top[k - 2])


def class_weights(pixel_counts: Sequence[int]) -> np.ndarray:
    """Weight per class: inverse share of the labeled pixels, an average labeled pixel = 1."""
    counts = np.asarray(pixel_counts, np.float64)
    total = counts.sum()
    if total <= 0:
        return np.ones(len(counts))
    share = np.maximum(counts / total, MIN_SHARE)
    weights = 1.0 / share
    return weights / float((counts / total * weights).sum())


def frame_score(
    probs: np.ndarray, weights: np.ndarray, measure: str = "entropy"
) -> dict[str, float]:
    """score = mean over pixels of uncertainty x weight of the pixel's predicted class.

    Also the plain mean uncertainty and the mean rare-class weight, which say why a frame
    ranks where it does.
    """
    u = pixel_uncertainty(probs, measure)
    w = np.asarray(weights, np.float64)[np.asarray(probs).argmax(0)]
    return {
        "score": float((u * w).mean()),
        "uncertainty": float(u.mean()),
        "rare_weight": float(w.mean()),
    }


def pooled_features(probs: np.ndarray, grid: int = 4) -> np.ndarray:
    """Class probabilities averaged over a grid x grid layout of the frame, as one vector.

    What a frame shows and where: enough to tell near-duplicate frames from different scenes.
    """
    p = np.asarray(probs, np.float32)
    k, h, w = p.shape
    rows = np.array_split(np.arange(h), min(grid, h))
    cols = np.array_split(np.arange(w), min(grid, w))
    cells = [p[:, r[0] : r[-1] + 1, c[0] : c[-1] + 1].mean((1, 2)) for r in rows for c in cols]
    return np.concatenate(cells)
