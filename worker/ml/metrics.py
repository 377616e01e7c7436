"""Segmentation metrics from a confusion matrix (rows = ground truth, columns = prediction).

Pure numpy functions. A class absent from both ground truth and prediction has no IoU (NaN,
shown as n/a) and is left out of the mean; 255 in the ground truth is unlabeled and ignored.
"""

import numpy as np

IGNORE_INDEX = 255


def confusion_matrix(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """Count (gt, pred) pixel pairs into a num_classes x num_classes int64 matrix."""
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    valid = gt != ignore_index
    g = gt[valid].astype(np.int64)
    p = pred[valid].astype(np.int64)
    for what, values in (("ground truth", g), ("prediction", p)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{what} has class ids outside 0..{num_classes - 1} "
                f"(and {ignore_index} = unlabeled)"
            )
    counts = np.bincount(g * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def accumulate(
    total: np.ndarray | None, gt: np.ndarray, pred: np.ndarray, num_classes: int
) -> np.ndarray:
    """Return total + the confusion matrix of one frame (total may be None)."""
    cm = confusion_matrix(gt, pred, num_classes)
    return cm if total is None else total + cm


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Elementwise num/den with NaN where den is 0."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def pixel_accuracy(cm: np.ndarray) -> float:
    """Correct labeled pixels / labeled pixels (NaN when nothing is labeled)."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """TP / (TP + FP + FN) per class; NaN for classes absent from both gt and prediction."""
    tp = np.diag(cm).astype(np.float64)
    return _ratio(tp, cm.sum(0) + cm.sum(1) - tp)


def mean_iou(cm: np.ndarray) -> float:
    """Mean IoU over classes that occur in the ground truth or the prediction."""
    iou = iou_per_class(cm)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


def precision_per_class(cm: np.ndarray) -> np.ndarray:
    """TP / predicted pixels per class; NaN where the class was never predicted."""
    return _ratio(np.diag(cm).astype(np.float64), cm.sum(0))


def recall_per_class(cm: np.ndarray) -> np.ndarray:
    """TP / ground-truth pixels per class; NaN where the class is absent from the ground truth."""
    return _ratio(np.diag(cm).astype(np.float64), cm.sum(1))


def _json_float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def summarize(cm: np.ndarray, class_names: list[str] | None = None) -> dict:
    """JSON-ready pixel accuracy, mean IoU, per-class IoU/precision/recall (None = n/a)."""
    k = cm.shape[0]
    names = class_names or [str(i) for i in range(k)]
    iou, precision, recall = iou_per_class(cm), precision_per_class(cm), recall_per_class(cm)
    return {
        "pixel_accuracy": _json_float(pixel_accuracy(cm)),
        "mean_iou": _json_float(mean_iou(cm)),
        "per_class": [
            {
                "index": i,
                "name": names[i],
                "iou": _json_float(iou[i]),
                "precision": _json_float(precision[i]),
                "recall": _json_float(recall[i]),
                "gt_pixels": int(cm[i].sum()),
                "pred_pixels": int(cm[:, i].sum()),
            }
            for i in range(k)
        ],
        "confusion_matrix": cm.tolist(),
    }
