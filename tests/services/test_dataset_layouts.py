"""Dataset layouts, zip checks, class mappings and COCO RLE, without a database."""

import json
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from backend.errors import Invalid
from backend.services.datasets import archive
from backend.services.datasets.archive import FolderSource, ZipSource, unsafe_reason
from backend.services.datasets.classmap import (
    PRESETS,
    ProjectClass,
    parse_cli_map,
    parse_mapping,
    resolve,
)
from backend.services.datasets.coco import rle_counts, rle_string
from backend.services.datasets.layouts import detect_layout, find_pairs

CLASSES = [
    ProjectClass(0, "background", "#000000"),
    ProjectClass(1, "car", "#1f77ff"),
    ProjectClass(2, "traffic sign", "#ffd200"),
]


class Names:
    """A source made of names (and optional bytes)."""

    def __init__(self, *names: str, files: dict[str, bytes] | None = None):
        self.files = dict(files or {})
        self.names = sorted({*names, *self.files})

    def read(self, name: str) -> bytes:
        return self.files[name]

    def close(self) -> None:
        pass


def _pairs(layout: str, *names: str) -> list[tuple[str, str | None, str | None]]:
    return [(p.image, p.mask, p.split) for p in find_pairs(Names(*names), layout).pairs]


def test_plain_images_and_masks_folders_and_side_by_side():
    got = _pairs(
        "plain",
        "ds/images/train/a.jpg",
        "ds/masks/train/a.png",
        "ds/images/b.png",
        "ds/masks/b.png",
        "loose/c.jpeg",
        "loose/c_mask.png",
        "ds/README.txt",
    )
    assert got == [
        ("ds/images/b.png", "ds/masks/b.png", None),
        ("ds/images/train/a.jpg", "ds/masks/train/a.png", "train"),
        ("loose/c.jpeg", "loose/c_mask.png", None),
    ]


def test_plain_refuses_an_image_without_mask_and_a_stray_mask():
    with pytest.raises(Invalid, match="images/a.jpg: no mask found.*masks/a.png"):
        _pairs("plain", "images/a.jpg")
    with pytest.raises(Invalid, match="masks/z.png: a plain mask without an image"):
        _pairs("plain", "images/a.jpg", "masks/a.png", "masks/z.png")


def test_camvid_pairs_and_splits():
    got = _pairs(
        "camvid",
        "CamVid/train/x.png",
        "CamVid/trainannot/x.png",
        "CamVid/val/y.png",
        "CamVid/valannot/y.png",
        "CamVid/train.txt",
    )
    assert got == [
        ("CamVid/train/x.png", "CamVid/trainannot/x.png", "train"),
        ("CamVid/val/y.png", "CamVid/valannot/y.png", "val"),
    ]
    with pytest.raises(Invalid, match="test/z.png: no mask"):
        _pairs("camvid", "train/x.png", "trainannot/x.png", "test/z.png")


def test_cityscapes_pairs_label_ids_and_ignores_other_products():
    base = "gtFine/val/bremen/bremen_000000_000019_gtFine"
    got = _pairs(
        "cityscapes",
        "leftImg8bit/val/bremen/bremen_000000_000019_leftImg8bit.png",
        f"{base}_labelIds.png",
        f"{base}_color.png",
        f"{base}_instanceIds.png",
        f"{base}_polygons.json",
    )
    assert got == [
        (
            "leftImg8bit/val/bremen/bremen_000000_000019_leftImg8bit.png",
            f"{base}_labelIds.png",
            "val",
        )
    ]


def test_detect_layout():
    assert detect_layout(["x/manifest.json", "x/images/a.png"]) == "segtune"
    assert detect_layout(["leftImg8bit/train/c/a_leftImg8bit.png", "gtFine/train/c/a.png"]) == (
        "cityscapes"
    )
    assert detect_layout(["train/a.png", "trainannot/a.png"]) == "camvid"
    assert detect_layout(["images/a.png", "masks/a.png"]) == "plain"
    assert detect_layout(["images/a.png", "masks/a.png"], colour_mapping=True) == "color"


