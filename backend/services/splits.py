"""Train/val/test assignment: contiguous blocks per video (no leakage) or seeded random."""

import random
from collections import defaultdict

from sqlalchemy.orm import Session

from backend.errors import Invalid
from backend.models import Frame
from backend.models.frame import SPLITS
from backend.services.frames import list_frames

STRATEGIES = ("contiguous", "random")
MAX_FRACTION_TOTAL = 1e12  # larger (or infinite) weights would overflow the arithmetic


def split_counts(n: int, fractions: tuple[float, float, float]) -> list[int]:
    """Split n items by fractions using largest remainders so counts sum to n."""
    total = sum(fractions)
    raw = [n * f / total for f in fractions]
    counts = [int(r) for r in raw]
    order = sorted(range(3), key=lambda i: (raw[i] - counts[i], fractions[i]), reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def assign_splits(
    session: Session,
    project_id: int,
    strategy: str = "contiguous",
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> dict[str, int]:
    """Assign every frame without a manual override to train, val or test; returns counts."""
    if strategy not in STRATEGIES:
        raise Invalid(f"strategy must be one of {', '.join(STRATEGIES)}.")
    if any(f < 0 for f in fractions) or not 0 < sum(fractions) <= MAX_FRACTION_TOTAL:
        raise Invalid(
            "Split fractions must be non-negative and not all zero "
            f"(fractions or frame counts, summing to at most {MAX_FRACTION_TOTAL:g})."
        )
    frames = [f for f in list_frames(session, project_id) if not f.split_locked]
    if strategy == "random":
        rng = random.Random(seed)
        rng.shuffle(frames)
        _assign_in_order(frames, split_counts(len(frames), fractions))
    else:
        by_source: dict[int | None, list[Frame]] = defaultdict(list)
        for frame in frames:
            by_source[frame.video_id].append(frame)
        # Cutting each video separately keeps every split's frames in one time block per
        # video, so near-identical neighbouring frames cannot sit on both sides of a split.
        for group in by_source.values():
            group.sort(key=lambda f: f.index if f.index is not None else f.id)
            _assign_in_order(group, split_counts(len(group), fractions))
    session.flush()
    counts = dict.fromkeys(SPLITS, 0)
    for frame in list_frames(session, project_id):
        if frame.split:
            counts[frame.split] += 1
    return counts


def _assign_in_order(frames: list[Frame], counts: list[int]) -> None:
    names = [name for name, count in zip(SPLITS, counts, strict=True) for _ in range(count)]
    for frame, name in zip(frames, names, strict=True):
        frame.split = name
