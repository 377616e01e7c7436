"""Side-by-side reports of two models from one evaluate job, with known pixels."""

import csv
import io

import numpy as np
import pytest
from PIL import Image

from backend.db import session_scope
from backend.models import Frame, Job, Mask
from backend.models.base import utcnow
from backend.services.mask_codec import pixel_counts
from backend.services.reports.source import load_source, load_test_frame
from tests.api.test_reports import (
    N_FRAMES,
    PNG,
    ROUTES,
    SOURCE_NAMES,
    _approx,
    _frame_matrices,
    _pictures,
    _png,
    _scored,
    independent_scores,
)
from tests.services.test_reports import assert_ci_equal, reference_intervals

NAMES = ("Alpha <net>", r"Beta $\frac{x$ net")  # markup and broken matplotlib math: as text


def _frames(client, project: dict, truths: list[np.ndarray], tag: str) -> list[int]:
    """Labeled test frames (image and mask version 1) in the database and storage."""
    storage, ids = client.app.state.storage, []
    with session_scope(client.app.state.sessions) as session:
        for k, truth in enumerate(truths):
            h, w = truth.shape
            image_key = f"projects/{project['id']}/frames/{tag}_{k}.png"
            storage.put_bytes(image_key, _png(np.full((h, w, 3), 30 * k, np.uint8)))
            frame = Frame(project_id=project["id"], storage_key=image_key, width=w, height=h,
                          split="test", label_status="done", mask_version=1,
                          source_name=SOURCE_NAMES[k])  # fmt: skip
            session.add(frame)
            session.flush()
            mask_key = f"projects/{project['id']}/masks/{tag}_{k}.png"
            storage.put_bytes(mask_key, _png(truth))
            session.add(Mask(frame_id=frame.id, version=1, storage_key=mask_key,
                             class_pixel_counts=pixel_counts(truth)))  # fmt: skip
            ids.append(frame.id)
    return ids


def make_evaluation(client, project: dict, n_models: int = 2, seed: int = 0) -> dict:
    """A succeeded evaluate job: model A is mostly wrong, model B mostly right (then A again)."""
    storage, sessions = client.app.state.storage, client.app.state.sessions
    names = [c["name"] for c in project["classes"]]
    truths, worse, better = _pictures(seed, len(names))
    frame_ids = _frames(client, project, truths, f"cmp{seed}")
    model_ids = [10 + m for m in range(n_models)]
    with session_scope(sessions) as session:
        job = Job(kind="evaluate", status="succeeded", project_id=project["id"],
                  params={"model_ids": model_ids, "flip_tta": False},
                  started_at=utcnow(), finished_at=utcnow())  # fmt: skip
        session.add(job)
        session.flush()
        job_id = job.id
    preds = [worse, better, worse][:n_models]
    models = []
    for m, pred in enumerate(preds):
        scored = _scored(storage, job_id, f"pred{model_ids[m]}", pred, truths, names)
        scored.update(model_id=model_ids[m], name=(*NAMES, "Gamma")[m])
        models.append(scored)
    every = np.stack(truths)
    with session_scope(sessions) as session:
        session.get(Job, job_id).result = {
            "n_test_frames": N_FRAMES,
            "class_pixels": {n: int((every == c).sum()) for c, n in enumerate(names)},
            "models": models,
            "test_frame_ids": frame_ids,
            "test_mask_versions": [1] * N_FRAMES,
        }
    return {"id": job_id, "names": names, "truths": truths, "a": worse, "b": better,
            "model_ids": model_ids, "frame_ids": frame_ids}  # fmt: skip


