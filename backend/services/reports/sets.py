"""A fine-tune report's generalisation sets: held-out frames, and a reference set (forgetting).

Each set is reported like the test split: scores of its summed per-frame matrices, paired
block-bootstrap intervals over blocks of its own frames, and the same verdict sentences.
"""

from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from backend.services.reports import blocks, stats
from backend.services.reports.source import ReportSource, scored_facts

NOUNS = {"heldout": "held-out frame", "reference": "reference frame"}


def class_frames(frame_cms: np.ndarray, names: list[str]) -> dict[str, int]:
    """Frames in which each class has labeled pixels (rows of the per-frame matrices)."""
    labeled = frame_cms.sum(axis=2) > 0
    return {name: int(labeled[:, i].sum()) for i, name in enumerate(names)}


def _entries(source: ReportSource) -> dict[str, dict[str, Any]]:
    found = source.result.get("sets") or {}
    return {role: found[role] for role in NOUNS if role in found}


def set_blocks(
    session: Session, source: ReportSource, seconds: float, frame_rate: float
) -> dict[str, list[int]]:
    """Block id of each frame of each set, from that set's own frame facts."""
    out = {}
    for role, entry in _entries(source).items():
        after = entry["after"]
        n = len(after["frame_confusions"])
        facts = scored_facts(
            session, entry.get("frame_ids") or [], after.get("frame_names") or [], n
        )
        out[role] = blocks.assign_blocks(facts, seconds, frame_rate)
    return out


def title(role: str, entry: dict[str, Any]) -> str:
    """The set's heading on the report."""
    if role == "reference":
        return f"Forgetting: {entry.get('name')}"
    if entry.get("kind") == "gap":
        return f"Held-out: test frames \u2265 {entry['gap_s']:g} s from training"
    return f"Held-out: {entry.get('name')}"


def lead(role: str, entry: dict[str, Any], n: int) -> str:
    """The sentence that says what the set is and how to read a change on it."""
    frames = f"{n} {NOUNS[role]}{'s' if n != 1 else ''}"
    if role == "reference":
        return (
            f"The {frames} of project \u201c{entry.get('name')}\u201d come from the source "
            "domain of the base model: a decline here means the fine-tune forgot the source "
            "domain (forgetting); no clear decline means no forgetting was measured."
        )
    if entry.get("kind") == "gap":
        return (
            f"The {frames} are this project's test frames at least {entry['gap_s']:g} s from "
            "every labeled train or validation frame of the same video or file-name sequence: "
            "how the fine-tune does away from the stretches it was trained on."
        )
    return (
        f"The {frames} are the labeled frames of project \u201c{entry.get('name')}\u201d, "
        "which the fine-tune never trained on: how it does on data it has not seen."
    )


def section(
    role: str, entry: dict[str, Any], names: list[str], block_ids: list[int], seconds: float
) -> dict[str, Any]:
    """One set's part of the report, shaped like the test split's (same keys for the tables)."""
    after_frames = np.asarray(entry["after"]["frame_confusions"], dtype=np.int64)
    before = entry.get("before")
    before_frames = (
        np.asarray(before["frame_confusions"], dtype=np.int64) if before is not None else None
    )
    after_scores = stats.scores(after_frames.sum(axis=0), names)
    before_scores = stats.scores(before_frames.sum(axis=0), names) if before else None
    n = len(after_frames)
    out = {
        "role": role,
        "kind": entry.get("kind"),
        "title": title(role, entry),
        "project_id": entry.get("project_id"),
        "gap_s": entry.get("gap_s"),
        "frame_ids": list(entry.get("frame_ids") or []),
        "frame_names": list(entry["after"].get("frame_names") or []),
        "frame_noun": NOUNS[role],
        "n_frames": n,
        "n_test_frames": n,  # the key stats.sentences reads
        "n_blocks": blocks.count_blocks(block_ids),
        "block_seconds": seconds,
        "frame_blocks": list(block_ids),
        "min_blocks": stats.MIN_BLOCKS,
        "before": before_scores,
        "after": after_scores,
        "change": stats.difference(after_scores, before_scores) if before else None,
        "ci": stats.bootstrap(after_frames, before_frames, names, block_ids),
        "class_frames": class_frames(after_frames, names),
        "class_pixels": {
            name: int(v) for name, v in zip(names, after_frames.sum(axis=(0, 2)), strict=True)
        },
    }
    out["lead"] = lead(role, entry, n)
    out["sentences"] = [out["lead"], *stats.sentences(out)]
    return out


def sections(
    source: ReportSource, block_ids: dict[str, list[int]] | None, seconds: float
) -> dict[str, Any]:
    """Every set of the job by role ({} when it had none); a set without block ids given is
    resampled frame by frame."""
    out = {}
    for role, entry in _entries(source).items():
        n = len(entry["after"]["frame_confusions"])
        ids = (block_ids or {}).get(role) or list(range(n))
        out[role] = section(role, entry, source.class_names, ids, seconds)
    return out
