"""Report statistics: hand-worked matrices, sklearn, a brute-force bootstrap, and properties."""

import csv
import io
import math
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, jaccard_score

from backend.services.reports import export, figures, stats
from worker.ml import metrics

NAMES = ["background", "car", "sign"]


def frame_cms(rng, n_frames: int, k: int = 3, size: int = 400, skill: float = 0.8):
    """Per-frame matrices (and the raw pixels) of a model that is right with prob. `skill`."""
    cms, truths, preds = [], [], []
    for _ in range(n_frames):
        truth = rng.integers(0, k, size)
        truth[rng.random(size) < 0.1] = 255
        pred = np.where(rng.random(size) < skill, truth, rng.integers(0, k, size))
        pred = np.where(truth == 255, rng.integers(0, k, size), pred)
        cms.append(metrics.confusion_matrix(truth, pred, k))
        truths.append(truth)
        preds.append(pred)
    return np.array(cms), np.concatenate(truths), np.concatenate(preds)


def brute_force(after, before, resamples: int, seed: int, blocks=None) -> list[dict]:
    """Reference bootstrap: one resample of whole blocks at a time, engine metric functions."""
    blocks = np.arange(len(after)) if blocks is None else np.asarray(blocks)
    members = [np.flatnonzero(blocks == b) for b in np.unique(blocks)]
    n = len(members)
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    out = []
    for drawn in draws:
        idx = np.concatenate([members[d] for d in drawn])
        a = np.sum([after[i] for i in idx], axis=0)
        row = {"after": (metrics.pixel_accuracy(a), metrics.mean_iou(a), metrics.iou_per_class(a))}
        if before is not None:
            b = np.sum([before[i] for i in idx], axis=0)
            row["before"] = (
                metrics.pixel_accuracy(b),
                metrics.mean_iou(b),
                metrics.iou_per_class(b),
            )
        out.append(row)
    return out


def reference_intervals(after, before, resamples: int, seed: int, names=NAMES, blocks=None) -> dict:
    """Percentile intervals of the brute-force resamples, shaped like stats.bootstrap's.

    Read at the expanded level for the number of blocks (checked against scipy on its own).
    """
    rows = brute_force(after, before, resamples, seed, blocks)
    n_blocks = len(after) if blocks is None else len(set(blocks))
    tail = 100 * (1 - stats.expanded_level(0.95, n_blocks)) / 2

    def pct(values):
        values = np.array(values, dtype=float)
        if not np.isfinite(values).any():
            return None
        return list(np.nanpercentile(values, [tail, 100 - tail]))

    def block(get):
        return {
            "pixel_accuracy": pct([get(r)[0] for r in rows]),
            "mean_iou": pct([get(r)[1] for r in rows]),
            "class_iou": {n: pct([get(r)[2][i] for r in rows]) for i, n in enumerate(names)},
        }

    out = {"after": block(lambda r: r["after"]), "before": None, "change": None}
    if before is not None:
        out["before"] = block(lambda r: r["before"])
        out["change"] = block(
            lambda r: tuple(a - b for a, b in zip(r["after"], r["before"], strict=True))
        )
    return out


def assert_intervals_close(got, want):
    if want is None:
        assert got is None
        return
    assert got is not None
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def assert_ci_equal(got: dict, want: dict, names=NAMES):
    for part in ("before", "after", "change"):
        if want[part] is None:
            assert got[part] is None
            continue
        for metric in ("pixel_accuracy", "mean_iou"):
            assert_intervals_close(got[part][metric], want[part][metric])
        for name in names:
            assert_intervals_close(got[part]["class_iou"][name], want[part]["class_iou"][name])


def test_scores_of_a_hand_worked_matrix():
    cm = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 0]])
    got = stats.scores(cm, NAMES)
    assert got["pixel_accuracy"] == pytest.approx(8 / 11)
    # car: TP 3, FP 1 (background predicted as car), FN 2 -> 3 / 6
    assert got["class_iou"] == {"background": pytest.approx(5 / 8), "car": 0.5, "sign": None}
    assert got["mean_iou"] == pytest.approx((5 / 8 + 0.5) / 2)