def test_comparison_json_matches_an_independent_computation(client, project):
    job = make_evaluation(client, project)
    res = client.get(f"/api/jobs/{job['id']}/report")
    assert res.status_code == 200, res.text
    body = res.json()
    names = job["names"]
    a = independent_scores(job["truths"], job["a"], names)
    b = independent_scores(job["truths"], job["b"], names)
    assert body["before"] == _approx(a)
    assert body["after"] == _approx(b)
    change = b["pixel_accuracy"] - a["pixel_accuracy"]
    assert body["change"]["pixel_accuracy"] == pytest.approx(change)
    for name in names:
        expected = b["class_iou"][name] - a["class_iou"][name]
        assert body["change"]["class_iou"][name] == pytest.approx(expected)
    assert body["labels"] == {"before": NAMES[0], "after": NAMES[1]}
    assert body["model_ids"] == {"before": job["model_ids"][0], "after": job["model_ids"][1]}
    every = np.stack(job["truths"])
    assert body["class_pixels"] == {n: int((every == c).sum()) for c, n in enumerate(names)}
    assert body["class_frames"][names[-1]] == N_FRAMES // 2
    assert body["n_test_frames"] == N_FRAMES
    no_training = [body[k] for k in ("history", "timeline", "best_iteration", "model_id")]
    assert no_training == [[], [], None, None]
    k = len(names)
    matrices = [_frame_matrices(job["truths"], job[side], k) for side in ("b", "a")]
    reference = reference_intervals(*matrices, 2000, 0, names)
    assert_ci_equal(body["ci"], reference, names)
    assert NAMES[0] in body["sentences"][0] and NAMES[1] in body["sentences"][0]
    assert len(body["sentences"]) == 2 + 2 + len(names)
    assert body["sentences"][1].startswith(f"The 95% intervals resample {N_FRAMES} independent")
    assert body["n_blocks"] == N_FRAMES and body["frame_blocks"] == list(range(N_FRAMES))
    assert body["ci"]["change"]["pixel_accuracy"][0] > 0
    assert body["sentences"][2].startswith("Pixel accuracy is higher with B")
    assert "B is clearly better" in body["sentences"][2]


def test_swapping_the_two_models_swaps_the_sides(client, project):
    job = make_evaluation(client, project)
    with session_scope(client.app.state.sessions) as session:
        row = session.get(Job, job["id"])
        result = dict(row.result)
        result["models"] = result["models"][::-1]
        swapped = Job(kind="evaluate", status="succeeded", project_id=project["id"],
                      params=row.params, result=result)  # fmt: skip
        session.add(swapped)
        session.flush()
        swapped_id = swapped.id
    forward = client.get(f"/api/jobs/{job['id']}/report").json()
    backward = client.get(f"/api/jobs/{swapped_id}/report").json()
    assert backward["before"] == forward["after"] and backward["after"] == forward["before"]
    assert backward["labels"] == {"before": NAMES[1], "after": NAMES[0]}
    lo, hi = forward["ci"]["change"]["mean_iou"]
    np.testing.assert_allclose(backward["ci"]["change"]["mean_iou"], [-hi, -lo], atol=1e-12)
    assert "B is clearly worse" in backward["sentences"][2]


def test_comparison_figures(client, project):
    job = make_evaluation(client, project)
    url = f"/api/jobs/{job['id']}/report"
    for name in ["confusion", *(f"frame_{k}" for k in range(N_FRAMES))]:
        res = client.get(f"{url}/figures/{name}.png")
        assert res.status_code == 200, (name, res.text)
        assert res.headers["content-type"] == "image/png" and res.content.startswith(PNG)
        with Image.open(io.BytesIO(res.content)) as img:
            assert img.width > 200
    # No training behind a comparison: no curves, no timeline.
    for route in ("figures/loss.png", "figures/miou.png", "timeline.gif"):
        assert client.get(f"{url}/{route}").status_code == 404, route
    assert client.get(f"/api/jobs/{job['id']}/timeline/0/0.png").status_code == 404
    assert client.get(f"{url}/figures/frame_{N_FRAMES}.png").status_code == 404
    storage, sessions = client.app.state.storage, client.app.state.sessions
    with session_scope(sessions) as session:
        source = load_source(session, job["id"])
        for k in range(N_FRAMES):
            picture = load_test_frame(session, storage, source, k)
            assert np.array_equal(picture.truth, job["truths"][k])
            assert np.array_equal(picture.before, job["a"][k])
            assert np.array_equal(picture.after, job["b"][k])
            assert picture.image is not None and picture.name == SOURCE_NAMES[k]


