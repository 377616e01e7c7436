"""Video probing and frame decoding with PyAV (FFmpeg's libraries, no subprocess)."""

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from backend.errors import Invalid


@dataclass(frozen=True)
class VideoInfo:
    """What probing a video found; width and height are as displayed (after rotation)."""

    container: str
    codec: str
    fps: float
    duration_s: float
    width: int
    height: int
    frame_count: int
    rotation: int


@dataclass(frozen=True)
class FrameIndex:
    """Presentation timestamps of every frame and which frames are keyframes."""

    pts: list[int]
    keyframe_pts: list[int]
    time_base: Fraction

    def time(self, pts: int) -> float:
        """Seconds of a presentation timestamp."""
        return float(pts * self.time_base)


def _open(path: Path):
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise Invalid("The file is not a readable video (no known container format).") from exc
    if not container.streams.video:
        container.close()
        raise Invalid("The file has no video stream.")
    return container


def index_frames(path: Path) -> FrameIndex:
    """Demux every packet (no decoding) to list frame timestamps and keyframes."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        pts, keys = [], []
        try:
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        except av.FFmpegError as exc:
            raise Invalid("The video is corrupt: its packets cannot be read.") from exc
        pts.sort()
        keys.sort()
        return FrameIndex(pts=pts, keyframe_pts=keys, time_base=stream.time_base)
    finally:
        container.close()


def probe_video(path: Path, extension: str = "") -> VideoInfo:
    """Read container facts and check that the video really decodes from start to end."""
    index = index_frames(path)
    if not index.pts or not index.keyframe_pts:
        raise Invalid("The video has no decodable frames (empty or truncated file).")
    container = _open(path)
    try:
        stream = container.streams.video[0]
        first = _decode_at(container, stream, index.pts[0])
        last = _decode_at(container, stream, index.pts[-1])
        if first is None or last is None:
            raise Invalid("The video is truncated or corrupt: its frames do not decode.")
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        first_t, last_t = index.time(index.pts[0]), index.time(index.pts[-1])
        fps = float(rate) if rate else (len(index.pts) - 1) / max(last_t - first_t, 1e-9)
        duration = last_t - first_t + (1.0 / fps if fps else 0.0)
        rotation = int(first.rotation or 0) % 360
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            container=_container_name(container.format.name, extension),
            codec=stream.codec_context.name,
            fps=round(fps, 6),
            duration_s=round(duration, 6),
            width=width,
            height=height,
            frame_count=len(index.pts),
            rotation=rotation,
        )
    finally:
        container.close()


def _container_name(names: str, extension: str) -> str:
    """FFmpeg reports mp4 and mov as one demuxer; the extension tells which one it is."""
    options = names.split(",")
    ext = extension.lower().lstrip(".")
    return ext if ext in options else options[0]


def _decode_at(container, stream, target_pts: int):
    """Seek to the keyframe before target_pts and decode up to it; None when it fails."""
    try:
        container.seek(target_pts, stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            if frame.pts is not None and frame.pts >= target_pts:
                return frame
    except av.FFmpegError:
        return None
    return None


def upright_image(frame) -> Image.Image:
    """A decoded frame as an RGB image, rotated as the display matrix says."""
    image = frame.to_image()
    rotation = int(frame.rotation or 0)
    if rotation % 360:
        image = image.rotate(rotation, expand=True)
    return image


def select_by_rate(times: list[Fraction], fps: Fraction, end: Fraction) -> list[int]:
    """Indices of frames that FFmpeg's fps filter keeps (last frame of each output slot).

    A frame at time t falls in slot round(t * fps); each slot keeps its last frame, and
    only slots that start before `end` (when the last frame stops showing) exist. Exact
    rational arithmetic, rounding half away from zero, as FFmpeg does: float rounding
    would move frames that sit exactly between two slots.
    """
    half = Fraction(1, 2)
    slots = [math.floor(t * fps + half) for t in times]
    n_slots = math.floor(end * fps + half)
    return [
        i
        for i in range(len(times))
        if slots[i] < n_slots and (i == len(times) - 1 or slots[i + 1] > slots[i])
    ]


def exact(value: float) -> Fraction:
    """A user-given decimal (like 0.2 fps) as the exact rational it was written as."""
    return Fraction(str(value)).limit_denominator(1_000_000)


def decode_selected(
    path: Path, index: FrameIndex, wanted_pts: list[int], on_frame: Callable[[int, object], None]
) -> None:
    """Decode just the wanted frames, seeking to each one's keyframe instead of decoding all."""
    wanted = sorted(set(wanted_pts))
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for group in _groups_by_keyframe(index.keyframe_pts, wanted):
            remaining = set(group)
            container.seek(group[0], stream=stream, backward=True, any_frame=False)
            for frame in _frames(container, stream):
                if frame.pts in remaining:
                    remaining.discard(frame.pts)
                    on_frame(frame.pts, frame)
                if not remaining or frame.pts > group[-1]:
                    break
    finally:
        container.close()


def _frames(container, stream) -> Iterator:
    try:
        yield from container.decode(stream)
    except av.FFmpegError as exc:
        raise Invalid("The video stopped decoding part-way (corrupt or truncated).") from exc


def _groups_by_keyframe(keyframes: list[int], wanted: list[int]) -> list[list[int]]:
    """Split sorted wanted timestamps into runs that share the same preceding keyframe."""
    import bisect

    groups: dict[int, list[int]] = {}
    for pts in wanted:
        pos = bisect.bisect_right(keyframes, pts) - 1
        groups.setdefault(keyframes[max(pos, 0)], []).append(pts)
    return [groups[k] for k in sorted(groups)]
