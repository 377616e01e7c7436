"""Report statistics: metrics of confusion matrices, paired block-bootstrap intervals, wording.

Pure numpy. A class absent from both ground truth and prediction has no IoU: NaN inside this
module, None (shown as n/a) in what it returns.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from backend.services.reports.resampling import block_weights, expanded_level, resample_weights
from worker.ml.metrics import iou_per_class, mean_iou, pixel_accuracy

__all__ = ["block_weights", "expanded_level", "resample_weights"]

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95
# Fewer independent blocks than this give no verdict: a percentile interval over a handful of
# blocks is far too narrow (with 4 blocks there are only 35 distinct resamples).
MIN_BLOCKS = 5
# Summed resampled matrices are built a chunk at a time so memory stays bounded for many classes.
CHUNK_CELLS = 4_000_000


def _opt(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def scores(cm: np.ndarray, class_names: list[str]) -> dict:
    """Pixel accuracy, mean IoU and IoU per class name of one confusion matrix (None = n/a)."""
    cm = np.asarray(cm, dtype=np.int64)
    iou = iou_per_class(cm)
    return {
        "pixel_accuracy": _opt(pixel_accuracy(cm)),
        "mean_iou": _opt(mean_iou(cm)),
        "class_iou": {name: _opt(v) for name, v in zip(class_names, iou, strict=True)},
    }


def difference(after: dict, before: dict) -> dict:
    """after - before for every figure of two `scores` results (None where either is n/a)."""

    def sub(a, b):
        return None if a is None or b is None else a - b

    return {
        "pixel_accuracy": sub(after["pixel_accuracy"], before["pixel_accuracy"]),
        "mean_iou": sub(after["mean_iou"], before["mean_iou"]),
        "class_iou": {n: sub(v, before["class_iou"][n]) for n, v in after["class_iou"].items()},
    }


def batched_metrics(cms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixel accuracy (B,), mean IoU (B,), IoU (B, K)) of a stack of B confusion matrices."""
    cms = np.asarray(cms, dtype=np.float64)
    tp = np.diagonal(cms, axis1=1, axis2=2)
    total = cms.sum(axis=(1, 2))
    union = cms.sum(axis=1) + cms.sum(axis=2) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(total > 0, tp.sum(axis=1) / total, np.nan)
        iou = np.where(union > 0, tp / union, np.nan)
    present = np.isfinite(iou)
    counts = present.sum(axis=1)
    miou = np.full(len(cms), np.nan)
    np.divide(np.where(present, iou, 0.0).sum(axis=1), counts, out=miou, where=counts > 0)
    return acc, miou, iou


