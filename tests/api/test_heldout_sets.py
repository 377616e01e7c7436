"""Generalisation checks, run for real: tiny fine-tunes through the worker body with a held-out
project, a time gap and a reference project; the report's numbers for each set against sklearn
matrices of a fresh scoring; and every refused request queues nothing."""

import csv
import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from backend.db import session_scope
from backend.services.reports import stats
from backend.services.reports.blocks import FrameFacts, assign_blocks
from backend.services.training import labeled_frames
from tests.accounts import add_user, bearer
from tests.labeled import random_checkpoint
from worker.evaluation import model_source, score_model
from worker.ml.data import load_sample
from worker.registration import run_registration
from worker.runner import run_job
from worker.training import run_training

H, W = 40, 56
NAMES = ["background", "car", "traffic sign"]
# Training project "drive": frame numbers at 30 fps, so drive_000300 is at 10 s.
TRAINING = [
    ("drive_000000.png", "train"),
    ("drive_000030.png", "train"),
    ("drive_000060.png", "train"),
    ("drive_000090.png", "train"),
    ("drive_000120.png", "val"),
    ("drive_000150.png", "val"),  # 5 s: the last training-side frame
    ("drive_000180.png", "test"),  # 6 s: 1 s from val, inside a 5 s gap
    ("drive_000300.png", "test"),  # 10 s: exactly 5 s away, kept
    ("drive_000600.png", "test"),  # 20 s: kept
]


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _labeled(client, name: str, frames: list[tuple[str, str | None]], classes=None) -> dict:
    """A project whose frames (file name, split) each have a done mask: a car box, a sign box."""
    body = {"name": name, **({"classes": classes} if classes else {})}
    project = client.post("/api/projects", json=body).json()
    rng = np.random.default_rng(len(name))
    files, masks = [], []
    for i, (file_name, _split) in enumerate(frames):
        image = rng.normal(100, 20, (H, W, 3)).clip(0, 255).astype(np.uint8)
        mask = np.zeros((H, W), np.uint8)
        x = int(rng.integers(0, 30))
        image[5:20, x : x + 20] = (20, 20, 200)
        mask[5:20, x : x + 20] = 1
        image[25:35, 40 - i % 8 : 48 - i % 8] = (230, 230, 0)
        mask[25:35, 40 - i % 8 : 48 - i % 8] = 2
        mask[-2:] = 255
        files.append(("files", (file_name, _png(image))))
        masks.append(mask)
    made = client.post(f"/api/projects/{project['id']}/images", files=files).json()
    for frame, mask, (_name, split) in zip(made, masks, frames, strict=True):
        headers = {"If-Match": '"0"', "Content-Type": "image/png"}
        res = client.put(f"/api/frames/{frame['id']}/mask", content=_png(mask), headers=headers)
        assert res.status_code == 200, res.text
        patch = {"label_status": "done", "split": split or "none"}
        assert client.patch(f"/api/frames/{frame['id']}", json=patch).status_code == 200
    project["frame_ids"] = [f["id"] for f in made]
    return project


def _run(client, job_id, body) -> str:
    state = client.app.state
    return run_job(job_id, body, state.sessions, state.storage, state.settings)


@pytest.fixture
def world(client, dispatcher, tmp_path) -> dict:
    """A registered 19-class base, the training project and three others."""
    with open(random_checkpoint(tmp_path / "base.pth"), "rb") as fh:
        res = client.post("/api/models", files={"file": ("base.pth", fh)},
                          data={"preset": "cityscapes19", "name": "city base"})  # fmt: skip
    assert _run(client, dispatcher.sent[-1], run_registration) == "succeeded"
    return {
        "base": res.json()["id"],
        "drive": _labeled(client, "drive", TRAINING),
        # Three pictures 30 s apart: three independent blocks.
        "elsewhere": _labeled(
            client, "elsewhere", [(f"city_{900 * i:06d}.png", None) for i in range(3)]
        ),
        "source": _labeled(
            client, "source", [("src_000000.png", "train"), ("src_003000.png", "val")]
        ),
    }


def _train(client, world, **sets) -> dict:
    body = {"preset": "quick", "iterations": 2, "crop_size": 32, "device": "cpu", **sets}
    res = client.post(f"/api/projects/{world['drive']['id']}/train", json=body)
    assert res.status_code == 202, res.text
    assert _run(client, res.json()["id"], run_training) == "succeeded"
    job = client.get(f"/api/jobs/{res.json()['id']}").json()
    return {"job": job, "report": client.get(f"/api/jobs/{job['id']}/report").json()}


