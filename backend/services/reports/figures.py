"""Report figures drawn server-side with matplotlib (Agg canvas, no pyplot global state)."""

import io

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from PIL import Image

from backend.services.reports.source import TestFrame
from backend.services.reports.stats import fmt
from worker.ml.metrics import mean_iou

UNLABELED = 255
UNLABELED_RGB = (128, 128, 128)
PANEL_WIDTH = 640  # frames are shrunk to this before drawing: the figure shows them small anyway
# Error map colours: only the pixels where the two models disagree about being right stand out.
ERROR_COLORS = {
    "fixed": ((46, 160, 67), "right after, wrong before"),
    "broken": ((215, 48, 39), "wrong after, right before"),
    "both_right": ((20, 20, 20), "right before and after"),
    "both_wrong": ((120, 70, 20), "wrong before and after"),
    "unlabeled": (UNLABELED_RGB, "unlabeled"),
}
# The same regions in a comparison of two models: A is the first (before), B the second (after).
COMPARE_ERROR_LABELS = {
    "fixed": "right with B, wrong with A",
    "broken": "wrong with B, right with A",
    "both_wrong": "wrong with both",
}
SIDE_TITLE_CHARS = 28
ANNOTATE_MAX_CLASSES = 12
LEGEND_COLUMNS = 7


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def hex_rgb(color: str) -> tuple[int, int, int]:
    """(r, g, b) of '#rrggbb'."""
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def colorize(labels: np.ndarray, colors: list[str]) -> np.ndarray:
    """RGB picture of a class-id map; unlabeled and unknown ids are grey."""
    table = np.tile(np.array(UNLABELED_RGB, np.uint8), (256, 1))
    for i, color in enumerate(colors[:255]):
        table[i] = hex_rgb(color)
    return table[labels]


def error_map(truth: np.ndarray, before: np.ndarray | None, after: np.ndarray) -> np.ndarray:
    """RGB map of where fine-tuning fixed or broke pixels (without before: right/wrong after)."""
    right_after = after == truth
    if before is None:
        regions = {"both_right": right_after, "broken": ~right_after}
    else:
        right_before = before == truth
        regions = {
            "both_right": right_after & right_before,
            "both_wrong": ~right_after & ~right_before,
            "fixed": right_after & ~right_before,
            "broken": ~right_after & right_before,
        }
    # Unlabeled goes last: it overrides whatever the models did there.
    regions["unlabeled"] = truth == UNLABELED
    out = np.zeros(truth.shape + (3,), np.uint8)
    for name, where in regions.items():
        out[where] = ERROR_COLORS[name][0]
    return out


def plain(text: str) -> str:
    """User text (names) drawn literally: a '$' pair would otherwise start matplotlib math."""
    return str(text).replace("$", r"\$")


def _legend_patch(rgb, label: str) -> Patch:
    return Patch(color=np.array(rgb) / 255, label=plain(label))


def _shrink(picture: np.ndarray) -> np.ndarray:
    """Fit a picture to PANEL_WIDTH; nearest neighbour keeps label colours exact."""
    h, w = picture.shape[:2]
    if w <= PANEL_WIDTH:
        return picture
    size = (PANEL_WIDTH, max(1, round(h * PANEL_WIDTH / w)))
    return np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.NEAREST))


def _frame_miou(cm: np.ndarray | None) -> str:
    return "" if cm is None else f" (mIoU {fmt(mean_iou(cm))})"


def _error_legend(before_present: bool, compare: bool) -> list[Patch]:
    if not before_present:
        return [_legend_patch(ERROR_COLORS["broken"][0], "wrong")]
    regions = ("fixed", "broken", "both_wrong")
    if compare:
        return [_legend_patch(ERROR_COLORS[k][0], COMPARE_ERROR_LABELS[k]) for k in regions]
    return [_legend_patch(*ERROR_COLORS[k]) for k in regions]


def _short(title: str) -> str:
    return title if len(title) <= SIDE_TITLE_CHARS else title[: SIDE_TITLE_CHARS - 1] + "\u2026"


