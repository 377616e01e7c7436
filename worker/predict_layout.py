"""The picture of a predicted video frame: name labels, one overlay per model, a class legend."""

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from worker.ml.evaluate import colorize

STRIP = 28  # pixels of the name header and of the legend


def _font(size: int = 16):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


class Layout:
    """Panels side by side under their model names, the legend of class colours below."""

    def __init__(self, width: int, height: int, names: Sequence[str], classes: Sequence[dict]):
        self.panel_w, self.panel_h, self.n = width, height, len(names)
        # yuv420p needs even sides: pad the canvas, never crop the frame.
        self.width = (width * self.n + 1) // 2 * 2
        self.height = (STRIP + height + STRIP + 1) // 2 * 2
        self.palette = np.zeros((256, 3), np.uint8)
        self.palette[: len(classes)] = np.asarray([c["color"] for c in classes], np.uint8)
        self.canvas = np.zeros((self.height, self.width, 3), np.uint8)
        self.canvas[:STRIP] = self._header(names)
        self.canvas[STRIP + height : STRIP + height + STRIP] = self._legend(classes)

    def panel_box(self, k: int) -> tuple[slice, slice]:
        """Rows and columns of panel k in the canvas."""
        x = k * self.panel_w
        return slice(STRIP, STRIP + self.panel_h), slice(x, x + self.panel_w)

    def _header(self, names: Sequence[str]) -> np.ndarray:
        strip = Image.new("RGB", (self.width, STRIP), (24, 24, 24))
        draw, font = ImageDraw.Draw(strip), _font()
        for k, name in enumerate(names):
            draw.text((k * self.panel_w + 8, 5), name, fill=(255, 255, 255), font=font)
        return np.asarray(strip)

    def _legend(self, classes: Sequence[dict]) -> np.ndarray:
        strip = Image.new("RGB", (self.width, STRIP), (24, 24, 24))
        draw, font, x = ImageDraw.Draw(strip), _font(), 8
        for c in classes:
            draw.rectangle((x, 7, x + 14, 21), fill=tuple(c["color"]), outline=(255, 255, 255))
            draw.text((x + 20, 5), c["name"], fill=(255, 255, 255), font=font)
            x += 20 + int(draw.textlength(c["name"], font=font)) + 18
        return np.asarray(strip)

    def compose(self, image: np.ndarray, preds: Sequence[np.ndarray], alpha: float) -> np.ndarray:
        """The canvas with each model's prediction blended over the frame (reused buffer)."""
        for k, pred in enumerate(preds):
            rows, cols = self.panel_box(k)
            blend = image * (1 - alpha) + colorize(pred, self.palette) * alpha
            self.canvas[rows, cols] = blend.round().astype(np.uint8)
        return self.canvas


def areas(pred: np.ndarray, num_classes: int) -> list[float]:
    """Fraction of the frame's pixels predicted as each class."""
    counts = np.bincount(pred.ravel(), minlength=256)[:num_classes]
    return (counts / pred.size).round(6).tolist()


def timeline_chart(rows: list[list], names: list[str], classes: Sequence[dict], out) -> None:
    """A PNG chart of class area over time: a line per class, dashed for the 'before' model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    for m, name in enumerate(names):
        mine = [r for r in rows if r[2] == m]
        times = [r[1] for r in mine]
        for k, c in enumerate(classes):
            color = np.asarray(c["color"]) / 255
            style = "--" if len(names) > 1 and m == 0 else "-"
            label = f"{c['name']} ({name})" if len(names) > 1 else c["name"]
            ax.plot(times, [r[3 + k] for r in mine], style, color=color, label=label)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("fraction of the frame")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)
