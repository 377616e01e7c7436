"""Test videos made with PyAV: each frame's brightness encodes its index."""

from pathlib import Path

import av
import numpy as np


def level(index: int) -> int:
    """The grey level that frame `index` is painted with."""
    return (index * 4) % 240 + 8


def make_video(
    path: Path,
    *,
    codec: str = "libx264",
    width: int = 160,
    height: int = 120,
    fps: int = 30,
    seconds: float = 2.0,
    rotation: int | None = None,
    gop: int | None = None,
    pix_fmt: str = "yuv420p",
) -> Path:
    """Write a clip whose frame i is grey level(i) with a white mark in the top-left corner."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if gop:
            stream.codec_context.gop_size = gop
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=none"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(round(seconds * fps)):
            pixels = np.full((height, width, 3), level(i), np.uint8)
            pixels[: height // 4, : width // 4] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def frame_index_of(pixels: np.ndarray) -> int:
    """Recover the index painted into a decoded frame (its mean grey away from the mark)."""
    h, w = pixels.shape[:2]
    value = float(pixels[h // 2 :, w // 2 :].mean())
    return round((value - 8) / 4)
