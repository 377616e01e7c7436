"""Import preview: what a zip holds and how its values map, with nothing imported or kept."""

import numpy as np
import pytest

from backend.services.datasets import preview
from tests.api.test_datasets import (
    GOOD,
    _image,
    _labels,
    _mask,
    _rgb_png,
    _rows,
    _stored,
    _symlink_zip,
    _zip,
)


def _preview(client, project_id: int, data: bytes, **params):
    files = {"file": ("data.zip", data, "application/zip")}
    return client.post(f"/api/projects/{project_id}/imports/preview", files=files, params=params)


def _camvid(n: int = 3) -> bytes:
    entries = {}
    for i, split in enumerate(["train", "val", "test", "train"][:n]):
        entries[f"CamVid/{split}/s_{i}.png"] = _image(i)
        entries[f"CamVid/{split}annot/s_{i}.png"] = _mask(_labels(i, [2, 6, 8, 11]))
    return _zip(entries)


def test_preview_lists_values_and_their_classes_and_keeps_nothing(client, project):
    res = _preview(client, project["id"], _camvid(), mapping="camvid-default")
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["layout"], body["frames"], body["masks"]) == ("camvid", 3, 3)
    assert body["splits"] == {"train": 1, "val": 1, "test": 1}
    assert body["masks_scanned"] == 3
    targets = {v["value"]: (v["target"], v["target_name"]) for v in body["values"]}
    assert targets == {
        "2": (0, "background"),
        "6": (2, "traffic sign"),
        "8": (1, "car"),
        "11": (255, "unlabeled"),
    }
    assert sum(v["pixels"] for v in body["values"]) == 3 * 8 * 6
    assert body["unmapped"] == []
    assert [c["name"] for c in body["classes"]] == ["background", "car", "traffic sign"]
    assert body["examples"][0] == {
        "image": "CamVid/test/s_2.png",
        "mask": "CamVid/testannot/s_2.png",
    }
    assert client.get("/api/jobs").json() == []
    assert _rows(client) == (0, 0) and _stored(client) == []


def test_preview_without_mapping_names_unmapped_values(client, project):
    body = _preview(client, project["id"], _camvid(1)).json()
    assert body["mapping"] is None
    by_value = {v["value"]: v["target"] for v in body["values"]}
    assert by_value == {"2": 2, "6": None, "8": None, "11": None}
    assert body["unmapped"] == ["6", "8", "11"]


def test_preview_of_colour_masks_shows_colours(client, project):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[:3] = (0x10, 0x20, 0x30)
    entries = {"images/a.png": _image(1), "masks/a.png": _rgb_png(rgb)}
    res = _preview(
        client, project["id"], _zip(entries), layout="color", mapping='{"#102030": "car"}'
    )
    assert res.status_code == 200, res.text
    values = {v["value"]: (v["pixels"], v["target_name"]) for v in res.json()["values"]}
    assert values == {"#102030": (24, "car"), "#000000": (24, None)}


def test_preview_of_a_segtune_export_names_its_classes(client, project):
    labels = _labels(3, [0, 1, 255])
    manifest = (
        '{"classes": [{"index": 0, "name": "background", "color": "#000000"},'
        ' {"index": 1, "name": "Car", "color": "#ff0000"}],'
        ' "frames": [{"image": "images/a.png", "mask": "masks/a.png", "split": "val"},'
        ' {"image": "images/b.png", "mask": null}]}'
    )
    entries = {
        "manifest.json": manifest.encode(),
        "images/a.png": _image(1),
        "masks/a.png": _mask(labels),
        "images/b.png": _image(2),
    }
    body = _preview(client, project["id"], _zip(entries)).json()
    assert (body["layout"], body["frames"], body["masks"]) == ("segtune", 2, 1)
    assert body["splits"] == {"val": 1, "none": 1}
    names = {v["value"]: (v["source_name"], v["target_name"]) for v in body["values"]}
    assert names == {
        "0": ("background", "background"),
        "1": ("Car", "car"),
        "255": (None, "unlabeled"),
    }


def test_preview_scans_a_bounded_sample(client, project, monkeypatch):
    monkeypatch.setattr(preview, "PREVIEW_MASKS", 2)
    body = _preview(client, project["id"], _camvid(4), mapping="camvid-default").json()
    assert body["frames"] == 4 and body["masks_scanned"] == 2


@pytest.mark.parametrize(
    ("data", "params", "needle"),
    [
        (b"this is not a zip", {}, "not a readable zip"),
        (_zip({**GOOD, "../evil.png": _image(2)}), {}, "'../evil.png' points outside"),
        (_zip({**GOOD, "/etc/passwd": b"x"}), {}, "'/etc/passwd' is an absolute path"),
        (_zip({**GOOD, "a\\b.png": b"x"}), {}, "backslashes"),
        (_symlink_zip(), {}, "'masks/a.png' is a symbolic link"),
        (_zip({"images/a.png": _image(1)}), {}, "images/a.png: no mask found"),
        (_zip({"notes.txt": b"hi"}), {}, "No image/mask pairs"),
        (_zip(GOOD), {"mapping": '{"1": "bus"}'}, "'bus' is not a class of this project"),
        (_zip(GOOD), {"mapping": "{nope"}, "preset"),
        (_zip({**GOOD, "masks/a.png": _image(3)}), {}, "single-channel"),
        (_zip({**GOOD, "masks/a.png": b"not a png"}), {}, "not a readable mask"),
    ],
)
def test_preview_rejections_are_422_and_leave_nothing(client, project, data, params, needle):
    res = _preview(client, project["id"], data, **params)
    assert res.status_code == 422, res.text
    assert needle in res.json()["detail"]
    assert _rows(client) == (0, 0) and _stored(client) == []


def test_preview_needs_one_zip_and_a_known_layout_and_project(client, project):
    url = f"/api/projects/{project['id']}/imports/preview"
    two = [("file", ("a.zip", _zip(GOOD))), ("file", ("b.zip", _zip(GOOD)))]
    res = client.post(url, files=two)
    assert res.status_code == 422 and "exactly one zip" in res.json()["detail"]
    assert client.post(url, json={}).status_code == 422
    assert _preview(client, project["id"], _zip(GOOD), layout="voc").status_code == 422
    assert _preview(client, 999, _zip(GOOD)).status_code == 404
    assert _stored(client) == []


def test_preview_refuses_masks_with_too_many_values(client, project, monkeypatch):
    monkeypatch.setattr(preview, "MAX_VALUES", 3)
    entries = {"images/a.png": _image(1), "masks/a.png": _mask(_labels(1, [0, 1, 2, 3, 4]))}
    res = _preview(client, project["id"], _zip(entries), mapping='{"default": 0}')
    assert res.status_code == 422 and "more than 3 distinct values" in res.json()["detail"]