def _fresh(client, model_id: int, project_id: int, ids: list[int], table) -> np.ndarray:
    """Per-frame sklearn confusion matrices of a fresh scoring of the frames `ids`."""
    state = client.app.state
    ctx = SimpleNamespace(sessions=state.sessions, storage=state.storage)
    with session_scope(state.sessions) as session:
        frames = {f.frame_id: f for f in labeled_frames(session, state.storage, project_id)}
    samples = [load_sample(frames[i].image_path, frames[i].mask_path, frames[i].name) for i in ids]
    classes = [{"index": k, "name": n, "color": [0, 0, 0]} for k, n in enumerate(NAMES)]
    scored = score_model(model_source(ctx, model_id), samples, classes, table, False, None)
    out = []
    for sample, pred in zip(samples, scored["predictions"], strict=True):
        keep = sample.mask != 255
        out.append(confusion_matrix(sample.mask[keep], pred[keep], labels=[0, 1, 2]))
    return np.asarray(out)


def _miou(cm: np.ndarray) -> float:
    tp = np.diag(cm).astype(float)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    return float(np.nanmean(np.where(union > 0, tp / np.maximum(union, 1), np.nan)))


def _check(report_set, before_cms, after_cms, block_ids):
    """A report set's numbers against the independent matrices and block ids."""
    assert report_set["n_frames"] == len(after_cms)
    assert report_set["frame_blocks"] == block_ids
    assert report_set["after"]["mean_iou"] == pytest.approx(_miou(after_cms.sum(axis=0)))
    if before_cms is not None:
        assert report_set["before"]["mean_iou"] == pytest.approx(_miou(before_cms.sum(axis=0)))
        change = _miou(after_cms.sum(axis=0)) - _miou(before_cms.sum(axis=0))
        assert report_set["change"]["mean_iou"] == pytest.approx(change)
    ci = stats.bootstrap(after_cms, before_cms, NAMES, block_ids)
    assert report_set["ci"] == ci


def test_gap_and_reference_sets_are_scored_and_reported(client, world):
    ran = _train(client, world, base_model_id=world["base"], heldout_gap_s=5,
                 reference_project_id=world["source"]["id"])  # fmt: skip
    job, report = ran["job"], ran["report"]
    assert job["params"]["sets"]["heldout"] == {"kind": "gap", "gap_s": 5.0, "frame_rate": 30.0}
    assert job["params"]["sets"]["reference"]["project_id"] == world["source"]["id"]
    drive, source = world["drive"]["frame_ids"], world["source"]["frame_ids"]
    stored = job["result"]["sets"]
    assert stored["heldout"]["frame_ids"] == [drive[7], drive[8]]  # 10 s and 20 s
    assert stored["reference"]["frame_ids"] == source
    table = job["params"]["class_map"]
    tuned = job["result"]["model_id"]

    gap = report["sets"]["heldout"]
    assert gap["title"] == "Held-out: test frames \u2265 5 s from training"
    after = _fresh(client, tuned, world["drive"]["id"], [drive[7], drive[8]], None)
    before = _fresh(client, world["base"], world["drive"]["id"], [drive[7], drive[8]], table)
    assert stored["heldout"]["after"]["frame_confusions"] == after.tolist()
    # 10 s and 20 s are in different 10 s stretches of the drive: two blocks.
    _check(gap, before, after, [0, 1])

    kept = report["sets"]["reference"]
    assert kept["title"] == "Forgetting: source"
    assert "a decline here means the fine-tune forgot the source domain" in kept["sentences"][0]
    after = _fresh(client, tuned, world["source"]["id"], source, None)
    before = _fresh(client, world["base"], world["source"]["id"], source, table)
    # src_000000 and src_003000 are 100 s apart; block ids from the set's own frame facts.
    facts = [FrameFacts(source_name="src_000000.png"), FrameFacts(source_name="src_003000.png")]
    _check(kept, before, after, assign_blocks(facts, 10.0))
    assert kept["n_blocks"] == 2
    # The same wording as the test split, with the set's own frames named.
    line = stats.sentence("Mean IoU", kept["change"]["mean_iou"], kept["ci"]["change"]["mean_iou"],
                          2, 2, "reference frame")  # fmt: skip
    assert line in kept["sentences"] and "2 reference frames form only 2" in line

    page = client.get(f"/api/jobs/{job['id']}/report.html").text
    assert "Forgetting: source" in page and "Held-out: test frames \u2265 5 s from training" in page
    assert "forgot the source domain" in page
    # The CSV carries every set's rows, marked, with the set's own figures.
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/jobs/{job['id']}/report.csv").text)))
    by_set = {
        name: [r for r in rows if r["set"] == name] for name in ("test", "heldout", "reference")
    }
    assert len(by_set["test"]) == len(by_set["heldout"]) == len(by_set["reference"]) > 0
    assert len(rows) == 3 * len(by_set["test"])
    miou = next(r for r in by_set["reference"] if r["metric"] == "mean_iou")
    assert float(miou["change"]) == pytest.approx(kept["change"]["mean_iou"])
    assert miou["verdict"] == "too few blocks" and miou["blocks"] == "2"
    # The test split's report is what it was: scored on all three test frames.
    assert report["n_test_frames"] == 3


