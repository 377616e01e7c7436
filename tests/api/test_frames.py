"""Images as frames, per-frame edits and split assignment."""

import io

import numpy as np
from PIL import Image

from backend.services.splits import split_counts


def _png(width=40, height=30, color=(10, 20, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_rotated() -> bytes:
    # EXIF orientation 6 = the camera was turned: the upright image is 30 wide, 40 high.
    image = Image.new("RGB", (40, 30), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    image.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def test_upload_images_as_frames(client, project):
    files = [("files", ("a.png", _png())), ("files", ("b.jpg", _jpeg_rotated()))]
    res = client.post(f"/api/projects/{project['id']}/images", files=files)
    assert res.status_code == 201, res.text
    frames = res.json()
    assert [(f["source_name"], f["width"], f["height"]) for f in frames] == [
        ("a.png", 40, 30),
        ("b.jpg", 30, 40),
    ]
    image = client.get(f"/api/frames/{frames[0]['id']}/image")
    assert image.headers["content-type"] == "image/png"
    pixels = np.asarray(Image.open(io.BytesIO(image.content)))
    assert pixels.shape == (30, 40, 3) and tuple(pixels[0, 0]) == (10, 20, 30)
    thumb = client.get(f"/api/frames/{frames[0]['id']}/thumbnail")
    assert thumb.headers["content-type"] == "image/jpeg"


def test_one_bad_image_keeps_none(client, project, settings):
    files = [("files", ("a.png", _png())), ("files", ("evil.png", b"GIF89a not really"))]
    res = client.post(f"/api/projects/{project['id']}/images", files=files)
    assert res.status_code == 422
    assert "evil.png" in res.json()["detail"]
    assert client.get(f"/api/projects/{project['id']}/frames").json() == []
    assert not [p for p in (settings.data_path / "media").rglob("*.png")]


def test_gif_is_rejected(client, project):
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="GIF")
    res = client.post(
        f"/api/projects/{project['id']}/images", files={"files": ("a.gif", buf.getvalue())}
    )
    assert res.status_code == 422 and "JPEG and PNG" in res.json()["detail"]


def _add_frames(client, project, n):
    files = [("files", (f"f{i:02d}.png", _png(color=(i, i, i)))) for i in range(n)]
    return client.post(f"/api/projects/{project['id']}/images", files=files).json()


def test_split_override_and_filters(client, project):
    frames = _add_frames(client, project, 3)
    res = client.patch(f"/api/frames/{frames[0]['id']}", json={"split": "test"})
    assert res.json()["split"] == "test" and res.json()["split_locked"]
    assert client.patch(f"/api/frames/{frames[0]['id']}", json={"split": "nope"}).status_code == 422
    counts = client.post(
        f"/api/projects/{project['id']}/splits",
        json={"strategy": "contiguous", "train": 1, "val": 0, "test": 0},
    ).json()
    # The manual override survives an automatic assignment.
    assert counts == {"train": 2, "val": 0, "test": 1}
    listed = client.get(f"/api/projects/{project['id']}/frames", params={"split": "test"}).json()
    assert [f["id"] for f in listed] == [frames[0]["id"]]


def test_contiguous_split_keeps_blocks(client, project):
    frames = _add_frames(client, project, 20)
    counts = client.post(f"/api/projects/{project['id']}/splits", json={}).json()
    assert counts == {"train": 14, "val": 2, "test": 4}
    by_id = {f["id"]: f for f in client.get(f"/api/projects/{project['id']}/frames").json()}
    order = [by_id[f["id"]]["split"] for f in frames]
    assert order == ["train"] * 14 + ["val"] * 2 + ["test"] * 4


def test_random_split_is_seeded(client, project):
    _add_frames(client, project, 20)
    url = f"/api/projects/{project['id']}/splits"
    body = {"strategy": "random", "seed": 7}
    client.post(url, json=body)
    first = [f["split"] for f in client.get(f"/api/projects/{project['id']}/frames").json()]
    client.post(url, json={"strategy": "random", "seed": 8})
    client.post(url, json=body)
    again = [f["split"] for f in client.get(f"/api/projects/{project['id']}/frames").json()]
    assert first == again
    assert sorted(first).count("train") == 14
    assert first != ["train"] * 14 + ["val"] * 2 + ["test"] * 4
    assert client.post(url, json={"strategy": "bogus"}).status_code == 422


def test_split_counts_sum_and_follow_fractions():
    assert split_counts(46, (0.7, 0.1, 0.2)) == [32, 5, 9]  # the seed study's 32/5/9
    assert split_counts(62, (32, 5, 25)) == [32, 5, 25]
    for n in range(0, 50):
        assert sum(split_counts(n, (0.7, 0.1, 0.2))) == n
