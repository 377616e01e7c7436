"""Mask propagation by dense optical flow (OpenCV DIS) with a forward-backward check."""

from dataclasses import dataclass

import cv2
import numpy as np

UNLABELED = 255
# Sundaram et al. (2010): a flow vector is trusted when going there and back lands within
# ALPHA * (|forward|^2 + |backward|^2) + BETA pixels of where it started.
ALPHA, BETA = 0.01, 0.5
# A pixel whose grey level (lightly blurred) differs from the one it came from by more than
# this is not the same surface: flow that agrees both ways can still be wrong where the
# picture changed (flicker, a cut, something appearing).
MAX_COLOUR_CHANGE = 24


@dataclass(frozen=True)
class Step:
    """One warped mask: labels (255 where unreliable) and the share of pixels trusted."""

    labels: np.ndarray
    reliable: np.ndarray
    reliable_share: float


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def dense_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """H x W x 2 float32 flow from source to target (DIS, medium preset, on grey levels)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_gray(source), _gray(target), None)


def _sample(values: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray, nearest: bool):
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(
        values, grid_x, grid_y, interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def warp_mask(mask: np.ndarray, source: np.ndarray, target: np.ndarray) -> Step:
    """Carry `mask` (on `source`) onto `target`: each target pixel takes the label it came from.

    The flow is computed from target back to source (so every target pixel gets one label) and
    checked against the flow from source to target and against the picture itself; pixels that
    fail, or come from outside the frame, are 255.
    """
    height, width = mask.shape
    source_grey, target_grey = _gray(source), _gray(target)
    back = dense_flow(target_grey, source_grey)  # target pixel -> where it was in source
    forth = dense_flow(source_grey, target_grey)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    src_x, src_y = xs + back[..., 0], ys + back[..., 1]
    inside = (src_x >= 0) & (src_x <= width - 1) & (src_y >= 0) & (src_y <= height - 1)
    forth_there = _sample(forth, src_x, src_y, nearest=False)
    round_trip = back + forth_there
    error = (round_trip**2).sum(-1)
    bound = ALPHA * ((back**2).sum(-1) + (forth_there**2).sum(-1)) + BETA
    came_from = _sample(cv2.GaussianBlur(source_grey, (5, 5), 0), src_x, src_y, nearest=False)
    change = np.abs(came_from.astype(np.int16) - cv2.GaussianBlur(target_grey, (5, 5), 0))
    reliable = inside & (error <= bound) & (change <= MAX_COLOUR_CHANGE)
    labels = cv2.remap(
        mask,
        src_x,
        src_y,
        cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=UNLABELED,
    )
    labels = np.where(reliable, labels, UNLABELED).astype(np.uint8)
    return Step(labels, reliable, float(reliable.mean()))


def fill_unreliable(step: Step, fallback: np.ndarray | None) -> np.ndarray:
    """The draft: warped labels, with the model's prediction (or 255) where none came through.

    That is where this step's flow failed, and where an earlier step of a chain (or the source
    mask itself) had left the pixel unlabeled.
    """
    if fallback is None:
        return step.labels
    known = step.reliable & (step.labels != UNLABELED)
    return np.where(known, step.labels, fallback).astype(np.uint8)
