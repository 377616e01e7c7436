"""Client file names are reduced to a harmless display label."""

import pytest

from backend.services.naming import display_filename, extension


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\street.MOV", "street.MOV"),
        ("bad\x00name\r\n.mp4", "badname.mp4"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("a" * 400, "a" * 255),
    ],
)
def test_display_filename(raw, expected):
    assert display_filename(raw) == expected


@pytest.mark.parametrize(
    "name,ext",
    [("a.MP4", ".mp4"), ("noext", ""), (".hidden", ""), ("x.tar.gz", ".gz"), ("a.b c", "")],
)
def test_extension(name, ext):
    assert extension(name) == ext