def test_scores_agree_with_sklearn_on_concatenated_pixels():
    cms, truth, pred = frame_cms(np.random.default_rng(1), 6)
    got = stats.scores(cms.sum(0), NAMES)
    labeled = truth != 255
    iou = jaccard_score(truth[labeled], pred[labeled], labels=[0, 1, 2], average=None)
    assert got["pixel_accuracy"] == pytest.approx(accuracy_score(truth[labeled], pred[labeled]))
    assert list(got["class_iou"].values()) == pytest.approx(list(iou))
    assert got["mean_iou"] == pytest.approx(iou.mean())


def test_difference_is_after_minus_before_with_na():
    after = {"pixel_accuracy": 0.9, "mean_iou": 0.6, "class_iou": {"a": 0.5, "b": None}}
    before = {"pixel_accuracy": 0.8, "mean_iou": 0.4, "class_iou": {"a": 0.2, "b": 0.1}}
    got = stats.difference(after, before)
    assert got["pixel_accuracy"] == pytest.approx(0.1)
    assert got["class_iou"] == {"a": pytest.approx(0.3), "b": None}


def test_batched_metrics_match_the_engine_per_matrix():
    rng = np.random.default_rng(2)
    stack = rng.integers(0, 50, size=(40, 4, 4))
    stack[3] = 0  # nothing labeled or predicted: everything n/a
    stack[5, 2, :] = 0
    stack[5, :, 2] = 0  # class 2 absent from truth and prediction
    acc, miou, iou = stats.batched_metrics(stack)
    for b, cm in enumerate(stack):
        np.testing.assert_equal(acc[b], metrics.pixel_accuracy(cm))
        np.testing.assert_allclose(iou[b], metrics.iou_per_class(cm), equal_nan=True)
        np.testing.assert_allclose(miou[b], metrics.mean_iou(cm), equal_nan=True)


def test_resample_weights_count_each_draw():
    weights = stats.resample_weights(7, 50, seed=3)
    draws = np.random.default_rng(3).integers(0, 7, size=(50, 7))
    assert weights.sum(axis=1).tolist() == [7] * 50
    for row, idx in zip(weights, draws, strict=True):
        assert row.tolist() == np.bincount(idx, minlength=7).tolist()


def test_bootstrap_matches_a_brute_force_reference():
    rng = np.random.default_rng(4)
    after, _, _ = frame_cms(rng, 5, skill=0.9)
    before, _, _ = frame_cms(rng, 5, skill=0.5)
    got = stats.bootstrap(after, before, NAMES, resamples=60, seed=11)
    assert_ci_equal(got, reference_intervals(after, before, 60, 11))


def test_bootstrap_in_chunks_gives_the_same_answer(monkeypatch):
    rng = np.random.default_rng(5)
    after, _, _ = frame_cms(rng, 4)
    before, _, _ = frame_cms(rng, 4, skill=0.3)
    whole = stats.bootstrap(after, before, NAMES, resamples=100, seed=1)
    monkeypatch.setattr(stats, "CHUNK_CELLS", 9 * 7)  # 7 resamples per chunk
    assert stats.bootstrap(after, before, NAMES, resamples=100, seed=1) == whole


def test_interval_contains_the_estimate_for_well_behaved_data():
    rng = np.random.default_rng(6)
    after, _, _ = frame_cms(rng, 12, skill=0.85)
    before, _, _ = frame_cms(rng, 12, skill=0.5)
    ci = stats.bootstrap(after, before, NAMES)
    point_after = stats.scores(after.sum(0), NAMES)
    change = stats.difference(point_after, stats.scores(before.sum(0), NAMES))
    for part, point in (("after", point_after), ("change", change)):
        for fig in stats.figures(NAMES):
            lo, hi = fig.pick(ci[part])
            assert lo <= fig.pick(point) <= hi
    assert ci["change"]["mean_iou"][0] > 0  # a big, consistent improvement is clearly real


def test_identical_models_give_a_zero_change_interval():
    after, _, _ = frame_cms(np.random.default_rng(7), 6)
    ci = stats.bootstrap(after, after.copy(), NAMES, resamples=200)
    assert ci["change"]["pixel_accuracy"] == [0.0, 0.0]
    assert ci["change"]["mean_iou"] == [0.0, 0.0]
    assert all(v == [0.0, 0.0] for v in ci["change"]["class_iou"].values())


