"""Dataset import and export through the API: each layout, every rejection, round trips."""

import io
import json
import stat
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from backend.api import datasets as datasets_api
from backend.db import session_scope
from backend.errors import Invalid
from backend.models import Frame, Job, Mask
from backend.services.datasets import archive
from backend.services.datasets.classmap import parse_cli_map
from backend.services.datasets.exports import run_export
from backend.services.datasets.imports import import_folder, request_folder_import, run_import
from backend.services.jobs import JobCancelled
from backend.services.sampling import run_sampling
from backend.storage import is_owner_lock
from tests.services.test_dataset_layouts import _decode_rle
from tests.videos import make_video
from worker.runner import run_job

W, H = 8, 6


@pytest.fixture
def api(client):
    """The client, with the dataset routes included when the app does not have them yet."""
    if client.get("/api/imports/presets").status_code == 404:
        client.app.include_router(datasets_api.router)
    return client


def _image(seed: int, fmt: str = "PNG", size=(W, H)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _mask(labels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(labels.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _labels(seed: int, values, size=(W, H)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(np.array(values, np.uint8), (size[1], size[0]))


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _post_import(api, project_id: int, data: bytes, **params):
    files = {"file": ("data.zip", data, "application/zip")}
    return api.post(f"/api/projects/{project_id}/imports", files=files, params=params)


def _run(api, job_id: int, body) -> dict:
    state = api.app.state
    run_job(job_id, body, state.sessions, state.storage, state.settings)
    return api.get(f"/api/jobs/{job_id}").json()


def _import(api, project_id: int, data: bytes, **params) -> dict:
    res = _post_import(api, project_id, data, **params)
    assert res.status_code == 202, res.text
    return _run(api, res.json()["id"], run_import)


def _stored(api) -> list[str]:
    root = api.app.state.storage.root
    files = [p for p in root.rglob("*") if p.is_file() and not is_owner_lock(p.name)]
    return sorted(str(p.relative_to(root)) for p in files)  # temp files count, their lock not


def _rows(api) -> tuple[int, int]:
    with session_scope(api.app.state.sessions) as session:
        return (
            session.scalar(select(func.count()).select_from(Frame)),
            session.scalar(select(func.count()).select_from(Mask)),
        )


def _mask_of(api, frame_id: int) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(api.get(f"/api/frames/{frame_id}/mask").content)))


def _frames(api, project_id: int) -> list[dict]:
    return api.get(f"/api/projects/{project_id}/frames").json()


def test_import_camvid_with_preset(api, project, dispatcher):
    camvid = list(range(12))
    expected_lut = np.zeros(256, np.uint8)
    expected_lut[[8, 6, 11]] = [1, 2, 255]
    entries, expected = {}, {}
    for i, split in enumerate(["train", "train", "val", "test"]):
        labels = _labels(i, camvid)
        entries[f"CamVid/{split}/s_{i}.png"] = _image(i)
        entries[f"CamVid/{split}annot/s_{i}.png"] = _mask(labels)
        expected[f"CamVid/{split}/s_{i}.png"] = (split, expected_lut[labels])
    res = _post_import(api, project["id"], _zip(entries), layout="auto", mapping="camvid-default")
    assert res.status_code == 202, res.text
    assert res.json()["kind"] == "import" and res.json()["queue"] == "cpu"
    assert res.json()["params"]["layout"] == "camvid" and dispatcher.sent == [res.json()["id"]]
    job = _run(api, res.json()["id"], run_import)
    assert job["status"] == "succeeded", job
    assert job["result"] == {
        "layout": "camvid",
        "frames_added": 4,
        "masks_added": 4,
        "splits": {"train": 2, "val": 1, "test": 1, "none": 0},
    }
    frames = _frames(api, project["id"])
    assert len(frames) == 4
    for frame in frames:
        split, labels = expected[frame["source_name"]]
        assert (frame["split"], frame["split_locked"]) == (split, True)
        assert (frame["label_status"], frame["mask_version"]) == ("done", 1)
        assert np.array_equal(_mask_of(api, frame["id"]), labels)
        versions = api.get(f"/api/frames/{frame['id']}/masks").json()
        assert [(v["version"], v["source"]) for v in versions] == [(1, "import")]
        image = Image.open(io.BytesIO(api.get(f"/api/frames/{frame['id']}/image").content))
        name = frame["source_name"]
        assert np.array_equal(np.asarray(image), np.asarray(Image.open(io.BytesIO(entries[name]))))
    # Only the frames and masks remain: the uploaded zip is gone.
    assert len(_stored(api)) == 8 and not any(k.endswith(".zip") for k in _stored(api))


def test_frames_imported_into_another_split_say_so_in_their_name(api, project):
    entries = {}
    for i in range(2):
        entries[f"CamVid/train/s_{i}.png"] = _image(i)
        entries[f"CamVid/trainannot/s_{i}.png"] = _mask(_labels(i, [0, 1]))
    job = _import(api, project["id"], _zip(entries), layout="camvid", split="test")
    assert job["status"] == "succeeded", job
    names = sorted((f["source_name"], f["split"]) for f in _frames(api, project["id"]))
    assert names == [
        ("CamVid/train/s_0.png (imported as test)", "test"),
        ("CamVid/train/s_1.png (imported as test)", "test"),
    ]
    # Imported where the dataset put them, the names stay as they are.
    other = api.post("/api/projects", json={"name": "as given"}).json()
    assert _import(api, other["id"], _zip(entries), layout="camvid", split="train")["status"] == (
        "succeeded"
    )
    assert sorted(f["source_name"] for f in _frames(api, other["id"])) == [
        "CamVid/train/s_0.png",
        "CamVid/train/s_1.png",
    ]


def test_import_plain_layouts_with_identity_and_jpeg(api, project):
    a, b = _labels(1, [0, 1, 2, 255]), _labels(2, [0, 1, 2])
    entries = {
        "set/images/val/a.jpg": _image(1, "JPEG"),
        "set/masks/val/a.png": _mask(a),
        "set/extra/b.png": _image(2),
        "set/extra/b_mask.png": _mask(b),
        "set/notes.txt": b"ignored",
    }
    job = _import(api, project["id"], _zip(entries), layout="plain", split="none")
    assert job["status"] == "succeeded", job
    frames = {f["source_name"]: f for f in _frames(api, project["id"])}
    # split=none overrides the folder, and the name says so instead of reading as a val frame.
    val_a = "set/images/val/a.jpg (imported without a split)"
    assert set(frames) == {val_a, "set/extra/b.png"}
    assert frames[val_a]["split"] is None
    assert np.array_equal(_mask_of(api, frames[val_a]["id"]), a)
    assert np.array_equal(_mask_of(api, frames["set/extra/b.png"]["id"]), b)


def test_import_cityscapes_label_ids(api, project):
    source = np.array([[26, 20, 0, 1, 2, 3, 7, 24]] * H, np.uint8)
    base = "gtFine/train/aachen/aachen_000000_000019_gtFine"
    entries = {
        "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png": _image(3),
        f"{base}_labelIds.png": _mask(source),
        f"{base}_color.png": _image(4),
        f"{base}_instanceIds.png": _image(5),
        f"{base}_polygons.json": b"{}",
    }
    job = _import(api, project["id"], _zip(entries), mapping="cityscapes-default")
    assert job["status"] == "succeeded", job
    assert job["result"]["layout"] == "cityscapes"
    (frame,) = _frames(api, project["id"])
    assert frame["split"] == "train"
    assert _mask_of(api, frame["id"])[0].tolist() == [1, 2, 255, 255, 255, 255, 0, 0]


def test_import_colour_masks(api, project):
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, :3] = (255, 0, 0)
    rgb[:, 3:5] = (0, 255, 0)
    rgb[:, 5:] = (31, 119, 255)  # the project's own car colour
    mapping = json.dumps({"#ff0000": "traffic sign", "#00ff00": "unlabeled", "#1f77ff": "car"})
    entries = {"images/a.png": _image(1), "masks/a.png": _rgb_png(rgb)}
    job = _import(api, project["id"], _zip(entries), mapping=mapping)
    assert job["status"] == "succeeded", job
    assert job["result"]["layout"] == "color"
    (frame,) = _frames(api, project["id"])
    assert _mask_of(api, frame["id"])[0].tolist() == [2, 2, 2, 255, 255, 1, 1, 1]


def _rgb_png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("images/a.png", _image(1))
        info = zipfile.ZipInfo("masks/a.png")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


GOOD = {"images/a.png": _image(1), "masks/a.png": _mask(_labels(1, [0, 1]))}


@pytest.mark.parametrize(
    ("data", "params", "needle"),
    [
        (b"this is not a zip", {}, "not a readable zip"),
        (_zip({**GOOD, "../evil.png": _image(2)}), {}, "'../evil.png' points outside"),
        (_zip({**GOOD, "/tmp/evil.png": _image(2)}), {}, "'/tmp/evil.png' is an absolute path"),
        (_symlink_zip(), {}, "'masks/a.png' is a symbolic link"),
        (_zip({"images/a.png": _image(1)}), {}, "images/a.png: no mask found"),
        (_zip(GOOD), {"mapping": '{"1": "bus"}'}, "'bus' is not a class of this project"),
        (_zip(GOOD), {"mapping": "camvid-defaults"}, "preset"),
    ],
)
def test_upload_rejections_are_422_and_leave_nothing(api, project, data, params, needle):
    res = _post_import(api, project["id"], data, **params)
    assert res.status_code == 422, res.text
    assert needle in res.json()["detail"]
    assert api.get("/api/jobs").json() == []
    assert _rows(api) == (0, 0) and _stored(api) == []


def test_zip_bomb_and_too_many_entries_are_refused(api, project, monkeypatch):
    monkeypatch.setattr(api.app.state.settings, "max_upload_mb", 1)
    bomb = _zip({**GOOD, "images/zeros.png": bytes(9 * 2**20)})
    assert len(bomb) < 2**20
    res = _post_import(api, project["id"], bomb)
    assert res.status_code == 422 and "zip bomb" in res.json()["detail"]
    monkeypatch.setattr(archive, "MAX_ENTRIES", 3)
    res = _post_import(api, project["id"], _zip({**GOOD, "b.txt": b"", "c.txt": b""}))
    assert res.status_code == 422 and "at most 3" in res.json()["detail"]
    assert _rows(api) == (0, 0) and _stored(api) == []


def test_import_into_missing_project_is_404(api):
    assert _post_import(api, 999, _zip(GOOD)).status_code == 404


def _with_bad_third(bad: dict[str, bytes]) -> bytes:
    entries = {}
    for i in (1, 2):
        entries[f"images/{i}.png"] = _image(i)
        entries[f"masks/{i}.png"] = _mask(_labels(i, [0, 1, 2, 255]))
    return _zip({**entries, **bad})


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (
            {"images/3.png": b"\x89PNG\r\n\x1a\n broken", "masks/3.png": _mask(_labels(3, [0]))},
            "images/3.png: not a readable image",
        ),
        (
            {"images/3.png": _image(3), "masks/3.png": _mask(np.zeros((H, W + 1), np.uint8))},
            f"masks/3.png: the mask is {W + 1}x{H} but its image images/3.png is {W}x{H}",
        ),
        (
            {"images/3.png": _image(3), "masks/3.png": _mask(_labels(3, [0, 9]))},
            "masks/3.png: mask value 9 has no mapping",
        ),
        (
            {"images/3.png": _image(3), "masks/3.png": _image(4)},
            "masks/3.png: a mask must be a single-channel",
        ),
        (
            {"images/3.png": _image(3), "masks/3.png": _image(3, "JPEG")},
            "masks/3.png: a mask must be PNG",
        ),
    ],
)
def test_bad_entry_fails_the_job_and_leaves_nothing(api, project, bad, needle):
    job = _import(api, project["id"], _with_bad_third(bad))
    assert job["status"] == "failed" and needle in job["error"], job
    assert _rows(api) == (0, 0) and _stored(api) == []