def frame_png(
    frame: TestFrame, names: list[str], colors: list[str], sides: tuple[str, str] | None = None
) -> bytes:
    """Image, ground truth, before, after and error map of one test frame (seed study Fig. 4).

    sides: panel titles of a comparison of two models (A, B) instead of before and after.
    """
    before_title, after_title = (_short(t) for t in sides) if sides else ("before", "after")
    panels = [
        ("image", frame.image),
        ("ground truth", colorize(frame.truth, colors) if frame.truth is not None else None),
    ]
    if frame.before is not None:
        title = f"{before_title}{_frame_miou(frame.before_cm)}"
        panels.append((title, colorize(frame.before, colors)))
    panels.append((f"{after_title}{_frame_miou(frame.after_cm)}", colorize(frame.after, colors)))
    if frame.truth is not None:
        panels.append(("error map", error_map(frame.truth, frame.before, frame.after)))
    handles = [_legend_patch(hex_rgb(c), n) for n, c in zip(names, colors, strict=True)]
    if frame.truth is not None:
        handles += _error_legend(frame.before is not None, sides is not None)
    handles.append(_legend_patch(UNLABELED_RGB, "unlabeled"))
    legend_rows = -(-len(handles) // LEGEND_COLUMNS)
    h, w = frame.after.shape[:2]
    # Inches: panels, then the title above and the legend rows below them.
    height = 3.2 * h / w + 0.7 + 0.25 * legend_rows
    fig = Figure(figsize=(3.2 * len(panels), height))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, picture) in zip(axes, panels, strict=True):
        if picture is None:
            # A frame or mask deleted since the job ran: keep the layout, say what is missing.
            picture = np.full((h, w, 3), 235, np.uint8)
            ax.text(0.5, 0.5, "no longer stored", ha="center", transform=ax.transAxes)
        ax.imshow(_shrink(np.ascontiguousarray(picture)), interpolation="nearest")
        ax.set_title(plain(title), fontsize=9)
        ax.set_axis_off()
    fig.legend(handles=handles, loc="lower center", ncol=LEGEND_COLUMNS, fontsize=8)
    fig.suptitle(plain(frame.name), fontsize=10)
    bottom = (0.1 + 0.25 * legend_rows) / height
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.6 / height, bottom=bottom, wspace=0.04)
    return _png(fig)


def _confusion_axes(ax, cm: np.ndarray, names: list[str], title: str) -> None:
    rows = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(rows > 0, cm / np.maximum(rows, 1), np.nan)
    cmap = colormaps["Blues"].with_extremes(bad="#eeeeee")  # grey: class absent from the truth
    ax.imshow(np.ma.masked_invalid(share), cmap=cmap, vmin=0, vmax=1)
    k = len(names)
    labels = [plain(n) for n in names]
    ax.set_xticks(range(k), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    ax.set_title(plain(title), fontsize=10)
    if k > ANNOTATE_MAX_CLASSES:
        return
    for i in range(k):
        for j in range(k):
            value = share[i, j]
            text = "n/a" if np.isnan(value) else f"{value:.2f}"
            dark = not np.isnan(value) and value > 0.6
            ax.text(
                j,
                i,
                f"{text}\n({cm[i, j]:,})",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )


def confusion_png(
    after: np.ndarray, before: np.ndarray | None, names: list[str], titles: tuple[str, str]
) -> bytes:
    """Row-normalised confusion matrices (rows = ground truth) with pixel counts, side by side."""
    pairs = [(after, titles[1])]
    if before is not None:
        pairs.insert(0, (before, titles[0]))
    side = 1.6 + 0.55 * len(names)
    fig = Figure(figsize=(side * len(pairs) + 1.2, side + 0.6))
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (cm, title) in zip(axes, pairs, strict=True):
        _confusion_axes(ax, np.asarray(cm, dtype=np.int64), names, title)
    fig.tight_layout()
    return _png(fig)


def _series(history: list[dict], key: str) -> tuple[list, list]:
    points = [(h["iteration"], h[key]) for h in history if h.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _curve_figure(title: str, ylabel: str) -> tuple[Figure, object]:
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, ax


def loss_png(history: list[dict]) -> bytes:
    """Train and validation loss over iterations."""
    fig, ax = _curve_figure("Loss", "cross-entropy")
    for key, label, style in (("train_loss", "train", "-"), ("val_loss", "validation", "o-")):
        x, y = _series(history, key)
        if x:
            ax.plot(x, y, style, label=label, markersize=3)
    if ax.lines:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no losses recorded", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return _png(fig)


def miou_png(history: list[dict], best_iteration: int | None) -> bytes:
    """Validation mean IoU over iterations with the kept (best) iteration marked."""
    fig, ax = _curve_figure("Validation mean IoU", "mean IoU")
    x, y = _series(history, "val_miou")
    if x:
        ax.plot(x, y, "o-", markersize=3, label="validation mean IoU")
        best = dict(zip(x, y, strict=True)).get(best_iteration)
        if best is not None:
            ax.plot(
                [best_iteration],
                [best],
                "*",
                markersize=14,
                color="#d62728",
                label=f"best: {best:.3f} at iteration {best_iteration}",
            )
        ax.set_ylim(0, 1)
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no validation recorded", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return _png(fig)