def test_swapping_before_and_after_negates_the_change():
    rng = np.random.default_rng(8)
    a, _, _ = frame_cms(rng, 6, skill=0.9)
    b, _, _ = frame_cms(rng, 6, skill=0.6)
    forward = stats.bootstrap(a, b, NAMES, resamples=300)["change"]
    backward = stats.bootstrap(b, a, NAMES, resamples=300)["change"]
    for fig in stats.figures(NAMES):
        lo, hi = fig.pick(forward)
        np.testing.assert_allclose(fig.pick(backward), [-hi, -lo], atol=1e-12)


def test_a_class_absent_everywhere_is_na_and_sometimes_absent_is_ignored():
    cms = np.zeros((4, 3, 3), np.int64)
    cms[:, 0, 0] = 10
    cms[0, 1, 1] = 5  # car only in the first frame: absent from many resamples
    ci = stats.bootstrap(cms, None, NAMES, resamples=200)
    assert ci["after"]["class_iou"]["sign"] is None
    assert ci["after"]["class_iou"]["car"] == [1.0, 1.0]
    assert ci["before"] is None and ci["change"] is None


def test_bootstrap_rejects_mismatched_frames():
    cms = np.zeros((3, 2, 2), np.int64)
    with pytest.raises(ValueError):
        stats.bootstrap(cms, cms[:2], ["a", "b"])
    with pytest.raises(ValueError):
        stats.bootstrap(cms[:0], None, ["a", "b"])


@pytest.mark.parametrize(
    ("change", "ci", "n", "blocks", "expected"),
    [
        (
            0.5,
            [0.31, 0.66],
            9,
            9,
            "Sign IoU rose by 0.500 (95% CI 0.310 to 0.660): a clear improvement.",
        ),
        (
            -0.2,
            [-0.31, -0.1],
            9,
            6,
            "Sign IoU fell by 0.200 (95% CI \u22120.310 to \u22120.100): a clear decline.",
        ),
        (
            0.001,
            [-0.02, 0.03],
            9,
            5,
            "Sign IoU changed by +0.001 (95% CI \u22120.020 to +0.030): "
            "not distinguishable from no change with 9 test frames in 5 independent blocks.",
        ),
        (
            0.5,
            [0.31, 0.66],
            30,
            4,
            "Sign IoU changed by +0.500 (95% CI +0.310 to +0.660), but the 30 test frames form "
            "only 4 independent blocks, too few to tell whether the change is real (at least 5 "
            "are needed).",
        ),
        (0.0, [0.0, 0.0], 1, 1, "the 1 test frame forms 1 independent block, too few to tell"),
        (None, None, 9, 9, "Sign IoU: no change can be measured"),
    ],
)
def test_sentences_say_whether_a_change_is_clear(change, ci, n, blocks, expected):
    assert expected in stats.sentence("Sign IoU", change, ci, n, blocks)


@pytest.mark.parametrize(
    ("value", "signed", "expected"),
    [
        (0.5, False, "0.500"),
        (0.5, True, "+0.500"),
        (-0.0042, True, "\u22120.004"),
        (0.0004, True, "+<0.001"),
        (-0.0004, True, "\u2212<0.001"),
        (0.0004, False, "<0.001"),
        (0.0625, False, "0.063"),  # an exact half: away from zero, as in the browser
        (-0.0625, True, "\u22120.063"),
        (0.0, True, "0.000"),
        (-0.0, True, "0.000"),
        (float("nan"), True, "n/a"),
        (None, False, "n/a"),
    ],
)
def test_figures_keep_three_decimals_and_never_round_to_a_signed_zero(value, signed, expected):
    assert stats.fmt(value, signed) == expected


def test_a_tight_interval_around_zero_reads_as_such():
    text = stats.sentence("Car IoU", 0.0001, [-0.0003, 0.0004], 9, 9)
    assert "(95% CI \u2212<0.001 to +<0.001)" in text, text
    assert "0.00 " not in text and "0.00)" not in text


def test_sentences_without_a_base_model_report_after_only():
    cms, _, _ = frame_cms(np.random.default_rng(9), 3)
    after = stats.scores(cms.sum(0), NAMES)
    report = {
        "before": None,
        "after": after,
        "change": None,
        "ci": stats.bootstrap(cms, None, NAMES, resamples=50),
        "n_test_frames": 3,
        "n_blocks": 3,
        "block_seconds": 10.0,
    }
    lines = stats.sentences(report)
    assert "random initialisation" in lines[0]
    assert lines[1].startswith("The 95% intervals resample 3 independent blocks of the 3 test")
    assert lines[3].startswith(f"Mean IoU after fine-tuning: {stats.fmt(after['mean_iou'])}")
    assert len(lines) == 2 + 2 + len(NAMES)


