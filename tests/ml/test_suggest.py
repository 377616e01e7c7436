"""Suggestion scoring and diversity rules: pure functions on small arrays."""

import numpy as np
import pytest

from worker.ml.diversity import select_k_center, select_time_gap
from worker.ml.uncertainty import class_weights, frame_score, pixel_uncertainty, pooled_features


def _probs(first: float, classes: int = 3, size: int = 4) -> np.ndarray:
    """size x size pixels all giving class 0 probability `first`, the rest shared."""
    rest = (1 - first) / (classes - 1)
    p = np.full((classes, size, size), rest)
    p[0] = first
    return p


def test_entropy_and_margin_range_from_certain_to_unsure():
    certain, unsure = _probs(1.0), _probs(1 / 3)
    for measure in ("entropy", "margin"):
        assert pixel_uncertainty(certain, measure).max() == pytest.approx(0, abs=1e-9)
        assert pixel_uncertainty(unsure, measure).min() == pytest.approx(1)
    with pytest.raises(ValueError, match="measure"):
        pixel_uncertainty(certain, "variance")


def test_rare_classes_weigh_more_and_an_average_pixel_weighs_one():
    weights = class_weights([900, 90, 10])
    assert weights[0] < weights[1] < weights[2]
    assert np.dot([0.9, 0.09, 0.01], weights) == pytest.approx(1)
    assert list(class_weights([0, 0, 0])) == [1, 1, 1]
    assert class_weights([1000, 0, 0])[1] == pytest.approx(class_weights([1000, 0, 0])[2])


def test_an_unsure_frame_on_a_rare_class_outranks_a_confident_one():
    weights = class_weights([900, 90, 10])
    confident = _probs(0.98)
    rare = np.zeros((3, 4, 4))
    rare[2], rare[0], rare[1] = 0.5, 0.3, 0.2  # predicted traffic sign, unsure
    common = np.zeros((3, 4, 4))
    common[0], common[1], common[2] = 0.5, 0.3, 0.2  # as unsure, but background
    scores = [frame_score(p, weights)["score"] for p in (confident, rare, common)]
    assert scores[1] > scores[2] > scores[0]
    parts = frame_score(rare, weights)
    assert parts["rare_weight"] == pytest.approx(weights[2])
    assert parts["score"] == pytest.approx(parts["uncertainty"] * weights[2])


def test_time_gap_skips_neighbours_of_labeled_and_chosen_frames():
    places = [(("v",), float(t)) for t in range(6)] + [None]
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.1]
    picks = select_time_gap(scores, places, [(("v",), 5.0)], 3, gap_s=2.0)
    # 1 is within 2 s of 0, 4 of the labeled frame at 5 s; a frame with no place is never near.
    assert [p.index for p in picks] == [0, 2, 6]
    more = select_time_gap(scores, places, [(("v",), 5.0)], 5, gap_s=2.0)
    assert [p.index for p in more] == [0, 2, 6, 1, 3]
    assert "within 2 s" in more[-1].reason
    other = select_time_gap([0.9, 0.8], [(("a",), 0.0), (("b",), 0.0)], [], 2, gap_s=5)
    assert [p.index for p in other] == [0, 1]  # other sequences are not neighbours


def test_k_center_prefers_a_frame_unlike_the_labeled_ones():
    features = np.array([[0.0, 0.0], [0.05, 0.0], [1.0, 1.0]])
    picks = select_k_center([1.0, 1.0, 0.6], features, np.array([[0.0, 0.0]]), 2)
    assert [p.index for p in picks] == [2, 1]
    assert [p.index for p in select_k_center([0.2, 0.9, 0.5], features, np.zeros((0, 2)), 1)] == [1]


def test_pooled_features_follow_the_layout():
    p = np.zeros((2, 4, 4))
    p[0, :, :2], p[1, :, 2:] = 1, 1
    feats = pooled_features(p, grid=2).reshape(4, 2)
    assert feats.tolist() == [[1, 0], [0, 1], [1, 0], [0, 1]]
