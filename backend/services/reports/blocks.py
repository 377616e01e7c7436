"""Which test frames are resampled together: contiguous time blocks of videos and name sequences.

Neighbouring frames of one drive look alike, so their errors are alike too; a bootstrap that
draws single frames treats them as independent evidence and gives intervals that are too
narrow. Frames are therefore grouped into blocks of `block_seconds` of recording time, and the
bootstrap draws whole blocks:

- a frame of a video: the video is cut into stretches of `block_seconds` of its time, starting
  at its first test frame (the frame's timestamp, else its frame index at `frame_rate`);
- an imported frame: its file name gives the sequence and the order. The last run of three or
  more digits (else the last run of digits) in the name is the frame number; what comes before
  it, without trailing separators, is the sequence (CamVid `0001TP_006690.png` is frame 6690 of
  `0001TP`, Cityscapes `aachen_000000_000019_leftImg8bit.png` frame 19 of `aachen_000000`). The
  frame number counts frames at `frame_rate` (a timestamp, when the frame has one, is used
  instead), and each sequence is cut like a video. Folders are ignored: one drive imported from
  two folders stays one sequence, and two drives that merely share a prefix share blocks, which
  only widens the intervals;
- a frame whose name has no number (or that has no name) gives no order to group it by: it is
  a block of its own.

`block_seconds` 0 puts every frame in its own block: the frame-by-frame bootstrap, right only
for test frames that really are independent.
"""

import math
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

# The frame rate CamVid numbers its frames at, and that of most cameras.
FRAME_RATE = 30.0
_DIGITS = re.compile(r"\d+")
_SEPARATORS = " _-."


@dataclass(frozen=True)
class FrameFacts:
    """What is known of a test frame's place in time (any of it may be missing)."""

    video_id: int | None = None
    timestamp_s: float | None = None
    index: int | None = None
    source_name: str | None = None


def name_sequence(source_name: str | None) -> tuple[str, int] | None:
    """(sequence, frame number) that a file name gives; None when the name has no number."""
    if not source_name:
        return None
    stem = posixpath.basename(source_name.replace("\\", "/"))
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    runs = list(_DIGITS.finditer(stem))
    if not runs:
        return None
    # Short runs are rarely frame numbers (a version "v2", "leftImg8bit"), so long ones win.
    number = ([m for m in runs if len(m.group()) >= 3] or runs)[-1]
    return stem[: number.start()].rstrip(_SEPARATORS), int(number.group())


def place(facts: FrameFacts, frame_rate: float) -> tuple[tuple, float] | None:
    """(sequence key, time in seconds) of a frame; None when nothing orders it."""
    if facts.video_id is not None:
        if facts.timestamp_s is not None:
            return ("video", facts.video_id), float(facts.timestamp_s)
        if facts.index is not None:
            return ("video", facts.video_id), facts.index / frame_rate
        return None
    named = name_sequence(facts.source_name)
    if named is None:
        return None
    sequence, number = named
    seconds = facts.timestamp_s if facts.timestamp_s is not None else number / frame_rate
    return ("name", sequence), float(seconds)


def assign_blocks(
    frames: Sequence[FrameFacts], block_seconds: float, frame_rate: float = FRAME_RATE
) -> list[int]:
    """Block id of each frame: 0, 1, ... numbered in order of first appearance."""
    if block_seconds < 0 or frame_rate <= 0:
        raise ValueError("block_seconds must be >= 0 and frame_rate > 0")
    places = [place(f, frame_rate) if block_seconds > 0 else None for f in frames]
    starts: dict[tuple, float] = {}
    for found in places:
        if found is not None:
            key, seconds = found
            starts[key] = min(seconds, starts.get(key, math.inf))
    ids: dict[tuple, int] = {}
    out = []
    for i, found in enumerate(places):
        if found is None:
            key = ("own", i)
        else:
            sequence, seconds = found
            key = (*sequence, math.floor((seconds - starts[sequence]) / block_seconds))
        out.append(ids.setdefault(key, len(ids)))
    return out


def count_blocks(blocks: Sequence[int]) -> int:
    """Number of distinct blocks."""
    return len(set(blocks))


def describe(block_seconds: float) -> str:
    """The block rule in a few words, for the report."""
    if block_seconds <= 0:
        return "each test frame resampled on its own (assumes the frames are independent)"
    return (
        f"test frames within the same {block_seconds:g} s stretch of one video or file-name "
        "sequence resampled together"
    )
