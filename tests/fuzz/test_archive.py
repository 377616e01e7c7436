"""Properties of the zip checks: hostile names are refused, accepted ones never leave the target."""

import io
import stat
import struct
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from backend.errors import Invalid
from backend.services.datasets.archive import UNPACK_FACTOR, ZipSource, ignored, unsafe_reason

# Path pieces that matter to the checks, mixed with arbitrary text (unicode, controls, spaces).
PIECES = st.one_of(
    st.sampled_from(["..", ".", "", "a", "images", "masks", "C:", "c:\\", "~", "__MACOSX"]),
    st.sampled_from([".DS_Store", "Thumbs.db", "x.png", "x_mask.png", "é.jpg", "日本.png"]),
    st.text(max_size=6),
)
NAMES = st.one_of(
    st.lists(PIECES, min_size=1, max_size=4).map("/".join),
    st.lists(PIECES, min_size=1, max_size=3).map("\\".join),
    PIECES.map(lambda p: "/" + p),
    st.text(min_size=1, max_size=20),
)


@st.composite
def entries(draw) -> list[tuple[str, bytes, str | None]]:
    """Entries as (name, data, special) where special is None, 'symlink' or 'encrypted'."""
    names = draw(st.lists(NAMES, min_size=1, max_size=8))
    names += draw(st.lists(st.sampled_from(names), max_size=2))  # duplicates now and then
    special = st.sampled_from([None, None, None, None, "symlink", "encrypted"])
    return [(n, draw(st.binary(max_size=40)), draw(special)) for n in names]


def _zip(path: Path, items: list[tuple[str, bytes, str | None]]) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are the point
        for name, data, special in items:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if special == "symlink":
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data)
    _mark_encrypted(path, [i for i, (*_, special) in enumerate(items) if special == "encrypted"])
    return path


def _mark_encrypted(path: Path, indexes: list[int]) -> None:
    """Set the 'encrypted' flag of some central directory records (zipfile cannot write it)."""
    with zipfile.ZipFile(path) as zf:
        at = zf.start_dir
    data = bytearray(path.read_bytes())
    for index in range(max(indexes, default=-1) + 1):
        assert data[at : at + 4] == b"PK\x01\x02"
        if index in indexes:
            data[at + 8] |= 0x1
        name_len, extra_len, comment_len = struct.unpack("<HHH", data[at + 28 : at + 34])
        at += 46 + name_len + extra_len + comment_len
    path.write_bytes(bytes(data))


def _stays_inside(target: Path, name: str) -> bool:
    """Whether extracting `name` under target (as a naive extractor would) stays under it."""
    joined = Path(target, *PurePosixPath(name).parts)
    return joined.resolve().is_relative_to(target.resolve())


def _open(path: Path, limit: int = 2**20) -> ZipSource | None:
    try:
        return ZipSource(path, limit)
    except Invalid as exc:
        assert exc.status_code == 422 and exc.message
        return None


@given(entries())
@example([("../evil.png", b"x", None)])
@example([("/etc/passwd", b"x", None)])
@example([("a\\..\\..\\evil", b"x", None)])
@example([("C:/evil", b"x", None)])
@example([("ok.png", b"1", None), ("ok.png", b"2", None)])
@example([("link.png", b"/etc/passwd", "symlink")])
@example([("secret.png", b"x", "encrypted")])
@example([("a/\x1b[31mred.png", b"x", None)])
@example([("\x00hidden.png", b"x", None)])  # stored with an empty name
def test_entry_names_are_refused_or_safe(tmp_path_factory, items):
    path = _zip(tmp_path_factory.mktemp("zip") / "in.zip", items)
    with zipfile.ZipFile(path) as zf:
        stored = [(i.filename, i.filename.endswith("/")) for i in zf.infolist()]
    names = [n for n, _ in stored]
    kept = [n for n, is_dir in stored if not is_dir and not ignored(n)]
    expect_refusal = any(
        unsafe_reason(n) or kept.count(n) > 1 or special
        for n, (_, _, special) in zip(names, items, strict=True)
    )
    source = _open(path)
    assert (source is None) == expect_refusal, (stored, source and source.names)
    if source is None:
        return
    try:
        target = tmp_path_factory.mktemp("target")
        assert source.names == sorted(kept)
        written = {n: data for n, (_, data, _) in zip(names, items, strict=True)}
        for name in source.names:
            assert unsafe_reason(name) is None and _stays_inside(target, name)
            assert source.read(name) == written[name]
    finally:
        source.close()


@given(st.lists(st.integers(0, 400), min_size=1, max_size=6), st.integers(1, 200))
def test_unpacked_size_is_bounded(tmp_path_factory, sizes, limit):
    items = [(f"f{i}.png", bytes(size), None) for i, size in enumerate(sizes)]
    source = _open(_zip(tmp_path_factory.mktemp("zip") / "in.zip", items), limit)
    assert (source is None) == (sum(sizes) > limit * UNPACK_FACTOR)
    if source is not None:
        source.close()


@st.composite
def damaged_zips(draw) -> bytes:
    """A small valid zip with bytes overwritten, and maybe cut short."""
    count = draw(st.integers(1, 3))
    items = [(f"d/{i}.png", draw(st.binary(max_size=60)), None) for i in range(count)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, _ in items:
            zf.writestr(name, data, compress_type=draw(st.sampled_from([0, zipfile.ZIP_DEFLATED])))
    data = bytearray(buf.getvalue())
    for at, value in draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)))):
        data[at] = value
    return bytes(data[: draw(st.integers(0, len(data)))])


@pytest.mark.filterwarnings("ignore::UserWarning")
@given(damaged_zips())
@example(b"")
@example(b"PK\x05\x06" + bytes(18))
def test_damaged_zips_are_refused_or_read(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("zip") / "in.zip"
    path.write_bytes(data)
    source = _open(path)
    if source is None:
        return
    try:
        for name in source.names:
            assert unsafe_reason(name) is None
            try:
                assert isinstance(source.read(name), bytes)
            except Invalid as exc:
                assert exc.extra["entry"] == name and name in exc.message
    finally:
        source.close()
