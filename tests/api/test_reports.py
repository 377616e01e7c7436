"""Report routes on a finished fine-tune job, built directly in the database, with known pixels."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from backend.db import session_scope
from backend.models import Frame, Job, Mask, Video
from backend.models.base import utcnow
from backend.services.mask_codec import pixel_counts
from backend.services.reports import service
from backend.services.reports.source import load_source, load_test_frame
from tests.services.test_reports import assert_ci_equal, reference_intervals
from worker.ml import metrics

H, W = 16, 24
N_FRAMES = 6
PNG = b"\x89PNG\r\n\x1a\n"
# Each test frame from a drive of its own, so each is an independent block: the block bootstrap
# is then exactly the frame bootstrap the reference computes, and 6 blocks allow a verdict.
SOURCE_NAMES = [f"drive{k}_{100 * k:06d}.png" for k in range(N_FRAMES)]


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _pictures(seed: int, n_classes: int):
    """Ground truth and two predictions per frame: 'after' mostly right, 'before' mostly not."""
    rng = np.random.default_rng(seed)
    truths, befores, afters = [], [], []
    for k in range(N_FRAMES):
        truth = rng.integers(0, n_classes - 1, (H, W)).astype(np.uint8)
        if k % 2 == 0:  # the last class is labeled in every other frame only
            truth[2:6, 3:9] = n_classes - 1
        truth[:, :2] = 255
        after = np.where(rng.random((H, W)) < 0.85, truth, rng.integers(0, n_classes, (H, W)))
        before = np.where(rng.random((H, W)) < 0.4, truth, rng.integers(0, n_classes, (H, W)))
        truths.append(truth)
        afters.append(np.where(truth == 255, 0, after).astype(np.uint8))
        befores.append(np.where(truth == 255, 0, before).astype(np.uint8))
    return truths, befores, afters


def _scored(storage, job_id, label, preds, truths, names, frame_names=SOURCE_NAMES):
    keys = []
    for k, pred in enumerate(preds):
        keys.append(f"jobs/{job_id}/{label}/{k:03d}_street_{k}.png")
        storage.put_bytes(keys[-1], _png(pred))
    frame_cms = [
        metrics.confusion_matrix(t, p, len(names)) for t, p in zip(truths, preds, strict=True)
    ]
    total = np.sum(frame_cms, axis=0)
    return {
        "model_id": 1 if label == "before" else 2,
        "name": f"{label} model",
        "metrics": metrics.summarize(total, names),
        "confusion": total.tolist(),
        "frame_confusions": [cm.tolist() for cm in frame_cms],
        "frame_names": list(frame_names),
        "prediction_keys": keys,
    }


def _history_and_timeline(storage, job_id):
    history, timeline = [], []
    for i in range(4):
        history.append(
            {"iteration": i, "total": 3, "train_loss": None if i == 0 else 1.0 / i,
             "val_loss": 1.2 - 0.2 * i, "val_miou": 0.2 + 0.1 * i if i < 3 else 0.35,
             "eta_seconds": 3 - i, "lr": 0.01, "elapsed_seconds": i, "is_best": i == 2}
        )  # fmt: skip
        overlays = []
        for k in range(2):
            key = f"jobs/{job_id}/timeline/{i:05d}_{k}.png"
            storage.put_bytes(key, _png(np.full((H, W, 3), 60 * i + k, np.uint8)))
            overlays.append({"key": key, "frame": f"val_{k}.png"})
        timeline.append({"iteration": i, "overlays": overlays})
    return history, timeline


def _video(session, project_id: int) -> int:
    video = Video(project_id=project_id, filename="drive.mp4", storage_key="videos/drive.mp4",
                  size_bytes=1, container="mp4", codec="h264", fps=30.0, duration_s=60.0,
                  width=W, height=H, frame_count=1800)  # fmt: skip
    session.add(video)
    session.flush()
    return video.id


def make_job(
    client, project: dict, with_before: bool = True, seed: int = 0, times: list | None = None
) -> dict:
    """A succeeded train job with N_FRAMES labeled test frames and stored predictions.

    The frames are imported files of different drives, or, with `times`, frames of one video at
    those timestamps (seconds).
    """
    storage, sessions = client.app.state.storage, client.app.state.sessions
    names = [c["name"] for c in project["classes"]]
    truths, befores, afters = _pictures(seed, len(names))
    frame_ids, frame_names = [], []
    with session_scope(sessions) as session:
        video_id = _video(session, project["id"]) if times else None
        for k, truth in enumerate(truths):
            image_key = f"projects/{project['id']}/frames/test{seed}_{k}.png"
            storage.put_bytes(image_key, _png(np.full((H, W, 3), 40 * k, np.uint8)))
            place = (
                {"video_id": video_id, "index": round(30 * times[k]), "timestamp_s": times[k]}
                if times
                else {"source_name": SOURCE_NAMES[k]}
            )
            frame = Frame(project_id=project["id"], storage_key=image_key, width=W, height=H,
                          split="test", label_status="done", mask_version=1,
                          **place)  # fmt: skip
            session.add(frame)
            session.flush()
            # What the worker records as the frame's name.
            frame_names.append(frame.source_name or f"frame{frame.id}")
            mask_key = f"projects/{project['id']}/masks/test{seed}_{k}.png"
            storage.put_bytes(mask_key, _png(truth))
            session.add(Mask(frame_id=frame.id, version=1, storage_key=mask_key,
                             class_pixel_counts=pixel_counts(truth)))  # fmt: skip
            frame_ids.append(frame.id)
        job = Job(kind="train", status="succeeded", project_id=project["id"], params={},
                  started_at=utcnow(), finished_at=utcnow())  # fmt: skip
        session.add(job)
        session.flush()
        job_id = job.id
    test = {"after": _scored(storage, job_id, "after", afters, truths, names, frame_names)}
    if with_before:
        test["before"] = _scored(storage, job_id, "before", befores, truths, names, frame_names)
    every = np.stack(truths)
    history, timeline = _history_and_timeline(storage, job_id)
    result = {
        "model_id": 2, "iterations": 3, "best_iteration": 2, "best_val_miou": 0.4,
        "train_seconds": 1.5, "n_train_frames": 6, "n_val_frames": 2, "n_test_frames": N_FRAMES,
        "class_names": names,
        "class_pixels": [int((every == c).sum()) for c in range(len(names))],
        "test": test, "test_frame_ids": frame_ids,
    }  # fmt: skip
    with session_scope(sessions) as session:
        row = session.get(Job, job_id)
        row.result = result
        row.detail = {"history": history, "timeline": timeline}
    return {"id": job_id, "names": names, "truths": truths, "befores": befores, "afters": afters,
            "frame_ids": frame_ids, "history": history}  # fmt: skip


def independent_scores(truths, preds, names) -> dict:
    """Scores from the raw pixels of all test frames, concatenated (no confusion matrix)."""
    t = np.concatenate([x.ravel() for x in truths])
    p = np.concatenate([x.ravel() for x in preds])
    labeled = t != 255
    ious = {}
    for c, name in enumerate(names):
        union = (((t == c) | (p == c)) & labeled).sum()
        inter = ((t == c) & (p == c) & labeled).sum()
        ious[name] = inter / union if union else None
    present = [v for v in ious.values() if v is not None]
    return {
        "pixel_accuracy": (t[labeled] == p[labeled]).mean(),
        "mean_iou": sum(present) / len(present),
        "class_iou": ious,
    }


def _frame_matrices(truths, preds, k: int) -> np.ndarray:
    out = np.zeros((len(truths), k, k), np.int64)
    for i, (t, p) in enumerate(zip(truths, preds, strict=True)):
        labeled = t != 255
        np.add.at(out[i], (t[labeled].astype(int), p[labeled].astype(int)), 1)
    return out


def _approx(scores: dict) -> dict:
    return {
        "pixel_accuracy": pytest.approx(scores["pixel_accuracy"]),
        "mean_iou": pytest.approx(scores["mean_iou"]),
        "class_iou": {
            k: v if v is None else pytest.approx(v) for k, v in scores["class_iou"].items()
        },
    }


def test_report_json_matches_an_independent_computation(client, project):
    job = make_job(client, project)
    res = client.get(f"/api/jobs/{job['id']}/report")
    assert res.status_code == 200, res.text
    body = res.json()
    names = job["names"]
    before = independent_scores(job["truths"], job["befores"], names)
    after = independent_scores(job["truths"], job["afters"], names)
    assert body["before"] == _approx(before)
    assert body["after"] == _approx(after)
    assert body["change"]["mean_iou"] == pytest.approx(after["mean_iou"] - before["mean_iou"])
    for name in names:
        expected = after["class_iou"][name] - before["class_iou"][name]
        assert body["change"]["class_iou"][name] == pytest.approx(expected)
    every = np.stack(job["truths"])
    assert body["class_pixels"] == {n: int((every == c).sum()) for c, n in enumerate(names)}
    assert body["class_frames"] == {
        n: sum(bool((t == c).any()) for t in job["truths"]) for c, n in enumerate(names)
    }
    assert body["class_frames"][names[-1]] == N_FRAMES // 2
    assert body["n_test_frames"] == N_FRAMES
    assert body["history"] == job["history"]
    assert (body["best_iteration"], body["model_id"]) == (2, 2)
    assert [t["iteration"] for t in body["timeline"]] == [0, 1, 2, 3]
    assert body["timeline"][1]["urls"] == [
        f"/api/jobs/{job['id']}/timeline/1/{k}.png" for k in range(2)
    ]
    assert len(body["sentences"]) == 1 + 2 + len(names)
    assert body["sentences"][2].startswith("Mean IoU")
    assert (body["n_blocks"], body["block_seconds"], body["min_blocks"]) == (N_FRAMES, 10.0, 5)
    assert body["frame_blocks"] == list(range(N_FRAMES))
    assert body["sentences"][0].startswith(f"The 95% intervals resample {N_FRAMES} independent")
    k = len(names)
    reference = reference_intervals(
        _frame_matrices(job["truths"], job["afters"], k),
        _frame_matrices(job["truths"], job["befores"], k),
        2000,
        0,
        names,
    )
    assert_ci_equal(body["ci"], reference, names)
    lo, hi = body["ci"]["change"]["pixel_accuracy"]
    assert lo > 0 and "pixel accuracy rose" in body["sentences"][1].lower()


def test_report_is_computed_once(client, project, monkeypatch):
    job = make_job(client, project)
    first = client.get(f"/api/jobs/{job['id']}/report").json()

    def fail(*_args):
        raise AssertionError("the report was computed again")

    monkeypatch.setattr(service, "compute", fail)
    assert client.get(f"/api/jobs/{job['id']}/report").json() == first
    download = client.get(f"/api/jobs/{job['id']}/report.json")
    assert "attachment" in download.headers["content-disposition"]
    assert json.loads(download.content) == first


def test_figures_are_pngs(client, project):
    job = make_job(client, project)
    names = ["confusion", "loss", "miou", *(f"frame_{k}" for k in range(N_FRAMES))]
    for name in names:
        res = client.get(f"/api/jobs/{job['id']}/report/figures/{name}.png")
        assert res.status_code == 200, (name, res.text)
        assert res.headers["content-type"] == "image/png"
        assert res.content.startswith(PNG)
        with Image.open(io.BytesIO(res.content)) as img:
            assert img.format == "PNG" and img.width > 200
    again = client.get(f"/api/jobs/{job['id']}/report/figures/frame_0.png")
    assert again.content == client.get(f"/api/jobs/{job['id']}/report/figures/frame_0.png").content
    for bad in (f"frame_{N_FRAMES}", "bogus", "frame_x"):
        assert client.get(f"/api/jobs/{job['id']}/report/figures/{bad}.png").status_code == 404


def test_frame_figure_uses_the_mask_the_job_scored(client, project):
    job = make_job(client, project)
    storage, sessions = client.app.state.storage, client.app.state.sessions
    with session_scope(sessions) as session:
        frame = session.get(Frame, job["frame_ids"][0])
        key = f"projects/{project['id']}/masks/edited.png"
        storage.put_bytes(key, _png(np.zeros((H, W), np.uint8)))
        session.add(Mask(frame_id=frame.id, version=2, storage_key=key, class_pixel_counts={}))
        frame.mask_version = 2
    with session_scope(sessions) as session:
        picture = load_test_frame(session, storage, load_source(session, job["id"]), 0)
    assert np.array_equal(picture.truth, job["truths"][0])
    assert np.array_equal(picture.before, job["befores"][0])
    storage.delete(f"projects/{project['id']}/frames/test0_0.png")  # image gone: still drawn
    res = client.get(f"/api/jobs/{job['id']}/report/figures/frame_0.png")
    assert res.status_code == 200 and res.content.startswith(PNG)


def test_timeline_gif_and_overlays(client, project):
    job = make_job(client, project)
    res = client.get(f"/api/jobs/{job['id']}/report/timeline.gif")
    assert res.status_code == 200 and res.headers["content-type"] == "image/gif"
    with Image.open(io.BytesIO(res.content)) as gif:
        assert gif.format == "GIF" and gif.n_frames == 4
    overlay = client.get(f"/api/jobs/{job['id']}/timeline/2/1.png")
    assert overlay.headers["content-type"] == "image/png"
    with client.app.state.storage.open_read(f"jobs/{job['id']}/timeline/00002_1.png") as fh:
        assert overlay.content == fh.read()
    assert client.get(f"/api/jobs/{job['id']}/timeline/9/0.png").status_code == 404
    assert client.get(f"/api/jobs/{job['id']}/timeline/2/5.png").status_code == 404


def test_html_report_is_self_contained(client, project):
    job = make_job(client, project)
    res = client.get(f"/api/jobs/{job['id']}/report.html")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/html")
    assert "attachment" in res.headers["content-disposition"]
    page = res.text
    assert 'id="table1"' in page and 'id="table2"' in page
    assert page.count('src="data:image/png;base64,') == 3 + N_FRAMES
    assert 'src="data:image/gif;base64,' in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    report = client.get(f"/api/jobs/{job['id']}/report").json()
    assert f"{report['after']['mean_iou']:.3f}" in page
    for sentence in report["sentences"]:
        assert sentence in page


def test_csv_rows_match_the_json(client, project):
    job = make_job(client, project)
    report = client.get(f"/api/jobs/{job['id']}/report").json()
    res = client.get(f"/api/jobs/{job['id']}/report.csv")
    assert res.headers["content-type"].startswith("text/csv")
    assert "attachment" in res.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert [r["class"] for r in rows] == ["", "", *job["names"]]
    assert float(rows[1]["change"]) == pytest.approx(report["change"]["mean_iou"])
    sign = rows[-1]
    name = job["names"][-1]
    assert float(sign["after"]) == pytest.approx(report["after"]["class_iou"][name])
    lo, hi = report["ci"]["change"]["class_iou"][name]
    assert (float(sign["change_ci_low"]), float(sign["change_ci_high"])) == (
        pytest.approx(lo),
        pytest.approx(hi),
    )
    assert int(sign["test_frames"]) == report["class_frames"][name]


def test_report_without_a_base_model(client, project):
    job = make_job(client, project, with_before=False)
    body = client.get(f"/api/jobs/{job['id']}/report").json()
    assert body["before"] is None and body["change"] is None
    assert body["ci"]["before"] is None and body["ci"]["change"] is None
    assert body["after"] == _approx(independent_scores(job["truths"], job["afters"], job["names"]))
    assert "random initialisation" in body["sentences"][0]
    for name in ("confusion", "frame_1"):
        res = client.get(f"/api/jobs/{job['id']}/report/figures/{name}.png")
        assert res.status_code == 200 and res.content.startswith(PNG)
    assert "random initialisation" in client.get(f"/api/jobs/{job['id']}/report.html").text
    assert client.get(f"/api/jobs/{job['id']}/report.csv").status_code == 200


def test_class_names_are_escaped_in_html(client):
    classes = [
        {"name": "background", "color": "#000000"},
        {"name": "<script>alert(1)</script>", "color": "#ff0000"},
        {"name": 'sign "&" co', "color": "#ffd200"},
    ]
    project = client.post("/api/projects", json={"name": "xss", "classes": classes}).json()
    job = make_job(client, project)
    page = client.get(f"/api/jobs/{job['id']}/report.html").text
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "sign &#34;&amp;&#34; co" in page
    assert (
        "<script>alert(1)</script>"
        in client.get(f"/api/jobs/{job['id']}/report").json()["after"]["class_iou"]
    )


def _plain_job(client, **kw) -> int:
    with session_scope(client.app.state.sessions) as session:
        job = Job(params={}, **kw)
        session.add(job)
        session.flush()
        return job.id


ROUTES = (
    "report",
    "report.html",
    "report.json",
    "report.csv",
    "report/figures/confusion.png",
    "report/timeline.gif",
    "timeline/0/0.png",
)


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_job_is_404(client, route):
    assert client.get(f"/api/jobs/9999/{route}").status_code == 404


def test_jobs_without_a_report_are_409(client, project):
    cases = [
        {"kind": "sample", "status": "succeeded", "result": {}},
        {"kind": "train", "status": "running"},
        {"kind": "train", "status": "failed", "error": "boom"},
        {"kind": "train", "status": "succeeded", "result": {"n_test_frames": 0}},
    ]
    for kw in cases:
        job_id = _plain_job(client, project_id=project["id"], **kw)
        for route in ROUTES:
            res = client.get(f"/api/jobs/{job_id}/{route}")
            # Overlays are served while a job runs, so a job without them answers 404.
            expected = 404 if route.startswith("timeline/") else 409
            assert res.status_code == expected, (kw, route, res.text)
            assert res.json()["detail"]


def test_html_leaves_out_a_frame_whose_predictions_are_gone(client, project):
    job = make_job(client, project)
    client.app.state.storage.delete(f"jobs/{job['id']}/after/001_street_1.png")
    assert client.get(f"/api/jobs/{job['id']}/report/figures/frame_1.png").status_code == 404
    page = client.get(f"/api/jobs/{job['id']}/report.html")
    assert page.status_code == 200
    assert page.text.count('src="data:image/png;base64,') == 3 + N_FRAMES - 1


def test_overlays_are_served_while_training_runs(client, project):
    storage = client.app.state.storage
    storage.put_bytes("jobs/live/timeline/00001_0.png", _png(np.zeros((4, 4, 3), np.uint8)))
    detail = {
        "timeline": [
            {"iteration": 1, "overlays": [{"key": "jobs/live/timeline/00001_0.png", "frame": "f"}]}
        ]
    }
    job_id = _plain_job(
        client, project_id=project["id"], kind="train", status="running", detail=detail
    )
    res = client.get(f"/api/jobs/{job_id}/timeline/1/0.png")
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