def test_frame_figure_uses_the_recorded_mask_version(client, project):
    job = make_evaluation(client, project)
    storage, sessions = client.app.state.storage, client.app.state.sessions
    edited = np.zeros_like(job["truths"][0])
    with session_scope(sessions) as session:
        frame = session.get(Frame, job["frame_ids"][0])
        key = f"projects/{project['id']}/masks/edited_cmp.png"
        storage.put_bytes(key, _png(edited))
        session.add(Mask(frame_id=frame.id, version=2, storage_key=key, class_pixel_counts={}))
        frame.mask_version = 2
        session.get(Job, job["id"]).started_at = None  # only the recorded version can tell
    with session_scope(sessions) as session:
        source = load_source(session, job["id"])
        assert np.array_equal(load_test_frame(session, storage, source, 0).truth, job["truths"][0])


def test_comparison_html_names_both_models(client, project):
    job = make_evaluation(client, project)
    res = client.get(f"/api/jobs/{job['id']}/report.html")
    assert res.status_code == 200 and "attachment" in res.headers["content-disposition"]
    page = res.text
    assert "Model comparison" in page and "Fine-tune report" not in page
    assert "A: Alpha &lt;net&gt;" in page and f"B: {NAMES[1]}" in page
    assert "<net>" not in page
    assert page.count('src="data:image/png;base64,') == 1 + N_FRAMES
    assert "data:image/gif" not in page and "<script" not in page
    report = client.get(f"/api/jobs/{job['id']}/report").json()
    assert f"{report['after']['mean_iou']:.3f}" in page
    assert f"{report['before']['mean_iou']:.3f}" in page
    assert "B clearly better" in page
    for sentence in report["sentences"]:
        assert sentence.replace("<", "&lt;").replace(">", "&gt;") in page


def test_comparison_csv_matches_the_json(client, project):
    job = make_evaluation(client, project)
    report = client.get(f"/api/jobs/{job['id']}/report").json()
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/jobs/{job['id']}/report.csv").text)))
    assert [r["class"] for r in rows] == ["", "", *job["names"]]
    assert float(rows[0]["before"]) == pytest.approx(report["before"]["pixel_accuracy"])
    assert float(rows[0]["after"]) == pytest.approx(report["after"]["pixel_accuracy"])
    assert float(rows[1]["change"]) == pytest.approx(report["change"]["mean_iou"])


@pytest.mark.parametrize("n_models", [1, 3])
def test_evaluate_jobs_of_other_than_two_models_are_409(client, project, n_models):
    job = make_evaluation(client, project, n_models=n_models)
    for route in (r for r in ROUTES if not r.startswith("timeline/")):
        res = client.get(f"/api/jobs/{job['id']}/{route}")
        assert res.status_code == 409, (route, res.text)
        assert f"evaluated {n_models} model" in res.json()["detail"]
        assert "exactly two" in res.json()["detail"]


def test_unfinished_evaluate_job_is_409(client, project):
    with session_scope(client.app.state.sessions) as session:
        job = Job(kind="evaluate", status="running", project_id=project["id"],
                  params={"model_ids": [1, 2]})  # fmt: skip
        session.add(job)
        session.flush()
        job_id = job.id
    assert client.get(f"/api/jobs/{job_id}/report").status_code == 409


CLASSES = [
    {"index": 0, "name": "background", "color": [0, 0, 0]},
    {"index": 1, "name": "car", "color": [0, 0, 255]},
    {"index": 2, "name": "traffic sign", "color": [255, 255, 0]},
]