def test_retried_import_asks_for_the_upload_again(api, project):
    bad = {"images/3.png": _image(3), "masks/3.png": _mask(_labels(3, [7]))}
    job = _import(api, project["id"], _with_bad_third(bad))
    assert job["status"] == "failed" and "masks/3.png: mask value 7" in job["error"]
    assert api.post(f"/api/jobs/{job['id']}/retry").json()["status"] == "queued"
    again = _run(api, job["id"], run_import)
    assert again["status"] == "failed" and "upload it again" in again["error"]


def _ctx(api, job_id: int, progress) -> SimpleNamespace:
    state = api.app.state
    with session_scope(state.sessions) as session:
        params = dict(session.get(Job, job_id).params)
    return SimpleNamespace(
        job_id=job_id,
        params=params,
        sessions=state.sessions,
        storage=state.storage,
        settings=state.settings,
        progress=progress,
    )


def test_cancel_after_every_file_was_written_leaves_nothing(api, project):
    job = _post_import(api, project["id"], _with_bad_third({})).json()

    def progress(_fraction, message):
        if message.startswith("saving"):
            assert len(_stored(api)) == 5  # the zip, two frames and two masks
            raise JobCancelled()

    with pytest.raises(JobCancelled):
        run_import(_ctx(api, job["id"], progress))
    assert _rows(api) == (0, 0) and _stored(api) == []