def test_error_map_colours():
    truth = np.array([[0, 1, 255, 2]], np.uint8)
    before = np.array([[1, 1, 0, 0]], np.uint8)
    after = np.array([[0, 0, 0, 0]], np.uint8)
    got = figures.error_map(truth, before, after)
    colors = figures.ERROR_COLORS
    expected = ["fixed", "broken", "unlabeled", "both_wrong"]
    assert [tuple(p) for p in got[0]] == [colors[k][0] for k in expected]
    alone = figures.error_map(truth, None, after)
    assert tuple(alone[0, 0]) == colors["both_right"][0]
    assert tuple(alone[0, 1]) == colors["broken"][0]


def test_colorize_uses_class_colours_and_grey_for_unlabeled():
    got = figures.colorize(np.array([[0, 1, 255]], np.uint8), ["#000000", "#1f77ff"])
    assert [tuple(p) for p in got[0]] == [(0, 0, 0), (31, 119, 255), figures.UNLABELED_RGB]


def test_csv_has_one_row_per_figure_and_defuses_formulas():
    names = ["background", "=HYPERLINK()"]
    cms = np.zeros((2, 2, 2), np.int64)
    cms[:, 0, 0], cms[:, 1, 1], cms[:, 1, 0] = 8, 2, 1
    after = stats.scores(cms.sum(0), names)
    report = {
        "before": None,
        "after": after,
        "change": None,
        "ci": stats.bootstrap(cms, None, names, resamples=20),
        "n_test_frames": 2,
        "n_blocks": 2,
        "block_seconds": 10.0,
        "class_pixels": {"background": 16, "=HYPERLINK()": 6},
        "class_frames": {"background": 2, "=HYPERLINK()": 2},
    }
    rows = list(csv.DictReader(io.StringIO(export.csv_text(report))))
    assert [r["metric"] for r in rows] == ["pixel_accuracy", "mean_iou", "iou", "iou"]
    assert rows[3]["class"] == "'=HYPERLINK()"
    assert float(rows[2]["after"]) == pytest.approx(after["class_iou"]["background"])
    assert rows[0]["before"] == "" and rows[0]["change_ci_low"] == ""
    assert rows[0]["labeled_pixels"] == "22" and rows[3]["test_frames"] == "2"
    assert not math.isnan(float(rows[1]["after_ci_high"]))
    assert (rows[0]["verdict"], rows[0]["blocks"], rows[0]["block_seconds"]) == ("n/a", "2", "10.0")


def test_report_modules_do_not_import_torch():
    code = (
        "import sys, backend.api.reports, backend.services.reports.figures; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_compare_sentences_say_whether_b_clearly_differs_from_a():
    say = stats.compare_sentence
    assert say("Mean IoU", 0.2, [0.1, 0.3], 5, 5).endswith("+0.300): B is clearly better.")
    assert say("Mean IoU", -0.2, [-0.3, -0.1], 5, 5).startswith("Mean IoU is lower with B by 0.200")
    distinct = "B \u2212 A is +0.010 (95% CI \u22120.100 to +0.200): A and B are not distinguish"
    assert distinct in say("Mean IoU", 0.01, [-0.1, 0.2], 5, 5)
    assert "no difference can be measured" in say("Mean IoU", None, None, 5, 5)
    rng = np.random.default_rng(10)
    a, b = frame_cms(rng, 6, skill=0.4)[0], frame_cms(rng, 6, skill=0.95)[0]
    before, after = stats.scores(a.sum(0), NAMES), stats.scores(b.sum(0), NAMES)
    labels = {"before": "old net", "after": "new net"}
    lines = stats.sentences(
        {"before": before, "after": after, "change": stats.difference(after, before),
         "ci": stats.bootstrap(b, a, NAMES, resamples=200), "n_test_frames": 6, "labels": labels,
         "n_blocks": 6, "block_seconds": 10.0}
    )  # fmt: skip
    assert lines[0].startswith("A is \u201cold net\u201d and B is \u201cnew net\u201d, scored")
    assert lines[1].startswith("The 95% intervals resample 6 independent blocks")
    assert len(lines) == 2 + 2 + len(NAMES) and lines[2].endswith("B is clearly better.")
