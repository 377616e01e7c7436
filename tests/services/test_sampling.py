"""Which frames a sampling request selects."""

from fractions import Fraction

import pytest

from backend.media import FrameIndex, select_by_rate
from backend.services.sampling import choose_frames


def test_select_by_rate_matches_ffmpeg_fps_filter_rule():
    # 30 fps source, 2 fps output: slot n holds frames rounding to n, FFmpeg keeps the last one.
    times = [Fraction(i, 30) for i in range(60)]
    # The clip ends at 2.0 s, so slot 4 (starting at 2.0 s) is not emitted, as in FFmpeg.
    assert select_by_rate(times, Fraction(2), Fraction(2)) == [7, 22, 37, 52]
    assert select_by_rate(times[:59], Fraction(2), Fraction(59, 30)) == [7, 22, 37, 52]


def test_select_by_rate_keeps_every_frame_when_rates_match():
    times = [Fraction(i, 10) for i in range(20)]
    assert select_by_rate(times, Fraction(10), Fraction(2)) == list(range(20))


def _index(n: int, fps: int = 30) -> FrameIndex:
    return FrameIndex(pts=list(range(n)), keyframe_pts=[0], time_base=Fraction(1, fps))


def _params(**kw):
    base = {
        "fps": None,
        "every_n_frames": None,
        "start_s": 0.0,
        "end_s": 100.0,
        "max_frames": 10**6,
    }
    return {**base, **kw}


def test_every_n_frames():
    assert choose_frames(_index(10), _params(every_n_frames=4)) == [0, 4, 8]


def test_start_and_end_limit_the_range():
    chosen = choose_frames(_index(300), _params(every_n_frames=30, start_s=2.0, end_s=5.0))
    assert chosen == [60, 90, 120, 150]


def test_max_frames_thins_evenly_instead_of_truncating():
    chosen = choose_frames(_index(300), _params(every_n_frames=1, max_frames=4))
    assert chosen == [0, 100, 199, 299]


@pytest.mark.parametrize("fps", [0.2, 1.0, 2.0, 7.5])
def test_rate_sampling_is_uniform_in_time(fps):
    chosen = choose_frames(_index(1800), _params(fps=fps))
    assert len(chosen) == round(60 * fps)
    gaps = {b - a for a, b in zip(chosen[:-1], chosen[1:], strict=True)}
    assert max(gaps) - min(gaps) <= 1
    assert abs(gaps.pop() - 30 / fps) <= 1
