"""Reports resample blocks of test frames: a video's frames by time, settings, and the cache."""

import csv
import io
import json

from backend.db import session_scope
from backend.models import Frame, Job
from backend.services.reports.source import load_source
from tests.api.test_reports import N_FRAMES, _frame_matrices, make_job
from tests.services.test_reports import assert_ci_equal, reference_intervals

# Three pairs of neighbouring frames of one video, 20 s apart: three 10 s blocks.
TIMES = [0.0, 1.0, 20.0, 21.0, 40.0, 41.5]


def _report(client, job_id: int) -> dict:
    res = client.get(f"/api/jobs/{job_id}/report")
    assert res.status_code == 200, res.text
    return res.json()


def test_a_video_report_resamples_time_blocks_and_gives_no_verdict_on_three(client, project):
    job = make_job(client, project, times=TIMES)
    body = _report(client, job["id"])
    assert body["frame_blocks"] == [0, 0, 1, 1, 2, 2]
    assert (body["n_blocks"], body["block_seconds"], body["n_test_frames"]) == (3, 10.0, N_FRAMES)
    assert "10 s" in body["block_rule"]
    k = len(job["names"])
    after = _frame_matrices(job["truths"], job["afters"], k)
    before = _frame_matrices(job["truths"], job["befores"], k)
    reference = reference_intervals(after, before, 2000, 0, job["names"], body["frame_blocks"])
    assert_ci_equal(body["ci"], reference, job["names"])
    # The change is large (the same pictures give clear verdicts over 6 blocks), but 3 blocks
    # are too few to tell.
    assert body["ci"]["change"]["pixel_accuracy"][0] > 0
    basis, *figures = body["sentences"]
    assert basis.startswith("The 95% intervals resample 3 independent blocks of the 6 test")
    assert "With fewer than 5 blocks no change is called clear." in basis
    for line in figures:
        assert "clear" not in line
        assert "but the 6 test frames form only 3 independent blocks, too few to tell" in line
    page = client.get(f"/api/jobs/{job['id']}/report.html").text
    assert "clear improvement" not in page and "too few blocks" in page
    assert "3 (blocks of 10 s)" in page
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/jobs/{job['id']}/report.csv").text)))
    assert {r["verdict"] for r in rows} == {"too few blocks"}
    assert {(r["blocks"], r["block_seconds"]) for r in rows} == {("3", "10.0")}


def test_the_block_length_setting_and_a_job_own_length(client, project, settings):
    job = make_job(client, project, times=TIMES)
    assert _report(client, job["id"])["n_blocks"] == 3
    settings.report_block_seconds = 0.0  # single frames: computed anew, not the cached report
    body = _report(client, job["id"])
    assert (body["n_blocks"], body["block_seconds"]) == (N_FRAMES, 0.0)
    assert "one by one" in body["sentences"][0]
    assert "a clear improvement" in body["sentences"][1]
    settings.report_block_seconds = 10.0
    with session_scope(client.app.state.sessions) as session:
        session.get(Job, job["id"]).params = {"block_seconds": 60}
    body = _report(client, job["id"])
    assert (body["n_blocks"], body["block_seconds"], body["frame_blocks"]) == (1, 60.0, [0] * 6)


def test_a_report_cached_the_old_way_is_not_served(client, project):
    job = make_job(client, project)
    storage = client.app.state.storage
    with session_scope(client.app.state.sessions) as session:
        fingerprint = load_source(session, job["id"]).fingerprint
    stale = {"sentences": ["Pixel accuracy rose: a clear improvement (frame bootstrap)."]}
    storage.put_bytes(
        f"jobs/{job['id']}/report/{fingerprint}/report.json", json.dumps(stale).encode()
    )
    body = _report(client, job["id"])
    assert body["sentences"] != stale["sentences"] and body["n_blocks"] == N_FRAMES


def test_blocks_follow_the_frames_rows(client, project):
    job = make_job(client, project, times=TIMES)
    assert _report(client, job["id"])["frame_blocks"] == [0, 0, 1, 1, 2, 2]
    with session_scope(client.app.state.sessions) as session:
        session.delete(session.get(Frame, job["frame_ids"][3]))
    # The deleted frame is known by its recorded name only ("frame<id>"): a block of its own.
    assert _report(client, job["id"])["frame_blocks"] == [0, 0, 1, 2, 3, 3]