def _labeled_test_frames(client, project: dict, n: int = 3) -> tuple[list[int], list]:
    rng = np.random.default_rng(3)
    files, masks = [], []
    for i in range(n):
        image = rng.integers(0, 255, (48, 64, 3)).astype(np.uint8)
        mask = rng.integers(0, 3, (48, 64)).astype(np.uint8)
        mask[:4] = 255
        files.append(("files", (f"f{i}.png", _png(image))))
        masks.append(mask)
    frames = client.post(f"/api/projects/{project['id']}/images", files=files).json()
    for frame, mask in zip(frames, masks, strict=True):
        res = client.put(f"/api/frames/{frame['id']}/mask", content=_png(mask),
                         headers={"If-Match": '"0"', "Content-Type": "image/png"})  # fmt: skip
        assert res.status_code == 200, res.text
        client.patch(f"/api/frames/{frame['id']}", json={"split": "test", "label_status": "done"})
    return [f["id"] for f in frames], masks


def test_an_evaluate_job_of_two_models_run_by_the_worker(client, dispatcher, project, tmp_path):
    torch = pytest.importorskip("torch")
    from worker.evaluation import run_evaluation
    from worker.ml.checkpoints import ModelMeta, save_checkpoint
    from worker.ml.models import build_model
    from worker.registration import run_registration
    from worker.runner import run_job

    state = client.app.state

    def run(job_id, body):
        return run_job(job_id, body, state.sessions, state.storage, state.settings)

    model_ids = []
    for seed, name in ((1, "first net"), (2, "second net")):
        torch.manual_seed(seed)
        net = build_model("deeplabv3plus_mobilenet", 3, 16)
        meta = ModelMeta("deeplabv3plus_mobilenet", 16, CLASSES)
        path = save_checkpoint(tmp_path / f"{seed}.pth", net, meta)
        with open(path, "rb") as fh:
            row = client.post("/api/models", files={"file": ("m.pth", fh)}, data={"name": name})
        assert run(dispatcher.sent[-1], run_registration) == "succeeded"
        model_ids.append(row.json()["id"])
    frame_ids, masks = _labeled_test_frames(client, project)
    job = client.post(f"/api/projects/{project['id']}/evaluate", json={"model_ids": model_ids})
    job_id = job.json()["id"]
    assert run(job_id, run_evaluation) == "succeeded"
    result = client.get(f"/api/jobs/{job_id}").json()["result"]
    assert sorted(result["test_frame_ids"]) == sorted(frame_ids)
    assert result["test_mask_versions"] == [1] * len(frame_ids)
    order = [frame_ids.index(i) for i in result["test_frame_ids"]]
    truths = [masks[i] for i in order]
    # A later edit of a scored mask changes neither the scores nor the pictures.
    edited = client.put(f"/api/frames/{result['test_frame_ids'][0]}/mask",
                        content=_png(np.zeros((48, 64), np.uint8)),
                        headers={"If-Match": '"1"', "Content-Type": "image/png"})  # fmt: skip
    assert edited.status_code == 200, edited.text
    report = client.get(f"/api/jobs/{job_id}/report").json()
    assert report["labels"] == {"before": "first net", "after": "second net"}
    assert report["model_ids"] == {"before": model_ids[0], "after": model_ids[1]}
    # Uploads f0.png, f1.png, f2.png: one file-name sequence, frames 1/30 s apart, one block.
    assert (report["frame_blocks"], report["n_blocks"]) == ([0, 0, 0], 1)
    assert all("clearly" not in line for line in report["sentences"])
    names = [c["name"] for c in CLASSES]
    for side, scored in zip(("before", "after"), result["models"], strict=True):
        preds = []
        for key in scored["prediction_keys"]:
            with state.storage.open_read(key) as fh, Image.open(io.BytesIO(fh.read())) as img:
                preds.append(np.asarray(img))
        expected = independent_scores(truths, preds, names)
        assert report[side] == _approx(expected)
        assert report[side]["mean_iou"] == pytest.approx(scored["metrics"]["mean_iou"])
    with session_scope(state.sessions) as session:
        picture = load_test_frame(session, state.storage, load_source(session, job_id), 0)
    assert np.array_equal(picture.truth, truths[0])
    res = client.get(f"/api/jobs/{job_id}/report/figures/frame_0.png")
    assert res.status_code == 200 and res.content.startswith(PNG)