def test_a_request_own_block_length_serves_the_test_split_and_every_set(client, world):
    ran = _train(client, world, base_model_id=world["base"], heldout_gap_s=5, block_seconds=60)
    job, report = ran["job"], ran["report"]
    assert job["params"]["block_seconds"] == 60
    # Test frames at 6, 10 and 20 s, held-out frames at 10 and 20 s: one 60 s block each.
    assert (report["block_seconds"], report["n_blocks"], report["frame_blocks"]) == (60, 1, [0] * 3)
    gap = report["sets"]["heldout"]
    assert (gap["block_seconds"], gap["frame_blocks"]) == (60, [0, 0])
    body = {"model_ids": [world["base"], job["result"]["model_id"]], "block_seconds": 0}
    res = client.post(f"/api/projects/{world['drive']['id']}/evaluate", json=body)
    assert res.status_code == 202, res.text
    assert res.json()["params"]["block_seconds"] == 0


def test_heldout_project_without_a_base(client, world):
    ran = _train(client, world, heldout_project_id=world["elsewhere"]["id"])
    stored, found = ran["job"]["result"]["sets"], ran["report"]["sets"]
    ids = world["elsewhere"]["frame_ids"]
    assert stored["heldout"]["frame_ids"] == ids and stored["heldout"]["before"] is None
    assert list(found) == ["heldout"]
    assert found["heldout"]["title"] == "Held-out: elsewhere"
    after = _fresh(client, ran["job"]["result"]["model_id"], world["elsewhere"]["id"], ids, None)
    _check(found["heldout"], None, after, [0, 1, 2])
    assert found["heldout"]["n_blocks"] == 3 and found["heldout"]["change"] is None
    rows = list(
        csv.DictReader(io.StringIO(client.get(f"/api/jobs/{ran['job']['id']}/report.csv").text))
    )
    held = [r for r in rows if r["set"] == "heldout"]
    assert held and all(r["before"] == r["change"] == "" and r["verdict"] == "n/a" for r in held)


def test_refused_sets_queue_nothing(client, dispatcher, settings, world):
    odd = [{"name": n, "color": "#112233"} for n in ("background", "person", "traffic sign")]
    other = _labeled(client, "odd", [("o_000000.png", "train")], classes=odd)
    empty = client.post("/api/projects", json={"name": "empty"}).json()
    drive = world["drive"]["id"]
    url = f"/api/projects/{drive}/train"
    base = {"preset": "quick", "base_model_id": world["base"]}
    queued = list(dispatcher.sent)
    cases = [
        ({"heldout_project_id": 99999}, 404, "Project 99999 does not exist."),
        ({"reference_project_id": 99999}, 404, "Project 99999 does not exist."),
        ({"heldout_project_id": other["id"]}, 422, "it has person"),
        ({"reference_project_id": other["id"]}, 422, "it lacks car"),
        ({"heldout_project_id": empty["id"]}, 422, "has no labeled frames"),
        ({"heldout_project_id": drive}, 422, "must be another project"),
        ({"heldout_gap_s": 3600}, 422, "No labeled test frame is at least 3600 s away"),
        ({"heldout_gap_s": 0}, 422, "greater than 0"),
        ({"heldout_gap_s": 3601}, 422, "less than or equal to 3600"),
        ({"heldout_gap_s": 5, "heldout_project_id": world["elsewhere"]["id"]}, 422, "not both"),
        ({"block_seconds": -1}, 422, "greater than or equal to 0"),
        ({"block_seconds": 3601}, 422, "less than or equal to 3600"),
    ]
    for extra, status, text in cases:
        res = client.post(url, json={**base, **extra})
        assert res.status_code == status, (extra, res.text)
        assert text in res.text, (extra, res.text)
    res = client.post(url, json={"preset": "quick", "reference_project_id": world["source"]["id"]})
    assert res.status_code == 422 and "choose a base model" in res.text
    # A project the caller cannot read is answered as missing, like one that does not exist.
    sam = client.__class__(client.app)
    sam.headers.update(bearer(add_user(settings, "sam@example.org")))
    mine = sam.post("/api/projects", json={"name": "sam's"}).json()
    picture = ("files", ("s_000000.png", _png(np.zeros((H, W, 3), np.uint8))))
    image = sam.post(f"/api/projects/{mine['id']}/images", files=[picture])
    frame = image.json()[0]["id"]
    mask = _png(np.ones((H, W), np.uint8))
    headers = {"If-Match": '"0"', "Content-Type": "image/png"}
    assert sam.put(f"/api/frames/{frame}/mask", content=mask, headers=headers).status_code == 200
    sam.patch(f"/api/frames/{frame}", json={"label_status": "done", "split": "train"})
    body = {"preset": "quick", "force": True, "heldout_project_id": world["elsewhere"]["id"]}
    res = sam.post(f"/api/projects/{mine['id']}/train", json=body)
    assert res.status_code == 404, res.text
    assert res.json()["detail"] == f"Project {world['elsewhere']['id']} does not exist."
    assert dispatcher.sent == queued
    jobs = client.get("/api/jobs").json()
    assert not [j for j in jobs if j["kind"] == "train"]