def test_segtune_manifest_pairs_and_refuses_missing_files():
    manifest = {
        "classes": [{"index": 0, "name": "background", "color": "#000000"}],
        "frames": [
            {
                "image": "images/a.png",
                "mask": "masks/a.png",
                "split": "val",
                "label_status": "in_progress",
                "source": {"video": "v.mp4", "frame_index": 7, "timestamp_s": 0.25},
            },
            {"image": "images/b.png", "mask": None, "split": None},
        ],
    }
    files = {"exp/manifest.json": json.dumps(manifest).encode()}
    source = Names("exp/images/a.png", "exp/masks/a.png", "exp/images/b.png", files=files)
    dataset = find_pairs(source, "segtune")
    first, second = dataset.pairs
    assert (first.image, first.mask, first.split) == ("exp/images/a.png", "exp/masks/a.png", "val")
    assert first.meta["label_status"] == "in_progress"
    assert first.meta["source_name"] == "v.mp4 #7" and first.meta["timestamp_s"] == 0.25
    assert (second.mask, second.split) == (None, None)
    assert dataset.classes[0]["name"] == "background"
    with pytest.raises(Invalid, match="exp/masks/a.png: listed in exp/manifest.json but missing"):
        find_pairs(Names("exp/images/a.png", "exp/images/b.png", files=files), "segtune")
    manifest["frames"][0]["image"] = "../../etc/passwd"
    files = {"exp/manifest.json": json.dumps(manifest).encode()}
    with pytest.raises(Invalid, match="bad image file name"):
        find_pairs(Names(files=files), "segtune")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.png", "outside"),
        ("a/../../evil.png", "outside"),
        ("/etc/evil.png", "absolute"),
        ("C:/evil.png", "absolute"),
        ("a\\..\\evil.png", "backslash"),
        ("ok/name.png", None),
    ],
)
def test_unsafe_names(name, reason):
    got = unsafe_reason(name)
    assert (got is None) if reason is None else (reason in got)


