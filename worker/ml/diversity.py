"""Choosing frames to label next: high scores, but not near-duplicates of each other."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RULES = ("time", "kcenter")
Place = tuple[tuple, float] | None  # (sequence key, seconds), None when nothing orders it


@dataclass(frozen=True)
class Pick:
    """One chosen frame, in the order chosen, and why it was chosen there."""

    index: int
    reason: str


def _near(place: Place, taken: dict[tuple, list[float]], gap_s: float) -> bool:
    if place is None:
        return False
    return any(abs(place[1] - t) < gap_s for t in taken.get(place[0], ()))


def select_time_gap(
    scores: Sequence[float],
    places: Sequence[Place],
    labeled: Sequence[Place],
    count: int,
    gap_s: float,
) -> list[Pick]:
    """Best scores first, skipping frames within gap_s of a labeled or already chosen frame.

    When too few frames are far enough, the skipped ones follow in score order (penalised,
    not dropped), so `count` frames come back whenever there are that many.
    """
    taken: dict[tuple, list[float]] = {}
    for place in labeled:
        if place is not None:
            taken.setdefault(place[0], []).append(place[1])
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    picks, skipped = [], []
    for i in order:
        if len(picks) == count:
            break
        if _near(places[i], taken, gap_s):
            skipped.append(i)
            continue
        picks.append(Pick(i, "highest score"))
        if places[i] is not None:
            taken.setdefault(places[i][0], []).append(places[i][1])
    for i in skipped[: count - len(picks)]:
        picks.append(Pick(i, f"within {gap_s:g} s of a labeled or chosen frame"))
    return picks


def select_k_center(
    scores: Sequence[float],
    features: np.ndarray,
    labeled_features: np.ndarray,
    count: int,
) -> list[Pick]:
    """Greedy k-center weighted by score: each pick maximises score x distance to the chosen set.

    The chosen set starts as the labeled frames, so a frame like one already labeled scores low.
    """
    s = np.asarray(scores, np.float64)
    x = np.asarray(features, np.float64)
    if len(s) == 0:
        return []
    if len(labeled_features):
        diff = x[:, None, :] - np.asarray(labeled_features, np.float64)[None]
        dist = np.sqrt((diff**2).sum(-1)).min(1)
    else:
        dist = np.full(len(s), math.inf)
    picks: list[Pick] = []
    free = np.ones(len(s), bool)
    for _ in range(min(count, len(s))):
        # Infinite distance (nothing chosen yet): the best score alone decides.
        value = np.where(np.isinf(dist), s * 1e12, s * dist)
        value[~free] = -np.inf
        i = int(value.argmax())
        picks.append(Pick(i, "high score, unlike the labeled and chosen frames"))
        free[i] = False
        dist = np.minimum(dist, np.sqrt(((x - x[i]) ** 2).sum(-1)))
    return picks
