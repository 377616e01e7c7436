"""Metrics against hand-worked cases and an independent implementation (scikit-learn)."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import jaccard_score, precision_score, recall_score

from worker.ml import metrics

from .conftest import REPO

GT = np.array([[0, 0, 1], [1, 2, 255]], np.uint8)
PRED = np.array([[0, 1, 1], [1, 0, 2]], np.uint8)


def test_hand_worked_case() -> None:
    cm = metrics.confusion_matrix(GT, PRED, 3)
    # The unlabeled pixel (predicted 2) is not counted anywhere.
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert metrics.pixel_accuracy(cm) == pytest.approx(3 / 5)
    np.testing.assert_allclose(metrics.iou_per_class(cm), [1 / 3, 2 / 3, 0.0])
    assert metrics.mean_iou(cm) == pytest.approx(1 / 3)
    np.testing.assert_allclose(metrics.precision_per_class(cm), [1 / 2, 2 / 3, np.nan])
    np.testing.assert_allclose(metrics.recall_per_class(cm), [1 / 2, 1.0, 0.0])


def test_absent_class_is_na_and_left_out_of_the_mean() -> None:
    cm = metrics.confusion_matrix(GT, PRED, 4)
    iou = metrics.iou_per_class(cm)
    assert np.isnan(iou[3])
    assert metrics.mean_iou(cm) == pytest.approx(1 / 3)
    summary = metrics.summarize(cm, ["bg", "car", "sign", "bus"])
    assert summary["per_class"][3] == {
        "index": 3,
        "name": "bus",
        "iou": None,
        "precision": None,
        "recall": None,
        "gt_pixels": 0,
        "pred_pixels": 0,
    }
    assert summary["per_class"][2]["iou"] == 0.0  # present in gt, never right: 0, not n/a
    assert summary["mean_iou"] == pytest.approx(1 / 3)
    assert summary["confusion_matrix"][1] == [0, 2, 0, 0]


def test_nothing_labeled_gives_nan() -> None:
    cm = metrics.confusion_matrix(np.full((2, 2), 255, np.uint8), np.zeros((2, 2), np.uint8), 3)
    assert cm.sum() == 0
    assert np.isnan(metrics.pixel_accuracy(cm)) and np.isnan(metrics.mean_iou(cm))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 5
    frames = []
    for _ in range(3):
        gt = rng.integers(0, k, (37, 53)).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = np.where(rng.random(gt.shape) < 0.6, gt % k, rng.integers(0, k, gt.shape))
        pred = np.where(gt == 255, rng.integers(0, k, gt.shape), pred).astype(np.uint8)
        gt[gt == 4] = 255  # class 4 never in the ground truth, but predicted
        frames.append((gt, pred))

    total = None
    for gt, pred in frames:
        total = metrics.accumulate(total, gt, pred, k)
    y_true = np.concatenate([g[g != 255] for g, _ in frames])
    y_pred = np.concatenate([p[g != 255] for g, p in frames])
    labels = list(range(k))

    np.testing.assert_array_equal(total, sk_confusion(y_true, y_pred, labels=labels))
    np.testing.assert_allclose(
        metrics.iou_per_class(total), jaccard_score(y_true, y_pred, labels=labels, average=None)
    )
    np.testing.assert_allclose(
        metrics.precision_per_class(total),
        precision_score(y_true, y_pred, labels=labels, average=None),
    )
    recall = metrics.recall_per_class(total)
    assert np.isnan(recall[4])
    np.testing.assert_allclose(
        recall[:4], recall_score(y_true, y_pred, labels=labels[:4], average=None)
    )
    assert metrics.pixel_accuracy(total) == pytest.approx(np.mean(y_true == y_pred))


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="class ids outside"):
        metrics.confusion_matrix(np.array([[7]], np.uint8), np.array([[0]], np.uint8), 3)
    with pytest.raises(ValueError, match="class ids outside"):
        metrics.confusion_matrix(np.array([[0]], np.uint8), np.array([[3]], np.uint8), 3)
    with pytest.raises(ValueError, match="shape"):
        metrics.confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), 3)


def test_metrics_module_does_not_import_torch() -> None:
    code = "import sys, worker.ml.metrics; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
