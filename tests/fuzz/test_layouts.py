"""Properties of layout detection and pairing on arbitrary file lists and manifests."""

import json
import math

from hypothesis import example, given
from hypothesis import strategies as st

from backend.errors import Invalid
from backend.models.frame import SPLITS
from backend.services.datasets.archive import unsafe_reason
from backend.services.datasets.layouts import LAYOUTS, detect_layout, find_pairs

FOLDERS = st.sampled_from(
    ["images", "masks", "train", "val", "test", "trainannot", "annot", "leftImg8bit", "gtFine"]
    + ["ds", "aachen", "a b", "é", "..", "."]
)
FILES = st.one_of(
    st.sampled_from(["x.png", "x.jpg", "x_mask.png", "y.JPEG", "y.png", "manifest.json"]),
    st.sampled_from(["c_000019_leftImg8bit.png", "c_000019_gtFine_labelIds.png", "notes.txt"]),
    st.text(max_size=8),
)
PATHS = st.builds(
    lambda folders, name: "/".join([*folders, name]), st.lists(FOLDERS, max_size=4), FILES
)
NAME_LISTS = st.lists(PATHS, max_size=12, unique=True)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


class Names:
    """A source made of names and optional bytes (unlisted names read as empty)."""

    def __init__(self, names: list[str], files: dict[str, bytes] | None = None):
        self.files = dict(files or {})
        self.names = sorted({*names, *self.files})

    def read(self, name: str) -> bytes:
        return self.files.get(name, b"")

    def close(self) -> None:
        pass


def _pairs_or_refusal(source: Names, layout: str):
    try:
        return find_pairs(source, layout)
    except Invalid as exc:
        assert exc.status_code == 422 and exc.message
        return None


def _check_dataset(dataset, names: list[str]) -> None:
    """Every pair names listed files; no image or mask is used twice; splits are known."""
    listed = set(names)
    images = [p.image for p in dataset.pairs]
    masks = [p.mask for p in dataset.pairs if p.mask is not None]
    assert dataset.pairs and set(images) <= listed and set(masks) <= listed
    assert len(set(images)) == len(images) and len(set(masks)) == len(masks)
    assert not set(images) & set(masks)
    assert all(p.split in (*SPLITS, None) for p in dataset.pairs)


@given(NAME_LISTS, st.booleans())
def test_detection_always_names_a_concrete_layout(names, colour):
    assert detect_layout(names, colour) in set(LAYOUTS) - {"auto"}


@given(NAME_LISTS, st.sampled_from(["plain", "color", "camvid", "cityscapes"]))
@example(["images/x.png", "masks/x.png", "x_mask.png"], "plain")
@example(["train/x.png", "trainannot/x.png", "annot/x.png"], "camvid")
@example(
    ["leftImg8bit/t/c/c_000019_leftImg8bit.png", "gtFine/t/c/c_000019_gtFine_labelIds.png"],
    "cityscapes",
)
def test_pairing_is_refused_or_consistent(names, layout):
    dataset = _pairs_or_refusal(Names(names), layout)
    if dataset is not None:
        _check_dataset(dataset, names)


@st.composite
def manifests(draw) -> tuple[list[str], bytes]:
    """A file list and a manifest.json that is sometimes well formed and sometimes not."""
    names = draw(NAME_LISTS)
    frame = st.fixed_dictionaries(
        {"image": st.sampled_from(names) if names else st.text(max_size=8)},
        optional={
            "mask": st.one_of(st.none(), st.sampled_from(names or ["m.png"]), JSON),
            "split": st.one_of(st.sampled_from([*SPLITS, "other"]), JSON),
            "label_status": JSON,
            "split_locked": JSON,
            "source": st.one_of(JSON, st.fixed_dictionaries({"timestamp_s": JSON})),
        },
    )
    cls = st.fixed_dictionaries({"index": JSON, "name": JSON, "color": JSON})
    body = st.one_of(
        st.fixed_dictionaries({"classes": st.lists(cls, max_size=3), "frames": st.lists(frame)}),
        JSON,
    )
    return names, json.dumps(draw(body)).encode()


def _timestamped(seconds: bytes) -> tuple[list[str], bytes]:
    frame = b'{"image": "a.png", "source": {"timestamp_s": %s}}' % seconds
    return ["a.png"], b'{"classes": [], "frames": [%s]}' % frame


@given(manifests())
@example(([], b"[" * 5000 + b"]" * 5000))
@example(([], b'{"classes": [{"index": Infinity, "name": "a", "color": "b"}], "frames": []}'))
@example(([], b"\xff\xfe not utf-8"))
@example(_timestamped(b"NaN"))
@example(_timestamped(b"1e999"))
@example(_timestamped(b"1" + b"0" * 400))
def test_segtune_manifests_are_refused_or_consistent(case):
    names, manifest = case
    dataset = _pairs_or_refusal(Names(names, {"manifest.json": manifest}), "segtune")
    if dataset is None:
        return
    _check_dataset(dataset, [*names, "manifest.json"])
    assert all(not unsafe_reason(p.image) for p in dataset.pairs)
    assert all(isinstance(c["index"], int) for c in dataset.classes)
    for pair in dataset.pairs:  # stored in the database and served as JSON: finite or None
        assert pair.meta["timestamp_s"] is None or math.isfinite(pair.meta["timestamp_s"])
