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


def _texture(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth random grey texture (noise blurred by a box filter), so optical flow has detail."""
    noise = np.random.default_rng(seed).random((height + 4, width + 4))
    kernel = np.ones(5) / 5
    for axis in (0, 1):
        noise = np.apply_along_axis(lambda v: np.convolve(v, kernel, "valid"), axis, noise)
    low, high = noise.min(), noise.max()
    return (30 + 195 * (noise - low) / (high - low)).astype(np.uint8)


BOX = (80, 60, 48)  # top row, height, width of the moving box


def box_left(index: int, speed: int = 2) -> int:
    """Left column of the box in video frame `index` (it moves right `speed` pixels a frame)."""
    return 32 + speed * index


def make_moving_box_video(
    path: Path,
    *,
    frames: int = 30,
    width: int = 320,
    height: int = 240,
    speed: int = 2,
    flicker: tuple[slice, slice] | None = None,
) -> Path:
    """A textured box sliding right over a still textured background (for mask propagation).

    flicker: a region of fresh noise in every frame, dark and bright in turn, where no flow
    can be trusted.
    """
    background, box = _texture(height, width, 1), _texture(BOX[1], BOX[2], 2)
    top, box_h, box_w = BOX
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12"}
        for i in range(frames):
            grey = background.copy()
            left = box_left(i, speed)
            grey[top : top + box_h, left : left + box_w] = box
            if flicker is not None:
                noise = _texture(*grey[flicker].shape, seed=100 + i)
                grey[flicker] = noise // 3 + (30 if i % 2 else 150)
            pixels = np.repeat(grey[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
