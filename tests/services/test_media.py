"""Probing real encoded clips: codecs, rotation, odd sizes and broken files."""

import numpy as np
import pytest

from backend.errors import Invalid
from backend.media import decode_selected, index_frames, probe_video, upright_image
from tests.videos import frame_index_of, make_video


def test_probe_h264_mp4(tmp_path):
    path = make_video(tmp_path / "a.mp4", fps=30, seconds=2.0, width=160, height=120)
    info = probe_video(path, ".mp4")
    assert (info.container, info.codec) == ("mp4", "h264")
    assert info.fps == 30.0
    assert info.frame_count == 60
    assert info.duration_s == pytest.approx(2.0, abs=1e-6)
    assert (info.width, info.height, info.rotation) == (160, 120, 0)


def test_hevc_mov_with_rotation_comes_out_upright(tmp_path):
    # Like iPhone portrait footage: landscape-coded HEVC with a -90 degree display matrix.
    path = make_video(tmp_path / "phone.mov", codec="libx265", width=64, height=48, rotation=-90)
    info = probe_video(path, ".mov")
    assert (info.container, info.codec) == ("mov", "hevc")
    assert (info.width, info.height, info.rotation) == (48, 64, 270)
    frames = []
    index = index_frames(path)
    decode_selected(path, index, index.pts[:1], lambda pts, f: frames.append(upright_image(f)))
    pixels = np.asarray(frames[0])
    assert pixels.shape == (64, 48, 3)
    # The white mark was top-left in coded pixels; turned clockwise it sits top-right.
    assert pixels[2, -3].min() > 200 and pixels[2, 2].max() < 100


def test_odd_frame_size(tmp_path):
    path = make_video(tmp_path / "odd.mp4", width=161, height=97, pix_fmt="yuv444p", seconds=1)
    info = probe_video(path, ".mp4")
    assert (info.width, info.height) == (161, 97)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a video at all", bytes(range(256)) * 400, b"\x89PNG\r\n\x1a\n" + b"\0" * 100],
    ids=["empty", "text", "random", "png-header"],
)
def test_non_video_is_rejected(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(Invalid):
        probe_video(path)


def test_truncated_video_is_rejected(tmp_path):
    whole = make_video(tmp_path / "whole.mp4", seconds=2).read_bytes()
    for cut in (len(whole) // 3, len(whole) - 200):
        path = tmp_path / f"cut{cut}.mp4"
        path.write_bytes(whole[:cut])
        with pytest.raises(Invalid):
            probe_video(path)


def test_decode_selected_returns_exact_frames(tmp_path):
    path = make_video(tmp_path / "a.mp4", seconds=2, gop=10)
    index = index_frames(path)
    wanted = [3, 11, 12, 40, 59]
    got = {}
    decode_selected(
        path,
        index,
        [index.pts[i] for i in wanted],
        lambda pts, f: got.setdefault(
            index.pts.index(pts), frame_index_of(f.to_ndarray(format="rgb24"))
        ),
    )
    assert got == {i: i for i in wanted}
