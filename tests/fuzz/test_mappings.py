"""Properties of the class-mapping parsers: any text is refused with Invalid or a usable mapping."""

import json

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from backend.errors import Invalid
from backend.services.datasets.classmap import (
    PRESETS,
    parse_cli_map,
    parse_mapping,
    resolve,
)
from tests.services.test_dataset_layouts import CLASSES

WORDS = ["car", "Traffic Sign", "background", "unlabeled", "ignore", "255", "0", "2", "3", "-1"]
KEYS = st.one_of(
    st.sampled_from(["default", "8", "255", "256", "#1F77FF", "#abc", "²", "٣", "-1", " 6 "]),
    st.text(max_size=6),
)
VALUES = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=6),
    st.integers(-300, 300),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
CLI_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.tuples(KEYS, st.sampled_from(["=", "", "=="]), st.text(max_size=8)), max_size=4
    ).map(lambda items: ",".join(k + eq + v for k, eq, v in items)),
    st.dictionaries(KEYS, VALUES, max_size=4).map(json.dumps),
    st.sampled_from([*PRESETS, " camvid-default ", "{", "{}", "[]", "null"]),
)


def _check_mapping(mapping) -> None:
    """A parsed mapping is a dict with stripped string keys, and resolves or is refused."""
    if mapping is None:
        return
    assert isinstance(mapping, dict) and mapping
    assert all(isinstance(k, str) and k == k.strip() for k in mapping)
    for colour in (False, True):
        try:
            classmap = resolve(mapping, CLASSES, colour=colour)
        except Invalid as exc:
            assert exc.status_code == 422 and exc.message
            continue
        _check_classmap(classmap, colour)


def _check_classmap(classmap, colour: bool) -> None:
    """A resolved map turns any mask into project ids or names the unmapped value."""
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    mask = Image.fromarray(np.stack([pixels] * 3, -1) if colour else pixels)
    try:
        out = classmap.apply(mask, "m.png")
    except Invalid as exc:
        assert "m.png" in exc.message
        return
    assert out.shape == (16, 16) and out.dtype == np.uint8
    assert set(np.unique(out).tolist()) <= {0, 1, 2, 255}


def _parse_and_check(raw) -> None:
    """parse_mapping refuses with a 422 and a message, or gives a mapping that checks out."""
    try:
        mapping = parse_mapping(raw)
    except Invalid as exc:
        assert exc.status_code == 422 and exc.message
        return
    _check_mapping(mapping)


@given(CLI_TEXT, st.one_of(st.none(), st.sampled_from(WORDS), st.text(max_size=6)))
@example("8=car,6=traffic sign,11=unlabeled", "background")
@example("²=car", None)
@example("8=²", None)
@example('{"a": ' + "[" * 5000 + "]" * 5000 + "}", None)
def test_cli_map_is_refused_or_usable(text, default):
    try:
        mapping = parse_cli_map(text, default)
    except Invalid as exc:
        assert exc.status_code == 422 and exc.message
        return
    _check_mapping(mapping)
    if default is not None:
        assert mapping["default"] == default


@given(st.one_of(CLI_TEXT, JSON.map(json.dumps), JSON))
@example("[" * 5000 + "]" * 5000)
@example('{"8": 1e999}')
def test_mapping_json_is_refused_or_usable(raw):
    _parse_and_check(raw)


@given(st.dictionaries(KEYS, VALUES, max_size=5))
@example({"²": "car"})
@example({"8": "²"})
@example({"default": 1.0})
def test_mapping_objects_resolve_or_are_refused(raw):
    _parse_and_check(raw)