def test_project_deleted_during_import_leaves_nothing(api, project):
    job = _post_import(api, project["id"], _with_bad_third({})).json()

    def progress(_fraction, message):
        if message.startswith("saving"):
            assert api.delete(f"/api/projects/{project['id']}").status_code in (200, 204)

    with pytest.raises(Exception, match="does not exist"):
        run_import(_ctx(api, job["id"], progress))
    assert _rows(api) == (0, 0) and _stored(api) == []


def test_import_folder_for_the_command_line(api, project, tmp_path):
    labels = _labels(7, list(range(12)))
    (tmp_path / "val").mkdir()
    (tmp_path / "valannot").mkdir()
    (tmp_path / "val" / "f.png").write_bytes(_image(7))
    (tmp_path / "valannot" / "f.png").write_bytes(_mask(labels))
    seen = []
    state = api.app.state
    result = import_folder(
        state.sessions,
        state.storage,
        state.settings,
        project["id"],
        tmp_path,
        layout="camvid",
        mapping=parse_cli_map("8=car,6=traffic sign,11=unlabeled", "background"),
        progress=lambda fraction, message: seen.append(fraction),
    )
    assert result["frames_added"] == 1 and result["splits"]["val"] == 1
    assert seen and seen == sorted(seen)
    lut = np.zeros(256, np.uint8)
    lut[[8, 6, 11]] = [1, 2, 255]
    (frame,) = _frames(api, project["id"])
    assert np.array_equal(_mask_of(api, frame["id"]), lut[labels])
    assert (tmp_path / "val" / "f.png").exists()  # a server folder is only read


