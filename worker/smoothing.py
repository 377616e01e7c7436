"""Temporal smoothing: each frame's classes from the mean probabilities of its neighbours."""

from collections import deque

import numpy as np
import torch


class Smoother:
    """Centred moving average over `window` frames (odd; 1 = off), emitted in order.

    A frame leaves once the `window // 2` frames after it have arrived (the last ones at
    flush, with the shorter window the clip's end allows), so at most a window of frames and
    their probabilities is held.
    """

    def __init__(self, window: int):
        if window < 1 or window % 2 == 0:
            raise ValueError("the smoothing window is an odd number of frames")
        self.half = window // 2
        self.items: deque = deque()  # (key, payload, [probabilities per model])
        self.next = 0  # position in items of the next frame to emit

    def push(self, key, payload, probs: list[torch.Tensor]) -> list[tuple]:
        """Add a frame; returns the frames now complete as (key, payload, [class ids])."""
        self.items.append((key, payload, probs))
        return self._ready(final=False)

    def flush(self) -> list[tuple]:
        """The frames still held, at the end of the clip."""
        return self._ready(final=True)

    def _ready(self, final: bool) -> list[tuple]:
        out = []
        while self.next < len(self.items) and (
            final or len(self.items) - 1 - self.next >= self.half
        ):
            lo, hi = max(0, self.next - self.half), min(len(self.items), self.next + self.half + 1)
            window = [self.items[i][2] for i in range(lo, hi)]
            key, payload, _ = self.items[self.next]
            out.append(
                (
                    key,
                    payload,
                    [_mean_argmax([w[m] for w in window]) for m in range(len(window[0]))],
                )
            )
            self.next += 1
            while self.next - self.half > 0:
                self.items.popleft()
                self.next -= 1
        return out


def _mean_argmax(probs: list[torch.Tensor]) -> np.ndarray:
    return torch.stack(probs).float().mean(0).argmax(0).to(torch.uint8).cpu().numpy()


def flicker(preds: list[np.ndarray]) -> float:
    """Mean fraction of pixels whose class changes from one frame to the next."""
    if len(preds) < 2:
        return 0.0
    return float(np.mean([(a != b).mean() for a, b in zip(preds, preds[1:], strict=False)]))
