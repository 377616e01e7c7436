"""Properties of the mask codec: exact round trips, and every input rejected cleanly or accepted."""

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from backend.errors import Invalid
from backend.services.mask_codec import UNLABELED, blank_mask, check_mask, encode_mask

sizes = st.tuples(st.integers(1, 48), st.integers(1, 48))


@st.composite
def label_maps(draw, max_classes: int = 255) -> tuple[np.ndarray, int]:
    """A (height x width) uint8 map of class ids below n_classes or 255, and n_classes."""
    n_classes = draw(st.integers(1, max_classes))
    height, width = draw(sizes)
    values = st.one_of(st.integers(0, n_classes - 1), st.just(UNLABELED))
    return draw(arrays(np.uint8, (height, width), elements=values)), n_classes


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, depth: int, colour: int, interlace: int, idat: bytes) -> bytes:
    """A PNG with any header fields (valid CRCs), an optional palette and the given pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    palette = _chunk(b"PLTE", bytes(range(256)) * 3) if colour == 3 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + palette
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def _assert_checked(data: bytes, width: int, height: int, n_classes: int) -> None:
    """check_mask either refuses with Invalid or accepts with counts matching the decoded pixels."""
    try:
        counts = check_mask(data, width, height, n_classes)
    except Invalid as exc:
        assert exc.status_code == 422 and exc.message
        with pytest.raises(Invalid) as again:
            check_mask(data, width, height, n_classes)
        assert again.value.message == exc.message  # the same input, the same verdict
        return
    assert counts == check_mask(data, width, height, n_classes)
    assert sum(counts.values()) == width * height
    assert all(int(v) < n_classes or int(v) == UNLABELED for v in counts)


@given(label_maps())
def test_label_maps_round_trip_exactly(case):
    labels, n_classes = case
    data = encode_mask(labels)
    counts = check_mask(data, labels.shape[1], labels.shape[0], n_classes)
    decoded = _decode(data)
    assert decoded.mode == "L"
    np.testing.assert_array_equal(np.asarray(decoded), labels)
    expected = np.bincount(labels.ravel(), minlength=256)
    assert counts == {str(v): int(expected[v]) for v in np.flatnonzero(expected)}


@given(sizes, st.sampled_from(["unlabeled", "background"]), st.integers(1, 255))
def test_blank_masks_are_valid_and_uniform(size, initial, n_classes):
    height, width = size
    labels = blank_mask(width, height, initial)
    value = 0 if initial == "background" else UNLABELED
    assert labels.shape == (height, width) and labels.dtype == np.uint8
    assert (labels == value).all()
    counts = check_mask(encode_mask(labels), width, height, n_classes)
    assert counts == {str(value): width * height}


@given(label_maps(max_classes=254), st.data())
def test_values_outside_the_classes_are_named(case, data):
    labels, n_classes = case
    bad = data.draw(st.integers(n_classes, 254), label="bad value")
    y, x = data.draw(st.integers(0, labels.shape[0] - 1)), data.draw(st.integers(0, 255))
    labels[y, x % labels.shape[1]] = bad
    with pytest.raises(Invalid, match=r"contains value (\d+), which is not a class index"):
        check_mask(encode_mask(labels), labels.shape[1], labels.shape[0], n_classes)


@given(label_maps(), sizes)
def test_wrong_sizes_name_both_sizes(case, other):
    labels, n_classes = case
    height, width = labels.shape
    assume(other != (height, width))
    message = f"The mask is {width}x{height}; the frame is {other[1]}x{other[0]}."
    with pytest.raises(Invalid) as info:
        check_mask(encode_mask(labels), other[1], other[0], n_classes)
    assert info.value.message == message


@given(sizes, st.sampled_from(["1", "I;16", "LA", "RGB", "RGBA"]))
def test_other_modes_are_refused_by_name(size, mode):
    height, width = size
    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, format="PNG")
    with pytest.raises(Invalid, match="one 8-bit channel of class ids; this PNG is "):
        check_mask(buf.getvalue(), width, height, 3)


@given(st.binary(max_size=512))
@example(b"")
@example(b"\x89PNG\r\n\x1a\n")
@example(b"GIF89a" + bytes(32))
def test_any_bytes_are_refused_or_accepted_consistently(data):
    _assert_checked(data, 8, 8, 3)


@given(label_maps(), st.data())
def test_damaged_pngs_are_refused_or_accepted_consistently(case, data):
    labels, n_classes = case
    png = bytearray(encode_mask(labels))
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(png) - 1), st.integers(0, 255))))
    for at, value in edits:
        png[at] = value
    cut = data.draw(st.integers(8, len(png)))
    _assert_checked(bytes(png[:cut]), labels.shape[1], labels.shape[0], n_classes)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@given(
    st.integers(0, 2**31 - 1),
    st.integers(0, 2**31 - 1),
    st.sampled_from([1, 2, 4, 8, 16]),
    st.sampled_from([0, 2, 3, 4, 6]),
    st.integers(0, 1),
    st.binary(max_size=64),
)
@example(2**20, 2**20, 8, 0, 0, zlib.compress(bytes(64)))  # a decompression bomb
@example(0, 0, 8, 0, 0, b"")
def test_any_png_header_is_refused_or_accepted_consistently(
    width, height, depth, colour, interlace, idat
):
    data = _png(width, height, depth, colour, interlace, idat)
    _assert_checked(data, min(width, 64) or 1, min(height, 64) or 1, 3)
    if 0 < width <= 64 and 0 < height <= 64:
        _assert_checked(data, width, height, 3)