def _put_mask(api, frame: dict, labels: np.ndarray, version: int) -> None:
    headers = {"Content-Type": "image/png", "If-Match": f'"{version}"'}
    res = api.put(f"/api/frames/{frame['id']}/mask", content=_mask(labels), headers=headers)
    assert res.status_code == 200, res.text


@pytest.fixture
def labelled(api, project, tmp_path) -> dict:
    """Three uploaded images and one sampled video frame, in every state an export meets."""
    files = [("files", (f"{n}.png", _image(i))) for i, n in enumerate("abc")]
    a, b, c = api.post(f"/api/projects/{project['id']}/images", files=files).json()
    with open(make_video(tmp_path / "street clip.mp4", seconds=1, fps=10), "rb") as fh:
        video = api.post(
            f"/api/projects/{project['id']}/videos", files={"file": ("street clip.mp4", fh)}
        ).json()
    job = api.post(f"/api/videos/{video['id']}/sample", json={"every_n_frames": 100}).json()
    assert _run(api, job["id"], run_sampling)["status"] == "succeeded"
    v = next(f for f in _frames(api, project["id"]) if f["video_id"] == video["id"])
    _put_mask(api, a, _labels(10, [0, 1, 2]), 0)
    _put_mask(api, a, _labels(11, [0, 1, 2, 255]), 1)  # version 2 is the one to export
    _put_mask(api, b, _labels(12, [0, 2, 255]), 0)
    _put_mask(api, v, _labels(13, [0, 1, 255], size=(160, 120)), 0)
    for frame, split, status in [(a, "train", "done"), (b, "val", None), (v, "test", "done")]:
        body = {"split": split} | ({"label_status": status} if status else {})
        assert api.patch(f"/api/frames/{frame['id']}", json=body).status_code == 200
    return {"project": project, "a": a, "b": b, "c": c, "video": v}