def _resampled(frame_cms: np.ndarray, weights: np.ndarray):
    """Metrics of every resample: the weighted sum of the per-frame matrices."""
    k = frame_cms.shape[-1]
    step = max(1, CHUNK_CELLS // (k * k))
    # Float64 goes through BLAS (integer matmul does not) and is exact for counts below 2**53.
    cms, w = frame_cms.astype(np.float64), weights.astype(np.float64)
    parts = [
        batched_metrics(np.tensordot(w[i : i + step], cms, axes=1))
        for i in range(0, len(weights), step)
    ]
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def interval(samples: np.ndarray, level: float = LEVEL) -> list[float] | None:
    """Percentile interval of the finite samples; None when there are none."""
    samples = np.asarray(samples, dtype=np.float64)
    if not np.isfinite(samples).any():
        return None
    tail = 100 * (1 - level) / 2
    lo, hi = np.nanpercentile(samples, [tail, 100 - tail])
    return [float(lo), float(hi)]


def _intervals(acc, miou, iou, class_names, level: float | None) -> dict:
    if level is None:
        return {"pixel_accuracy": None, "mean_iou": None, "class_iou": dict.fromkeys(class_names)}
    return {
        "pixel_accuracy": interval(acc, level),
        "mean_iou": interval(miou, level),
        "class_iou": {n: interval(iou[:, i], level) for i, n in enumerate(class_names)},
    }


def bootstrap(
    after_frames,
    before_frames,
    class_names: list[str],
    blocks=None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> dict:
    """Paired percentile intervals over blocks of test frames for after, before, after - before.

    blocks gives each frame's block id (None: every frame its own block). Both models are scored
    on the same resampled blocks, so the change interval reflects the paired difference. The
    percentiles are read at the expanded level for that many blocks (see resampling); a single
    block gives no intervals (all None). before_frames may be None (no base model): then before
    and change are None.
    """
    after_cms = np.asarray(after_frames, dtype=np.int64)
    if after_cms.ndim != 3 or not len(after_cms):
        raise ValueError("bootstrap needs at least one per-frame confusion matrix")
    if blocks is None:
        blocks = np.arange(len(after_cms))
    if len(blocks) != len(after_cms):
        raise ValueError("blocks needs one block id per frame")
    weights = block_weights(blocks, resamples, seed)
    n_blocks = len(set(np.asarray(blocks).tolist()))
    # One block: every resample holds the same frames, so there is no spread to read.
    level = expanded_level(level, n_blocks) if n_blocks > 1 else None
    after = _resampled(after_cms, weights)
    out = {"after": _intervals(*after, class_names, level), "before": None, "change": None}
    if before_frames is not None:
        before_cms = np.asarray(before_frames, dtype=np.int64)
        if before_cms.shape != after_cms.shape:
            raise ValueError("before and after must score the same frames")
        before = _resampled(before_cms, weights)
        change = tuple(a - b for a, b in zip(after, before, strict=True))
        out["before"] = _intervals(*before, class_names, level)
        out["change"] = _intervals(*change, class_names, level)
    return out


@dataclass(frozen=True)
class Figure:
    """One reported number: its label and where it lives in the report's dictionaries."""

    label: str
    metric: str
    class_name: str | None = None

    def pick(self, table: dict | None):
        """This figure's entry in a scores-shaped dict (None when the dict is None)."""
        if table is None:
            return None
        value = table[self.metric]
        return value[self.class_name] if self.class_name is not None else value


def figures(class_names: list[str]) -> list[Figure]:
    """Every figure of the report in table order: pixel accuracy, mean IoU, IoU per class."""
    per_class = [Figure(f"{n[:1].upper()}{n[1:]} IoU", "class_iou", n) for n in class_names]
    return [Figure("Pixel accuracy", "pixel_accuracy"), Figure("Mean IoU", "mean_iou"), *per_class]


def fmt(value: float | None, signed: bool = False) -> str:
    """Three decimals with a true minus sign, as in the tables; 'n/a' for None or NaN.

    A value too small for three decimals is '<0.001' with its sign, so a tight interval around
    zero reads '\u2212<0.001 to +<0.001', not '\u22120.000 to +0.000'; zero itself is '0.000'.
    """
    if value is None or np.isnan(value):
        return "n/a"
    if value == 0:
        return "0.000"
    # Halves round away from zero, as the page's toFixed does (0.0625 -> 0.063 on both).
    magnitude = str(Decimal(abs(value)).quantize(Decimal("0.001"), ROUND_HALF_UP))
    if magnitude == "0.000":
        magnitude = "<0.001"
    sign = "\u2212" if value < 0 else "+" if signed else ""
    return sign + magnitude


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' if n != 1 else ''}"


def evidence(n_frames: int, n_blocks: int, noun: str = "test frame") -> str:
    """'25 test frames in 7 independent blocks': what an interval rests on."""
    return f"{_count(n_frames, noun)} in {_count(n_blocks, 'independent block')}"


def _span(ci: list[float] | None) -> str:
    return f" (95% CI {fmt(ci[0], True)} to {fmt(ci[1], True)})" if ci else ""


def _too_few(n_frames: int, n_blocks: int, what: str, noun: str = "test frame") -> str:
    form = "forms" if n_frames == 1 else "form"
    only = "only " if n_blocks > 1 else ""
    return (
        f"but the {_count(n_frames, noun)} {form} {only}"
        f"{_count(n_blocks, 'independent block')}, too few to tell {what} "
        f"(at least {MIN_BLOCKS} are needed)."
    )


def sentence(
    label: str,
    change: float | None,
    ci: list[float] | None,
    n_frames: int,
    n_blocks: int,
    noun: str = "test frame",
) -> str:
    """Whether a change is clearly real: its 95% interval excludes zero, over enough blocks."""
    if change is not None and n_blocks < MIN_BLOCKS:
        return f"{label} changed by {fmt(change, True)}{_span(ci)}, " + _too_few(
            n_frames, n_blocks, "whether the change is real", noun
        )
    if change is None or ci is None:
        return f"{label}: no change can be measured (n/a before or after on the {noun}s)."
    lo, hi = ci
    if lo > 0:
        return (
            f"{label} rose by {fmt(change)} (95% CI {fmt(lo)} to {fmt(hi)}): a clear improvement."
        )
    if hi < 0:
        return f"{label} fell by {fmt(-change)} (95% CI {fmt(lo)} to {fmt(hi)}): a clear decline."
    return (
        f"{label} changed by {fmt(change, True)} (95% CI {fmt(lo, True)} to {fmt(hi, True)}): "
        f"not distinguishable from no change with {evidence(n_frames, n_blocks, noun)}."
    )


def compare_sentence(
    label: str, difference: float | None, ci: list[float] | None, n_frames: int, n_blocks: int
) -> str:
    """Whether model B (after) clearly differs from model A (before): the interval excludes 0."""
    if difference is not None and n_blocks < MIN_BLOCKS:
        return f"{label}: B \u2212 A is {fmt(difference, True)}{_span(ci)}, " + _too_few(
            n_frames, n_blocks, "A and B apart"
        )
    if difference is None or ci is None:
        return f"{label}: no difference can be measured (n/a for A or B on the test frames)."
    lo, hi = ci
    span = f"(95% CI {fmt(lo, True)} to {fmt(hi, True)})"
    if lo > 0:
        return f"{label} is higher with B by {fmt(difference)} {span}: B is clearly better."
    if hi < 0:
        return f"{label} is lower with B by {fmt(-difference)} {span}: B is clearly worse."
    return (
        f"{label}: B \u2212 A is {fmt(difference, True)} {span}: "
        f"A and B are not distinguishable with {evidence(n_frames, n_blocks)}."
    )


def resampling_sentence(
    n_frames: int, n_blocks: int, block_seconds: float, noun: str = "test frame"
) -> str:
    """What the intervals rest on: how many blocks, and the block rule."""
    frames = _count(n_frames, noun)
    few = f" With fewer than {MIN_BLOCKS} blocks no change is called clear."
    if n_blocks == 1:
        return (
            f"The {frames} {'forms' if n_frames == 1 else 'form'} a single independent block: "
            "one block shows no spread, so there are no intervals and no change is called clear."
        )
    if block_seconds <= 0:
        return (
            f"The 95% intervals resample the {frames} one by one (block length 0: the frames "
            "are taken to be independent)." + (few if n_blocks < MIN_BLOCKS else "")
        )
    return (
        f"The 95% intervals resample {_count(n_blocks, 'independent block')} of the {frames}, "
        f"not single frames: frames within the same {block_seconds:g} s stretch of one video or "
        "file-name sequence are drawn together, because neighbouring frames of a drive err alike."
        + (few if n_blocks < MIN_BLOCKS else "")
    )


def sentences(report: dict) -> list[str]:
    """What the intervals rest on, then one plain sentence per figure: which changes are real."""
    names = list(report["after"]["class_iou"])
    n, blocks = report["n_test_frames"], report["n_blocks"]
    noun = report.get("frame_noun", "test frame")
    basis = resampling_sentence(n, blocks, report["block_seconds"], noun)
    if report.get("labels"):  # a comparison of two models: A is "before", B is "after"
        labels = report["labels"]
        intro = (
            f"A is \u201c{labels['before']}\u201d and B is \u201c{labels['after']}\u201d, "
            f"scored on the same {_count(n, 'test frame')}."
        )
        return [intro, basis] + [
            compare_sentence(
                fig.label, fig.pick(report["change"]), fig.pick(report["ci"]["change"]), n, blocks
            )
            for fig in figures(names)
        ]
    if report["before"] is None:
        lines = ["There is no 'before': the model was trained from random initialisation.", basis]
        for fig in figures(names):
            ci = fig.pick(report["ci"]["after"])
            value = fig.pick(report["after"])
            span = f" (95% CI {fmt(ci[0])} to {fmt(ci[1])})" if ci else ""
            lines.append(f"{fig.label} after fine-tuning: {fmt(value)}{span}.")
        return lines
    return [basis] + [
        sentence(
            fig.label, fig.pick(report["change"]), fig.pick(report["ci"]["change"]), n, blocks, noun
        )
        for fig in figures(names)
    ]
