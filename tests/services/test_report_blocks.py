"""Block assignment, block resampling, the expanded level, and honest verdicts on few blocks."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from backend.services.reports import blocks, export, stats
from backend.services.reports.blocks import FrameFacts, assign_blocks, name_sequence
from tests.services.test_reports import NAMES, assert_ci_equal, frame_cms, reference_intervals


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("0001TP_006690.png", ("0001TP", 6690)),
        ("train/0016E5_07959.png", ("0016E5", 7959)),
        ("0006R0_f01080.png", ("0006R0_f", 1080)),
        ("leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png", ("aachen_000000", 19)),
        ("C:\\drives\\run-2\\cam_000123.jpg", ("cam", 123)),
        ("000123.png", ("", 123)),
        ("img_0001_v2.png", ("img", 1)),
        ("frame_7.jpg", ("frame", 7)),
        ("street.png", None),
        ("", None),
        (None, None),
    ],
)
def test_file_names_give_sequence_and_frame_number(name, expected):
    assert name_sequence(name) == expected


def test_video_frames_are_cut_into_stretches_of_time():
    frames = [
        FrameFacts(video_id=1, timestamp_s=t, index=round(30 * t))
        for t in (5.0, 5.5, 14.9, 15.0, 40.0)
    ] + [FrameFacts(video_id=2, timestamp_s=t) for t in (5.0, 6.0)]
    # Blocks start at each video's first test frame: [5, 15), [15, 25), [35, 45) in video 1.
    assert assign_blocks(frames, 10.0) == [0, 0, 0, 1, 2, 3, 3]
    assert assign_blocks(frames, 1.0) == [0, 0, 1, 2, 3, 4, 5]
    # No timestamp: the frame index at the frame rate (index 300 at 30 fps is 10 s).
    by_index = [FrameFacts(video_id=3, index=i) for i in (0, 150, 299, 300)]
    assert assign_blocks(by_index, 10.0) == [0, 0, 0, 1]
    assert assign_blocks(by_index, 10.0, frame_rate=15.0) == [0, 1, 1, 2]


def test_camvid_names_make_sequences_ordered_by_their_number():
    names = [
        "0001TP_006690.png",  # 1 Hz drive: 30 frame numbers per second
        "0016E5_07959.png",
        "0001TP_006720.png",
        "0016E5_07961.png",
        "0001TP_006990.png",  # 10 s after the first 0001TP frame
        "0016E5_08259.png",  # 10 s after the first 0016E5 frame
        "0001TP_007290.png",
    ]
    frames = [FrameFacts(source_name=n) for n in names]
    assert assign_blocks(frames, 10.0) == [0, 1, 0, 1, 2, 3, 4]
    # Order within the list does not matter, only the numbers do.
    shuffled = [frames[i] for i in (6, 4, 2, 0)]
    assert assign_blocks(shuffled, 10.0) == [0, 1, 2, 2]


def test_names_without_a_number_are_blocks_of_their_own():
    frames = [FrameFacts(source_name=n) for n in ("street.png", "street.png", "road.jpg")]
    frames.append(FrameFacts())
    assert assign_blocks(frames, 10.0) == [0, 1, 2, 3]
    # Bare numbers (an extracted video) are one sequence.
    numbered = [FrameFacts(source_name=f"{n:06d}.png") for n in (1, 2, 400)]
    assert assign_blocks(numbered, 10.0) == [0, 0, 1]


def test_mixed_frames_and_timestamps_of_imported_frames():
    frames = [
        FrameFacts(video_id=7, timestamp_s=0.0, index=0, source_name="0001TP_000001.png"),
        FrameFacts(source_name="0001TP_000002.png"),
        FrameFacts(source_name="drive_000000.png", timestamp_s=0.0),
        FrameFacts(source_name="drive_000001.png", timestamp_s=12.0),  # the timestamp wins
        FrameFacts(video_id=7, timestamp_s=3.0, index=90),
        FrameFacts(source_name="notes.png"),
        FrameFacts(source_name="0001TP_000100.png"),
    ]
    # A video frame goes by its video, whatever its name; names make their own sequences.
    assert assign_blocks(frames, 10.0) == [0, 1, 2, 3, 0, 4, 1]
    assert assign_blocks(frames, 0.0) == list(range(len(frames)))
    assert blocks.count_blocks(assign_blocks(frames, 10.0)) == 5
    for bad in ({"block_seconds": -1.0}, {"block_seconds": 1.0, "frame_rate": 0.0}):
        with pytest.raises(ValueError):
            assign_blocks(frames, **bad)


def test_block_weights_draw_whole_blocks():
    ids = [0, 0, 0, 1, 2, 2, 3]
    weights = stats.block_weights(ids, 300, seed=4)
    assert weights.shape == (300, 7)
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 1] == weights[:, 2]).all()
    assert (weights[:, 4] == weights[:, 5]).all()
    per_block = weights[:, [0, 3, 4, 6]]
    assert (per_block.sum(axis=1) == 4).all()  # each resample draws as many blocks as there are
    assert (weights[:, 0] != weights[:, 3]).any()
    singles = stats.block_weights(np.arange(5), 50, seed=2)
    assert np.array_equal(singles, stats.resample_weights(5, 50, seed=2))
    with pytest.raises(ValueError):
        stats.block_weights([], 10, seed=0)


def test_block_bootstrap_matches_a_brute_force_reference():
    rng = np.random.default_rng(21)
    after, _, _ = frame_cms(rng, 9, skill=0.9)
    before, _, _ = frame_cms(rng, 9, skill=0.6)
    ids = [0, 0, 1, 1, 1, 2, 3, 3, 4]
    got = stats.bootstrap(after, before, NAMES, ids, resamples=80, seed=5)
    assert_ci_equal(got, reference_intervals(after, before, 80, 5, NAMES, ids))
    with pytest.raises(ValueError):
        stats.bootstrap(after, before, NAMES, ids[:-1])


@pytest.mark.parametrize("n_blocks", [5, 6, 8, 20, 100])
def test_expanded_level_agrees_with_student_t(n_blocks):
    dof = n_blocks - 1
    t = scipy_stats.t.ppf(0.975, dof)
    want = 2 * scipy_stats.norm.cdf(np.sqrt(n_blocks / dof) * t) - 1
    got = stats.expanded_level(0.95, n_blocks)
    assert (1 - got) == pytest.approx(1 - want, rel=0.02)
    assert 0.95 < got < stats.expanded_level(0.95, n_blocks - 1)


def test_expanded_level_below_five_blocks_reads_the_extremes():
    assert stats.expanded_level(0.95, 4) > 0.998 and stats.expanded_level(0.95, 2) > 0.9999
    assert stats.expanded_level(0.95, 1) == 0.95


def _report(n_blocks: int) -> dict:
    """A report whose intervals all exclude zero by far, resting on n_blocks blocks."""
    rng = np.random.default_rng(3)
    a, b = frame_cms(rng, 8, skill=0.3)[0], frame_cms(rng, 8, skill=0.95)[0]
    before, after = stats.scores(a.sum(0), NAMES), stats.scores(b.sum(0), NAMES)
    return {
        "before": before,
        "after": after,
        "change": stats.difference(after, before),
        "ci": stats.bootstrap(b, a, NAMES, resamples=200),
        "n_test_frames": 8,
        "n_blocks": n_blocks,
        "block_seconds": 10.0,
        "class_pixels": dict.fromkeys(NAMES, 1),
        "class_frames": dict.fromkeys(NAMES, 8),
    }


def test_fewer_than_five_blocks_give_no_clear_verdict():
    for n_blocks in (1, 4):
        report = _report(n_blocks)
        assert report["ci"]["change"]["pixel_accuracy"][0] > 0
        lines = stats.sentences(report)
        assert "no change is called clear." in lines[0]
        for line in lines[1:]:
            assert "clear" not in line and "too few to tell whether the change is real" in line
        compare = stats.sentences({**report, "labels": {"before": "a", "after": "b"}})
        for line in compare[2:]:
            assert "clearly" not in line and "too few to tell A and B apart" in line
        change, ci = report["change"]["mean_iou"], report["ci"]["change"]["mean_iou"]
        assert export.verdict(change, ci, n_blocks) == "too few blocks"
        verdicts = {row.split(",")[13] for row in export.csv_text(report).splitlines()[1:]}
        assert verdicts == {"too few blocks"}
    report = _report(5)
    lines = stats.sentences(report)
    assert "fewer than" not in lines[0]
    assert lines[1].endswith("a clear improvement.")
    change, ci = report["change"]["mean_iou"], report["ci"]["change"]["mean_iou"]
    assert export.verdict(change, ci, 5) == "clear improvement"
    assert export.verdict(None, None, 5) == export.verdict(None, None, 1) == "n/a"


def test_one_block_gives_no_interval_and_no_verdict():
    rng = np.random.default_rng(8)
    a, b = frame_cms(rng, 4, skill=0.3)[0], frame_cms(rng, 4, skill=0.95)[0]
    ci = stats.bootstrap(b, a, NAMES, [7, 7, 7, 7], resamples=50)
    for part in ("after", "before", "change"):
        assert ci[part] == {
            "pixel_accuracy": None,
            "mean_iou": None,
            "class_iou": dict.fromkeys(NAMES),
        }
    line = stats.sentence("Car IoU", 0.25, None, 4, 1)
    assert line == (
        "Car IoU changed by +0.250, but the 4 test frames form 1 independent block, too few to "
        "tell whether the change is real (at least 5 are needed)."
    )
    assert export.verdict(0.25, None, 1) == "too few blocks"
    assert stats.resampling_sentence(4, 1, 10.0).startswith(
        "The 4 test frames form a single independent block: one block shows no spread, so there "
        "are no intervals"
    )


def _ar1(rng, n_series: int, n: int, phi: float) -> np.ndarray:
    """Stationary AR(1) series with unit variance, one per row."""
    z = np.empty((n_series, n))
    z[:, 0] = rng.standard_normal(n_series)
    noise = rng.standard_normal((n_series, n)) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        z[:, t] = phi * z[:, t - 1] + noise[:, t]
    return z


def _two_class_matrices(accuracy: np.ndarray, pixels: int = 1000) -> np.ndarray:
    right = np.round(pixels * np.clip(accuracy, 0, 1)).astype(np.int64)
    wrong = pixels - right
    cms = np.zeros((len(accuracy), 2, 2), np.int64)
    cms[:, 0, 0], cms[:, 1, 1] = right // 2, right - right // 2
    cms[:, 0, 1], cms[:, 1, 0] = wrong // 2, wrong - wrong // 2
    return cms


def test_blocks_keep_false_clear_verdicts_near_five_percent_on_correlated_frames():
    """Two equally good models whose per-frame difference drifts slowly: no true change."""
    fps, seconds, phi, trials = 2, 40, 0.7, 300
    n = fps * seconds
    # Three videos and three CamVid-style name sequences (frame numbers at 30 fps), 40 s each.
    facts = [
        FrameFacts(video_id=v, timestamp_s=t / fps, index=t * 15)
        for v in range(3)
        for t in range(n)
    ] + [
        FrameFacts(source_name=f"000{s}TP_{15 * t + 900:06d}.png")
        for s in range(3)
        for t in range(n)
    ]
    ids = assign_blocks(facts, 10.0)
    assert blocks.count_blocks(ids) == 24
    rng = np.random.default_rng(2024)
    false_clear = {"blocks": 0, "frames": 0}
    for trial in range(trials):
        level = 0.8 + 0.05 * _ar1(rng, 6, n, phi).ravel()  # how hard each frame is, for both
        drift = 0.03 * _ar1(rng, 6, n, phi).ravel()  # after - before: zero on average
        after, before = (
            _two_class_matrices(level + drift / 2),
            _two_class_matrices(level - drift / 2),
        )
        for way, frame_blocks in (("blocks", ids), ("frames", None)):
            ci = stats.bootstrap(after, before, ["a", "b"], frame_blocks, resamples=200, seed=trial)
            lo, hi = ci["change"]["pixel_accuracy"]
            false_clear[way] += lo > 0 or hi < 0
    rate = {way: hits / trials for way, hits in false_clear.items()}
    assert 0.01 <= rate["blocks"] <= 0.12, rate
    assert rate["frames"] > 0.25, rate