def _export(api, project_id: int, **body) -> tuple[dict, zipfile.ZipFile]:
    res = api.post(f"/api/projects/{project_id}/exports", json=body)
    assert res.status_code == 202, res.text
    assert res.json()["kind"] == "export" and res.json()["queue"] == "cpu"
    job = _run(api, res.json()["id"], run_export)
    assert job["status"] == "succeeded", job
    download = api.get(f"/api/exports/{job['id']}/download")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert job["result"]["filename"] in download.headers["content-disposition"]
    return job, zipfile.ZipFile(io.BytesIO(download.content))


def _png_array(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_export_segtune_layout_with_coco(api, labelled):
    project = labelled["project"]
    job, zf = _export(api, project["id"], coco=True)
    assert job["result"]["frames"] == 4 and job["result"]["masks"] == 3
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["classes"] == project["classes"]
    entries = {e["id"]: e for e in manifest["frames"]}
    for key in ("a", "b", "c", "video"):
        frame = api.get(f"/api/frames/{labelled[key]['id']}").json()
        entry = entries[frame["id"]]
        assert (entry["split"], entry["label_status"]) == (frame["split"], frame["label_status"])
        assert entry["mask_version"] == frame["mask_version"]
        image = api.get(f"/api/frames/{frame['id']}/image").content
        assert zf.read(entry["image"]) == image
        if frame["mask_version"] == 0:
            assert entry["mask"] is None and entry["preview"] is None
            continue
        assert zf.read(entry["mask"]) == api.get(f"/api/frames/{frame['id']}/mask").content
        preview = Image.open(io.BytesIO(zf.read(entry["preview"])))
        assert preview.size == (frame["width"], frame["height"]) and preview.mode == "RGB"
    video_entry = entries[labelled["video"]["id"]]
    assert video_entry["name"] == f"street_clip_{labelled['video']['index']:06d}"
    assert video_entry["source"] == {
        "video": "street clip.mp4",
        "frame_index": labelled["video"]["index"],
        "timestamp_s": labelled["video"]["timestamp_s"],
        "name": None,
    }
    assert entries[labelled["a"]["id"]]["mask_version"] == 2
    coco = json.loads(zf.read("coco.json"))
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3]
    assert len(coco["images"]) == 4
    by_image: dict[int, list] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    for image in coco["images"]:
        entry = entries[image["id"]]
        if entry["mask"] is None:
            assert image["id"] not in by_image
            continue
        labels = _png_array(zf.read(entry["mask"]))
        present = sorted(int(v) for v in np.unique(labels) if v != 255)
        assert sorted(a["category_id"] - 1 for a in by_image[image["id"]]) == present
        for ann in by_image[image["id"]]:
            binary = labels == ann["category_id"] - 1
            rle = ann["segmentation"]
            assert rle["size"] == [image["height"], image["width"]]
            assert np.array_equal(_decode_rle(rle["counts"], *rle["size"]), binary)
            assert ann["area"] == int(binary.sum())
    mask_api = pytest.importorskip("pycocotools.mask")
    for ann in coco["annotations"]:
        labels = _png_array(zf.read(entries[ann["image_id"]]["mask"]))
        decoded = mask_api.decode(ann["segmentation"]).astype(bool)
        assert np.array_equal(decoded, labels == ann["category_id"] - 1)
        assert mask_api.area(ann["segmentation"]) == ann["area"]
        assert mask_api.toBbox(ann["segmentation"]).tolist() == ann["bbox"]


