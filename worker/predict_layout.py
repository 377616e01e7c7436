"""The picture of a predicted video frame: name labels, one overlay per model, a class legend."""

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

STRIP = 28  # pixels of the name header and of the legend
# The whole picture is at most this wide: a 1080p before | after is two 960 px panels, not a
# 3840 px video most players and hardware decoders would shrink or refuse anyway.
MAX_WIDTH = 1920


def _font(size: int = 16):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


class Layout:
    """Panels side by side under their model names, the legend of class colours below."""

    def __init__(
        self,
        width: int,
        height: int,
        names: Sequence[str],
        classes: Sequence[dict],
        max_width: int = MAX_WIDTH,
    ):
        self.n = len(names)
        self.frame_size = (width, height)
        scale = min(1.0, max_width / (width * self.n))
        self.panel_w, self.panel_h = max(1, int(width * scale)), max(1, int(height * scale))
        # yuv420p needs even sides: pad the canvas, never crop the frame.
        self.width = (self.panel_w * self.n + 1) // 2 * 2
        self.height = (STRIP + self.panel_h + STRIP + 1) // 2 * 2
        # cv2.LUT maps a 3-channel image through a 256 x 1 x 3 table: class id -> its colour.
        self.palette = np.zeros((256, 1, 3), np.uint8)
        self.palette[: len(classes), 0] = np.asarray([c["color"] for c in classes], np.uint8)
        self.canvas = np.zeros((self.height, self.width, 3), np.uint8)
        self.canvas[:STRIP] = self._header(names)
        self.canvas[STRIP + self.panel_h : STRIP + self.panel_h + STRIP] = self._legend(classes)

    def panel_box(self, k: int) -> tuple[slice, slice]:
        """Rows and columns of panel k in the canvas."""
        x = k * self.panel_w
        return slice(STRIP, STRIP + self.panel_h), slice(x, x + self.panel_w)

    def _header(self, names: Sequence[str]) -> np.ndarray:
        strip = Image.new("RGB", (self.width, STRIP), (24, 24, 24))
        font = _font()
        for k, name in enumerate(names):
            # Each name is drawn on its own panel's part, so a long one never runs into the next.
            part = Image.new("RGB", (self.panel_w, STRIP), (24, 24, 24))
            draw = ImageDraw.Draw(part)
            text = _fitted(draw, name, font, self.panel_w - 16)
            draw.text((8, 5), text, fill=(255, 255, 255), font=font)
            strip.paste(part, (k * self.panel_w, 0))
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
        """The canvas with each model's prediction blended over the frame (reused buffer).

        In uint8 with OpenCV, straight into the canvas: float numpy took 0.6 s a 1080p frame.
        A frame wider than its panel is shrunk first, and its predictions with it (nearest).
        """
        size = (self.panel_w, self.panel_h)
        shrink = size != self.frame_size
        if shrink:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        for k, pred in enumerate(preds):
            if shrink:
                pred = cv2.resize(pred, size, interpolation=cv2.INTER_NEAREST)
            colours = cv2.LUT(cv2.cvtColor(pred, cv2.COLOR_GRAY2RGB), self.palette)
            rows, cols = self.panel_box(k)
            cv2.addWeighted(image, 1 - alpha, colours, alpha, 0.0, dst=self.canvas[rows, cols])
        return self.canvas


def _fitted(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """The text, cut short with an ellipsis where it would be wider than width pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def areas(pred: np.ndarray, num_classes: int) -> list[float]:
    """Fraction of the frame's pixels predicted as each class."""
    # A histogram in OpenCV: half the time of np.bincount on a 1080p mask.
    counts = cv2.calcHist([pred], [0], None, [256], [0, 256]).ravel()[:num_classes]
    return (counts.astype(np.float64) / pred.size).round(6).tolist()


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
