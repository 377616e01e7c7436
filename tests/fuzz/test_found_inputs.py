"""Inputs the fuzzers found that once made the API answer 500 (or store junk), as plain tests."""

import io
import json
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from backend.services.datasets.imports import run_import
from worker.runner import run_job


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data)  # a ZipInfo keeps even an empty name
    return buf.getvalue()


@pytest.fixture
def frame(client, project) -> dict:
    files = {"files": ("f.png", _png(np.zeros((6, 8, 3), np.uint8)))}
    return client.post(f"/api/projects/{project['id']}/images", files=files).json()[0]


def _import(client, project: dict, data: bytes, **params):
    files = {"file": ("data.zip", data, "application/zip")}
    return client.post(f"/api/projects/{project['id']}/imports", files=files, params=params)


def test_a_mask_png_claiming_a_huge_size_is_refused(client, frame):
    ihdr = struct.pack(">IIBBBBB", 2**20, 2**20, 8, 0, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b"")
    res = client.put(
        f"/api/frames/{frame['id']}/mask",
        content=bomb,
        headers={"If-Match": '"0"', "Content-Type": "image/png"},
    )
    assert res.status_code == 422 and "size far over the frame's 8x6" in res.json()["detail"]


@pytest.mark.parametrize("number", ["\u00b2", "9" * 5000])
def test_numbers_int_cannot_read_are_refused(client, frame, number):
    headers = {"If-Match": f'"{number}"'.encode("latin-1"), "Content-Type": "image/png"}
    res = client.put(f"/api/frames/{frame['id']}/mask", content=b"x", headers=headers)
    assert res.status_code == 422 and "If-Match" in res.json()["detail"]
    files, data = {"file": ("m.pth", b"x")}, {"project_id": number}
    res = client.post("/api/models", files=files, data=data)
    assert res.status_code == 422 and "project_id" in res.json()["detail"]


@pytest.mark.parametrize(
    "path",
    ["/api/frames/9223372036854775808", "/api/jobs?project_id=99999999999999999999"],
)
def test_ids_beyond_64_bits_are_a_client_error(client, path):
    res = client.get(path)
    assert res.status_code in (404, 422) and res.json()["detail"], res.text


def test_nul_characters_are_stored_or_refused(client, project):
    res = client.post("/api/projects", json={"name": "a\x00b"})
    assert res.status_code in (201, 422), res.text  # PostgreSQL text cannot hold NUL
    res = client.get(f"/api/projects/{project['id']}/frames", params={"split": "a\x00b"})
    assert res.status_code in (200, 422), res.text


def test_infinite_split_weights_are_refused(client, project):
    res = client.post(f"/api/projects/{project['id']}/splits", json={"test": 1.7e308})
    assert res.status_code == 422 and "at most" in res.json()["detail"]


def test_a_zip_entry_with_an_empty_name_is_refused(client, project):
    res = _import(client, project, _zip({"\x00x.png": b"x", "a.png": b"y"}))
    assert res.status_code == 422 and "empty name" in res.json()["detail"]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ('{"8": ' + "[" * 3000 + "]" * 3000 + "}", "JSON object"),
        ('{"\u00b2": "car"}', "source ids 0-255"),
        ('{"8": "\u00b2"}', "not a class of this project"),
    ],
)
def test_hostile_mappings_are_refused(client, project, mapping, message):
    data = _zip({"images/a.png": _png(np.zeros((6, 8, 3), np.uint8)), "masks/a.png": b""})
    res = _import(client, project, data, mapping=mapping)
    assert res.status_code == 422 and message in res.json()["detail"], res.text


@pytest.mark.parametrize(
    "manifest",
    [
        b"[" * 3000 + b"]" * 3000,
        b'{"classes": [{"index": Infinity, "name": "a", "color": "b"}], "frames": []}',
        b'{"classes": [], "frames": [{"image": "a.png"}, {"image": "a.png"}]}',
    ],
)
def test_broken_segtune_manifests_are_refused(client, project, manifest):
    data = _zip({"manifest.json": manifest, "a.png": _png(np.zeros((6, 8, 3), np.uint8))})
    res = _import(client, project, data, layout="segtune")
    assert res.status_code == 422 and "manifest.json" in res.json()["detail"], res.text


def test_non_finite_manifest_timestamps_are_dropped(client, project):
    frame = {"image": "a.png", "mask": None, "source": {"timestamp_s": float("nan")}}
    manifest = json.dumps({"classes": [], "frames": [frame]}).encode()  # NaN is written bare
    data = _zip({"manifest.json": manifest, "a.png": _png(np.zeros((6, 8, 3), np.uint8))})
    res = _import(client, project, data, layout="segtune")
    assert res.status_code == 202, res.text
    state = client.app.state
    run_job(res.json()["id"], run_import, state.sessions, state.storage, state.settings)
    frames = client.get(f"/api/projects/{project['id']}/frames")
    assert frames.status_code == 200 and frames.json()[0]["timestamp_s"] is None


def test_unknown_cityscapes_split_folders_give_no_split(client, project):
    image = _png(np.zeros((6, 8, 3), np.uint8))
    data = _zip(
        {
            "leftImg8bit/train_extra/c/c_1_leftImg8bit.png": image,
            "gtFine/train_extra/c/c_1_gtFine_labelIds.png": _png(np.zeros((6, 8), np.uint8)),
        }
    )
    res = _import(client, project, data, layout="cityscapes", mapping="cityscapes-default")
    assert res.status_code == 202, res.text
    state = client.app.state
    run_job(res.json()["id"], run_import, state.sessions, state.storage, state.settings)
    frames = client.get(f"/api/projects/{project['id']}/frames").json()
    assert [f["split"] for f in frames] == [None]