def test_export_filters(api, labelled):
    project_id = labelled["project"]["id"]
    _job, zf = _export(api, project_id, split="train")
    assert [e["id"] for e in json.loads(zf.read("manifest.json"))["frames"]] == [
        labelled["a"]["id"]
    ]
    _job, zf = _export(api, project_id, only_labeled=True)
    ids = {e["id"] for e in json.loads(zf.read("manifest.json"))["frames"]}
    assert ids == {labelled["a"]["id"], labelled["video"]["id"]}
    empty = api.post(
        f"/api/projects/{project_id}/exports", json={"split": "val", "only_labeled": True}
    )
    assert empty.status_code == 422
    bad = api.post(f"/api/projects/{project_id}/exports", json={"layout": "voc"})
    assert bad.status_code == 422


def _same_masks(api, old_frames: list[dict], new_frames: list[dict], remap=None) -> None:
    assert len(old_frames) == len(new_frames)
    for old, new in zip(old_frames, new_frames, strict=True):
        assert (old["split"], old["label_status"]) == (new["split"], new["label_status"])
        assert (old["width"], old["height"]) == (new["width"], new["height"])
        old_image = _png_array(api.get(f"/api/frames/{old['id']}/image").content)
        assert np.array_equal(
            old_image, _png_array(api.get(f"/api/frames/{new['id']}/image").content)
        )
        if old["mask_version"] == 0:
            assert new["mask_version"] == 0
            continue
        expected = _mask_of(api, old["id"])
        if remap is not None:
            expected = remap[expected]
        assert np.array_equal(_mask_of(api, new["id"]), expected)


def test_export_then_import_gives_identical_masks(api, labelled):
    project = labelled["project"]
    _job, zf = _export(api, project["id"])
    target = api.post("/api/projects", json={"name": "copy"}).json()
    data = zf.fp.getvalue()
    job = _import(api, target["id"], data)
    assert job["status"] == "succeeded", job
    assert job["result"]["layout"] == "segtune" and job["result"]["masks_added"] == 3
    old = sorted(_frames(api, project["id"]), key=lambda f: f["id"])
    order = [e["id"] for e in json.loads(zf.read("manifest.json"))["frames"]]
    old = sorted(old, key=lambda f: order.index(f["id"]))
    new = sorted(_frames(api, target["id"]), key=lambda f: f["id"])
    _same_masks(api, old, new)
    video = next(n for o, n in zip(old, new, strict=True) if o["video_id"])
    assert video["timestamp_s"] == labelled["video"]["timestamp_s"]
    assert video["source_name"] == f"street clip.mp4 #{labelled['video']['index']}"

    # Classes are matched by name, so a project with another class order gets the same labels.
    classes = [project["classes"][i] for i in (2, 0, 1)]
    reordered = api.post("/api/projects", json={"name": "re", "classes": classes}).json()
    assert _import(api, reordered["id"], data)["status"] == "succeeded"
    remap = np.full(256, 255, np.uint8)
    remap[[0, 1, 2]] = [1, 2, 0]
    new = sorted(_frames(api, reordered["id"]), key=lambda f: f["id"])
    _same_masks(api, old, new, remap)


