"""`segtune predict`: on bare files without any server or database, and as a database job."""

import zipfile

import av
import torch
from typer.testing import CliRunner

from backend.cli import app
from tests.api.test_model_jobs import CLASSES
from tests.api.test_predictions import FPS, N, make_clip
from worker.ml.checkpoints import ModelMeta, save_checkpoint
from worker.ml.models import build_model

runner = CliRunner()


def _checkpoint(path, seed: int):
    torch.manual_seed(seed)
    net = build_model("deeplabv3plus_mobilenet", 3, 16)
    return save_checkpoint(path, net, ModelMeta("deeplabv3plus_mobilenet", 16, CLASSES))


def _frames(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_predict_files_without_a_server(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGTUNE_DATA_DIR", str(tmp_path / "data"))
    clip = make_clip(tmp_path / "clip.mp4")
    after, before = _checkpoint(tmp_path / "after.pth", 1), _checkpoint(tmp_path / "before.pth", 2)
    out = tmp_path / "out" / "result.mp4"
    out.parent.mkdir()
    args = ["predict", str(clip), "--model", str(after), "--compare", str(before), "-o", str(out)]
    res = runner.invoke(app, [*args, "--fps", str(FPS / 2), "--masks"])
    assert res.exit_code == 0, res.output
    assert f"{N // 2} frames" in res.output
    assert _frames(out) == N // 2
    with zipfile.ZipFile(out.parent / "result-masks.zip") as zf:
        assert len(zf.namelist()) == N // 2
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["result-masks.zip", "result-timeline.csv", "result-timeline.png", "result.mp4"]
    assert not (tmp_path / "data").exists()  # no database, no media folder

    bad = runner.invoke(
        app,
        ["predict", str(clip), "--model", str(after), "--end", "99", "-o", str(tmp_path / "x.mp4")],
    )
    assert bad.exit_code != 0 and "within" in bad.output
    assert not (tmp_path / "x.mp4").exists()


def test_predict_a_video_of_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGTUNE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SEGTUNE_DATABASE_URL", raising=False)
    from backend.cli_jobs import local_deps
    from backend.services.projects import create_project
    from backend.services.videos import add_video

    clip = make_clip(tmp_path / "clip.mp4")
    added = runner.invoke(app, ["models", "add", str(_checkpoint(tmp_path / "m.pth", 1))])
    assert added.exit_code == 0 and "model 1 ready" in added.output, added.output
    with local_deps() as (settings, sessions, storage), sessions() as session:
        project = create_project(session, "clips")
        session.commit()
        upload = tmp_path / "upload.mp4"
        upload.write_bytes(clip.read_bytes())
        video = add_video(session, storage, settings, project.id, upload, "clip.mp4")
    out = tmp_path / "db.mp4"
    res = runner.invoke(app, ["predict", str(video.id), "--model", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert _frames(out) == N and (tmp_path / "db-timeline.csv").read_text().count("\n") == N + 1
    missing = runner.invoke(app, ["predict", str(video.id), "--model", "7", "-o", str(out)])
    assert missing.exit_code == 1 and "Model 7 does not exist" in missing.output
