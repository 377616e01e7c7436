"""Whole-video prediction: request checks, and the outputs against the model's own predictions."""

import csv
import io
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from backend.media import upright_image
from tests.api.test_model_jobs import CLASSES
from worker.ml.checkpoints import ModelMeta, load_model, save_checkpoint
from worker.ml.evaluate import class_probs_batch, predict
from worker.ml.models import build_model
from worker.ml.runtime import resolve_device
from worker.predict_layout import STRIP
from worker.predict_video import mask_name
from worker.prediction import run_prediction
from worker.registration import rgb_color, run_registration
from worker.runner import run_job
from worker.smoothing import flicker

W, H, FPS, N = 96, 64, 8, 10  # stored size; the clip is turned 90 degrees: 64 wide, 96 high


def _run(client, job_id, body):
    state = client.app.state
    return run_job(job_id, body, state.sessions, state.storage, state.settings)


def make_clip(path: Path, rotation: int | None = 90) -> Path:
    """Noise with a moving bright box: content a random network's prediction varies over."""
    rng = np.random.default_rng(3)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(N):
            pixels = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
            pixels[10:40, 5 + 6 * i : 35 + 6 * i] = (250, 240, 30)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(stream.encode())
    return path


def _register(client, dispatcher, tmp_path, seed: int, name: str) -> dict:
    torch.manual_seed(seed)
    net = build_model("deeplabv3plus_mobilenet", 3, 16)
    # Random heads predict one class everywhere; a strong last layer makes the map vary.
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
    path = save_checkpoint(
        tmp_path / f"{name}.pth", net, ModelMeta("deeplabv3plus_mobilenet", 16, CLASSES)
    )
    with open(path, "rb") as fh:
        row = client.post("/api/models", files={"file": (path.name, fh)}, data={"name": name})
    assert _run(client, dispatcher.sent[-1], run_registration) == "succeeded"
    return {**row.json(), "path": path}


@pytest.fixture
def video(client, project, tmp_path) -> dict:
    clip = make_clip(tmp_path / "clip.mp4")
    with open(clip, "rb") as fh:
        res = client.post(f"/api/projects/{project['id']}/videos", files={"file": ("c.mp4", fh)})
    assert res.status_code == 201, res.text
    return {**res.json(), "path": clip}


def _source_frames(path: Path) -> list[np.ndarray]:
    """Upright frames as the sampling code decodes them."""
    with av.open(str(path)) as container:
        return [np.asarray(upright_image(f)) for f in container.decode(video=0)]


