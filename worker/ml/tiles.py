"""Bounded-memory prediction of large frames: overlapping tiles at the frame's own resolution.

A network's activations grow with the pixels it is given (a 6000 x 4000 frame took 5 GB in one
piece), so a frame larger than `max_pixels` is cut into tiles. Each tile is predicted with
`margin` pixels of context on every side (thrown away afterwards) and only its core is kept, so
every kept pixel sees at least `margin` pixels around it and no seams are averaged. Tiles stay at
full resolution rather than the frame being shrunk to a cap: fine-tunes learn from crops at the
frames' own scale (random scale 0.5-2 around it), so shrinking a huge frame several times would
show the model objects far smaller than it was trained on, and thin classes (signs, poles) would
lose the pixels that carry them. Cut points and margins are multiples of the networks' output
stride (32 covers 8, 16 and 32), so a tile's feature grid lines up with the whole frame's. Every
window has the same size (shifted inwards at the frame's edges, which gives edge tiles more
context): the allocator then reuses the same blocks tile after tile instead of fragmenting
(measured: peak memory kept growing with the number of tiles when edge windows were smaller).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ALIGN = 32


@dataclass(frozen=True)
class Tiling:
    """When and how to tile: frames above max_pixels, cores of about `tile` px, `margin` context."""

    max_pixels: int = 2_500_000  # 1920 x 1200 and smaller frames are predicted whole
    tile: int = 1024
    margin: int = 128


DEFAULT_TILING = Tiling()


@dataclass(frozen=True)
class Tile:
    """One tile: the window given to the model and the core kept (top, left, bottom, right)."""

    window: tuple[int, int, int, int]
    core: tuple[int, int, int, int]

    @property
    def pixels(self) -> int:
        """Pixels of the window (what the model's memory grows with)."""
        top, left, bottom, right = self.window
        return (bottom - top) * (right - left)


def _cuts(length: int, tile: int) -> list[int]:
    """Boundaries of equal-sized cores (aligned to ALIGN) covering 0..length."""
    parts = max(1, -(-length // tile))
    inner = [round(i * length / parts / ALIGN) * ALIGN for i in range(1, parts)]
    return [0, *sorted({c for c in inner if 0 < c < length}), length]


def _spans(length: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """(window start, window end, core start, core end) along one side; equal window lengths."""
    cuts = _cuts(length, tile)
    cores = list(zip(cuts, cuts[1:], strict=False))
    size = min(length, max(end - start for start, end in cores) + 2 * margin)
    spans = []
    for start, end in cores:
        first = min(max(0, start - margin), length - size)
        spans.append((first, first + size, start, end))
    return spans


def plan_tiles(height: int, width: int, tiling: Tiling = DEFAULT_TILING) -> list[Tile]:
    """The tiles of a frame: one whole-frame tile when it is at most max_pixels."""
    if height * width <= tiling.max_pixels:
        return [Tile((0, 0, height, width), (0, 0, height, width))]
    rows = _spans(height, tiling.tile, tiling.margin)
    cols = _spans(width, tiling.tile, tiling.margin)
    return [
        Tile((w_top, w_left, w_bottom, w_right), (top, left, bottom, right))
        for w_top, w_bottom, top, bottom in rows
        for w_left, w_right, left, right in cols
    ]


def predict_tiles(
    image: np.ndarray, tiles: list[Tile], predict_window: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """H x W uint8 class ids: each window predicted on its own, its core written in place."""
    out = np.empty(image.shape[:2], np.uint8)
    for tile in tiles:
        top, left, bottom, right = tile.window
        pred = predict_window(image[top:bottom, left:right])
        c_top, c_left, c_bottom, c_right = tile.core
        out[c_top:c_bottom, c_left:c_right] = pred[
            c_top - top : c_bottom - top, c_left - left : c_right - left
        ]
    return out
