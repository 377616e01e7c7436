"""The segtune command line: models add (file and URL download) and train, in-process."""

import functools
import hashlib
import http.server
import threading

import pytest
import torch
from typer.testing import CliRunner

from backend.cli import app
from worker.ml.models import build_model

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh embedded SegTune under tmp_path."""
    monkeypatch.setenv("SEGTUNE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SEGTUNE_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "cityscapes_mnv2.pth"
    torch.save({"model_state": build_model("deeplabv3plus_mobilenet", 19, 16).state_dict()}, path)
    return path


@pytest.fixture
def file_server(checkpoint):
    """A local HTTP server for the checkpoint's folder (tests never reach the internet)."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(checkpoint.parent)
    )
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_models_add_file_then_list(env, checkpoint):
    res = runner.invoke(app, ["models", "add", str(checkpoint), "--preset", "cityscapes19"])
    assert res.exit_code == 0, res.output
    assert "model 1 ready" in res.output
    listed = runner.invoke(app, ["models", "list"])
    assert "deeplabv3plus" in listed.output and "19" in listed.output


def test_models_add_url_checks_sha256(env, checkpoint, file_server):
    url = f"{file_server}/{checkpoint.name}"
    good = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    bad = runner.invoke(app, ["models", "add", "--url", url, "--sha256", "0" * 64])
    assert bad.exit_code == 1 and "SHA-256 mismatch" in bad.output
    ok = runner.invoke(
        app, ["models", "add", "--url", url, "--sha256", good, "--preset", "cityscapes19"]
    )
    assert ok.exit_code == 0, ok.output
    missing = runner.invoke(app, ["models", "add", "--url", f"{file_server}/nope.pth"])
    assert missing.exit_code == 1 and "HTTP 404" in missing.output


def test_train_refuses_a_project_without_labels(env):
    from backend.cli_jobs import local_deps
    from backend.services.projects import create_project

    with local_deps() as (_s, sessions, _st), sessions() as session:
        create_project(session, "empty")
        session.commit()
    res = runner.invoke(app, ["train", "--project", "1"])
    assert res.exit_code == 1 and "No labeled frames in the train split" in res.output


def test_import_a_folder_then_a_refused_one(env):
    import numpy as np
    from PIL import Image

    from backend.cli_jobs import local_deps
    from backend.services.projects import create_project

    folder = env / "dataset"
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    for k in range(2):
        Image.fromarray(np.full((16, 24, 3), 60 * k, np.uint8)).save(folder / f"images/f{k}.png")
        mask = np.zeros((16, 24), np.uint8)
        mask[4:8, 4:12] = 1
        Image.fromarray(mask).save(folder / f"masks/f{k}.png")
    with local_deps() as (_, sessions, _storage), sessions() as session:
        project = create_project(session, "imported")
        session.commit()
        project_id = project.id
    res = runner.invoke(app, ["import", str(folder), "--project", str(project_id)])
    assert res.exit_code == 0, res.output
    assert "imported 2 frames with 2 masks" in res.output
    refused = runner.invoke(app, ["import", str(folder), "--project", "99"])
    assert refused.exit_code == 1 and "does not exist" in refused.output, refused.output