def _decoded(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _nearest_class(pixels: np.ndarray, colors: np.ndarray) -> np.ndarray:
    dist = ((pixels[:, :, None, :].astype(int) - colors[None, None]) ** 2).sum(-1)
    return dist.argmin(-1)


def test_side_by_side_and_masks_match_the_models_frame_by_frame(
    client, dispatcher, video, tmp_path
):
    after = _register(client, dispatcher, tmp_path, 1, "fine-tuned")
    before = _register(client, dispatcher, tmp_path, 2, "base")
    body = {"model_id": after["id"], "compare_model_id": before["id"], "opacity": 1.0}
    job = client.post(f"/api/videos/{video['id']}/predict", json={**body, "masks": True})
    assert job.status_code == 202, job.text
    assert _run(client, job.json()["id"], run_prediction) == "succeeded"
    done = client.get(f"/api/jobs/{job.json()['id']}").json()
    assert done["result"]["frames"] == N and done["result"]["fps"] == FPS

    frames = _source_frames(video["path"])
    assert frames[0].shape == (W, H, 3)  # upright: the rotation was applied
    device = resolve_device("cpu")
    expected = {}
    for which, row in (("after", after), ("before", before)):
        net, meta = load_model(row["path"])
        expected[which] = [predict(net, f, meta.mean, meta.std, device) for f in frames]
    assert len({int(c) for p in expected["after"] for c in np.unique(p)}) >= 2

    archive = client.get(f"/api/jobs/{job.json()['id']}/outputs/masks_zip")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        names = zf.namelist()
        assert names == [mask_name(i, round(i / FPS, 6)) for i in range(N)]
        for name, want in zip(names, expected["after"], strict=True):
            got = np.asarray(Image.open(io.BytesIO(zf.read(name))))
            assert got.dtype == np.uint8 and got.ndim == 2
            assert np.array_equal(got, want), name

    movie = client.get(f"/api/jobs/{job.json()['id']}/video")
    assert movie.status_code == 200 and movie.headers["content-type"] == "video/mp4"
    decoded = _decoded(movie.content)
    assert len(decoded) == N
    classes = client.get(f"/api/projects/{video['project_id']}").json()["classes"]
    colors = np.asarray([rgb_color(c["color"]) for c in classes])
    for k, picture in enumerate(decoded):
        assert picture.shape == (STRIP + W + STRIP, 2 * H, 3)
        for side, which in enumerate(("before", "after")):
            panel = picture[STRIP : STRIP + W, side * H : (side + 1) * H]
            agree = (_nearest_class(panel, colors) == expected[which][k]).mean()
            assert agree > 0.9, (k, which, agree)  # H.264 blurs class edges, nothing more

    size = len(movie.content)
    part = client.get(f"/api/jobs/{job.json()['id']}/video", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{size}"
    assert part.content == movie.content[100:1100]
    tail = client.get(f"/api/jobs/{job.json()['id']}/video", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == movie.content[-10:]

    timeline = client.get(f"/api/jobs/{job.json()['id']}/outputs/timeline_csv").text
    rows = list(csv.DictReader(io.StringIO(timeline)))
    assert len(rows) == 2 * N and rows[1]["model"] == "fine-tuned"
    for k, want in enumerate(expected["after"]):
        row = rows[2 * k + 1]
        assert int(row["frame_index"]) == k
        assert float(row["car"]) == pytest.approx((want == 1).mean(), abs=1e-6)
    chart = client.get(f"/api/jobs/{job.json()['id']}/outputs/timeline_png")
    assert Image.open(io.BytesIO(chart.content)).size == (1000, 400)


def test_bad_requests_are_refused_before_any_job(client, dispatcher, project, video, tmp_path):
    model = _register(client, dispatcher, tmp_path, 1, "m")
    url = f"/api/videos/{video['id']}/predict"
    sent = len(dispatcher.sent)
    cases = [
        ({"model_id": model["id"], "start_s": 0.5, "end_s": 9.0}, 422, "within the video"),
        ({"model_id": model["id"], "start_s": 1.0, "end_s": 0.5}, 422, "start_s below end_s"),
        ({"model_id": model["id"], "class_map": [0, 1]}, 422, "needs 3 entries"),
        ({"model_id": model["id"], "class_map": [0, 1, 7]}, 422, "not project class"),
        ({"model_id": model["id"], "compare_model_id": model["id"]}, 422, "another model"),
        ({"model_id": model["id"], "compare_class_map": [0, 1, 2]}, 422, "needs a compare_model"),
        ({"model_id": 999}, 404, "does not exist"),
        ({"model_id": model["id"], "fps": 0}, 422, "fps"),
    ]
    for body, status, words in cases:
        res = client.post(url, json=body)
        assert res.status_code == status, (body, res.text)
        assert words in res.text, (body, res.text)
    pending = client.post("/api/models", files={"file": ("x.pth", b"not yet checked")}).json()
    res = client.post(url, json={"model_id": pending["id"]})
    assert res.status_code == 422 and "not ready" in res.json()["detail"]
    token = client.get(f"/api/videos/{video['id']}/deletion").json()["token"]
    assert client.delete(f"/api/videos/{video['id']}", params={"token": token}).status_code == 200
    gone = client.post(url, json={"model_id": model["id"]})
    assert gone.status_code == 404 and "does not exist" in gone.json()["detail"]
    assert len(dispatcher.sent) == sent + 1  # only the pending model's registration
    assert all(j["kind"] != "predict" for j in client.get("/api/jobs").json())


def test_outputs_of_an_unfinished_or_other_job_are_refused(client, dispatcher, video, tmp_path):
    model = _register(client, dispatcher, tmp_path, 1, "m")
    job = client.post(f"/api/videos/{video['id']}/predict", json={"model_id": model["id"]}).json()
    res = client.get(f"/api/jobs/{job['id']}/video")
    assert res.status_code == 409 and "queued" in res.json()["detail"]
    other = client.get(f"/api/jobs/{dispatcher.sent[0]}/video")
    assert other.status_code == 404 and "not a video prediction" in other.json()["detail"]
    assert client.get(f"/api/jobs/{job['id']}/outputs/nope").status_code == 422


def test_deleting_the_video_or_a_model_cancels_its_prediction(client, dispatcher, video, tmp_path):
    a = _register(client, dispatcher, tmp_path, 1, "a")
    b = _register(client, dispatcher, tmp_path, 2, "b")
    url = f"/api/videos/{video['id']}/predict"
    # The compare model read through a given map (what a fine-tune's report sends).
    body = {"model_id": a["id"], "compare_model_id": b["id"], "compare_class_map": [0, 2, 1]}
    short = client.post(url, json={**body, "compare_class_map": [0, 2]})
    assert short.status_code == 422 and f"model {b['id']} needs 3" in short.json()["detail"]
    first = client.post(url, json=body).json()
    assert first["params"]["class_maps"] == {str(a["id"]): None, str(b["id"]): [0, 2, 1]}
    preview = client.get(f"/api/models/{b['id']}/deletion").json()
    assert first["id"] in [j["id"] for j in preview["jobs_cancelled"]], preview
    token = client.get(f"/api/videos/{video['id']}/deletion").json()["token"]
    client.delete(f"/api/videos/{video['id']}", params={"token": token})
    assert client.get(f"/api/jobs/{first['id']}").json()["status"] == "cancelled"


def test_smoothing_averages_neighbouring_frames(client, dispatcher, video, tmp_path):
    model = _register(client, dispatcher, tmp_path, 1, "m")
    url = f"/api/videos/{video['id']}/predict"
    assert "odd number" in client.post(url, json={"model_id": model["id"], "smooth": 4}).text
    job = client.post(url, json={"model_id": model["id"], "smooth": 3, "masks": True}).json()
    assert _run(client, job["id"], run_prediction) == "succeeded"
    net, meta = load_model(model["path"])
    device = resolve_device("cpu")
    probs = [
        class_probs_batch(net, [f], meta.mean, meta.std, device, 3)[0].float()
        for f in _source_frames(video["path"])
    ]
    archive = client.get(f"/api/jobs/{job['id']}/outputs/masks_zip").content
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        got = [np.asarray(Image.open(io.BytesIO(zf.read(n)))) for n in zf.namelist()]
    assert len(got) == N
    plain = [p.argmax(0).numpy() for p in probs]
    for k in range(N):
        window = probs[max(0, k - 1) : k + 2]
        assert np.array_equal(got[k], torch.stack(window).mean(0).argmax(0).numpy()), k
    assert flicker(got) <= flicker(plain)