def test_export_into_a_project_without_its_classes_names_the_class(api, labelled):
    _job, zf = _export(api, labelled["project"]["id"])
    classes = [{"name": "background", "color": "#000000"}, {"name": "car", "color": "#ff0000"}]
    target = api.post("/api/projects", json={"name": "two", "classes": classes}).json()
    job = _import(api, target["id"], zf.fp.getvalue())
    assert job["status"] == "failed"
    assert "mask value 2 (class 'traffic sign' of the export) has no mapping" in job["error"]
    mapping = json.dumps({"2": "unlabeled", "0": 0, "1": 1, "255": 255})
    assert _import(api, target["id"], zf.fp.getvalue(), mapping=mapping)["status"] == "succeeded"


def test_cityscapes_export_imports_back_in_its_own_layout(api, labelled):
    project = labelled["project"]
    _job, zf = _export(api, project["id"], layout="cityscapes", only_labeled=True)
    names = set(zf.namelist())
    clip = f"street_clip_{labelled['video']['index']:06d}"
    assert f"leftImg8bit/test/street_clip/{clip}_leftImg8bit.png" in names
    assert f"gtFine/test/street_clip/{clip}_gtFine_labelIds.png" in names
    assert "gtFine/train/images/a_gtFine_color.png" in names
    colour = _png_array(zf.read("gtFine/train/images/a_gtFine_color.png"))
    labels = _png_array(zf.read("gtFine/train/images/a_gtFine_labelIds.png"))
    assert colour.shape == (H, W, 3) and tuple(colour[labels == 1][0]) == (31, 119, 255)
    without_manifest = _zip({n: zf.read(n) for n in names if n != "manifest.json"})
    target = api.post("/api/projects", json={"name": "cs"}).json()
    job = _import(api, target["id"], without_manifest, layout="cityscapes")
    assert job["status"] == "succeeded", job
    old = [api.get(f"/api/frames/{labelled[k]['id']}").json() for k in ("a", "video")]
    by_name = {f["source_name"].split("/")[-1]: f for f in _frames(api, target["id"])}
    new = [by_name["a_leftImg8bit.png"], by_name[f"{clip}_leftImg8bit.png"]]
    _same_masks(api, old, new)


def test_download_errors(api, labelled):
    project_id = labelled["project"]["id"]
    queued = api.post(f"/api/projects/{project_id}/exports", json={}).json()
    assert api.get(f"/api/exports/{queued['id']}/download").status_code == 409
    other = _post_import(api, project_id, _zip(GOOD)).json()
    assert api.get(f"/api/exports/{other['id']}/download").status_code == 404
    assert api.get("/api/exports/999/download").status_code == 404


def test_folder_import_as_a_job_for_the_command_line(api, project, tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "x.png").write_bytes(_image(8))
    (tmp_path / "masks" / "x.png").write_bytes(_mask(_labels(8, [0, 1, 2])))
    state = api.app.state
    with session_scope(state.sessions) as session:
        job_id = request_folder_import(session, project["id"], tmp_path, mapping=None).id
        with pytest.raises(Invalid, match="not a directory"):
            request_folder_import(session, project["id"], tmp_path / "missing")
        with pytest.raises(Invalid, match="images/x.png: no mask"):
            (tmp_path / "masks" / "x.png").rename(tmp_path / "x.png")
            request_folder_import(session, project["id"], tmp_path)
    (tmp_path / "x.png").rename(tmp_path / "masks" / "x.png")
    job = _run(api, job_id, run_import)
    assert job["status"] == "succeeded" and job["params"]["folder"] == str(tmp_path.resolve())
    assert job["result"]["frames_added"] == 1