def _zip(path, entries: dict[str, bytes], symlink: str | None = None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_zip_checks(tmp_path, monkeypatch):
    ok = ZipSource(_zip(tmp_path / "ok.zip", {"a/x.png": b"1", "__MACOSX/a/._x.png": b"2"}), 2**20)
    assert ok.names == ["a/x.png"] and ok.read("a/x.png") == b"1"
    ok.close()
    with pytest.raises(Invalid, match="not a readable zip"):
        (tmp_path / "no.zip").write_bytes(b"PK\x03\x04 nope")
        ZipSource(tmp_path / "no.zip", 2**20)
    with pytest.raises(Invalid, match="'link.png' is a symbolic link"):
        ZipSource(_zip(tmp_path / "l.zip", {"a.png": b"1"}, symlink="link.png"), 2**20)
    with pytest.raises(Invalid, match="zip bomb"):
        ZipSource(_zip(tmp_path / "b.zip", {"big.png": bytes(9 * 2**20)}), 2**20)
    monkeypatch.setattr(archive, "MAX_ENTRIES", 3)
    with pytest.raises(Invalid, match="4 entries"):
        ZipSource(_zip(tmp_path / "m.zip", {f"{i}.png": b"" for i in range(4)}), 2**20)


def test_folder_source(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.png").write_bytes(b"x")
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    source = FolderSource(tmp_path)
    assert source.names == ["train/a.png"] and source.read("train/a.png") == b"x"
    with pytest.raises(Invalid):
        source.read("../etc/passwd")


def _labels(mapping, mask: np.ndarray, **kw) -> np.ndarray:
    image = Image.fromarray(mask)
    return resolve(parse_mapping(mapping), CLASSES, **kw).apply(image, "m.png")


def test_presets_map_by_class_name():
    camvid = np.array([[8, 6, 11, 0, 3, 10]], np.uint8)
    assert _labels("camvid-default", camvid).tolist() == [[1, 2, 255, 0, 0, 0]]
    cityscapes = np.array([[26, 20, 0, 1, 2, 3, 4, 7, 33]], np.uint8)
    assert _labels("cityscapes-default", cityscapes).tolist() == [
        [1, 2, 255, 255, 255, 255, 0, 0, 0]
    ]
    missing = [ProjectClass(0, "background", "#000000"), ProjectClass(1, "car", "#ffffff")]
    with pytest.raises(Invalid, match="'traffic sign' is not a class of this project"):
        resolve(PRESETS["camvid-default"], missing)


def test_explicit_ids_identity_and_unmapped_values():
    mask = np.array([[5, 7, 255]], np.uint8)
    assert _labels({"5": 1, "7": "traffic sign", "255": "ignore"}, mask).tolist() == [[1, 2, 255]]
    with pytest.raises(Invalid, match="m.png: mask value 7 has no mapping"):
        _labels({"5": 1, "255": 255}, mask)
    assert _labels({"5": 1, "default": "background"}, mask).tolist() == [[1, 0, 0]]
    assert _labels(None, np.array([[0, 2, 255]], np.uint8)).tolist() == [[0, 2, 255]]
    with pytest.raises(Invalid, match="mask value 3 has no mapping"):
        _labels(None, np.array([[3]], np.uint8))
    with pytest.raises(Invalid, match="target 9 is not a class index"):
        resolve(parse_mapping('{"1": 9}'), CLASSES)
    with pytest.raises(Invalid, match="preset"):
        parse_mapping("not json")


def test_colour_mapping():
    rgb = np.zeros((1, 3, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 0, 255)
    mapping = {"#FF0000": "car", "#0000ff": 2, "default": "unlabeled"}
    assert _labels(mapping, rgb, colour=True).tolist() == [[1, 2, 255]]
    with pytest.raises(Invalid, match="colour #0000ff has no mapping"):
        _labels({"#ff0000": 1, "#000000": 0}, rgb, colour=True)
    own = np.array([[[31, 119, 255], [255, 210, 0], [0, 0, 0]]], np.uint8)
    assert _labels(None, own, colour=True).tolist() == [[1, 2, 0]]
    with pytest.raises(Invalid, match="not RGB"):
        _labels(None, rgb)


def test_segtune_classes_match_by_name():
    source = [{"index": 0, "name": "Car"}, {"index": 1, "name": "background"}]
    labels = resolve(None, CLASSES, source_classes=source).apply(
        Image.fromarray(np.array([[0, 1, 255]], np.uint8)), "m.png"
    )
    assert labels.tolist() == [[1, 0, 255]]


def test_cli_map_syntax():
    assert parse_cli_map('8=car,6="traffic sign",11=unlabeled', "background") == {
        "8": "car",
        "6": "traffic sign",
        "11": "unlabeled",
        "default": "background",
    }
    assert parse_cli_map("camvid-default") == PRESETS["camvid-default"]
    assert parse_cli_map(None) is None
    with pytest.raises(Invalid, match="8=car"):
        parse_cli_map("car")


def _decode_rle(counts: str, height: int, width: int) -> np.ndarray:
    """Reference decoder for COCO's compressed RLE (pycocotools' rleFrString)."""
    runs, p = [], 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        runs.append(x + runs[-2] if len(runs) > 2 else x)
    flat = np.repeat(np.arange(len(runs)) % 2, runs).astype(bool)
    return flat.reshape((width, height)).T


def test_rle_round_trip_and_matches_pycocotools():
    rng = np.random.default_rng(0)
    masks = [np.zeros((5, 7), bool), np.ones((4, 3), bool)]
    masks += [rng.random((rng.integers(1, 60), rng.integers(1, 60))) < p for p in (0.1, 0.5, 0.9)]
    big = np.zeros((1080, 1920), bool)
    big[100:900, 5:1800] = True
    masks.append(big)
    for binary in masks:
        text = rle_string(rle_counts(binary))
        assert np.array_equal(_decode_rle(text, *binary.shape), binary)
    coco = pytest.importorskip("pycocotools.mask")
    for binary in masks:
        expected = coco.encode(np.asfortranarray(binary.astype(np.uint8)))["counts"].decode()
        assert rle_string(rle_counts(binary)) == expected
