"""segtune users create | set-password | token | list, and the first administrator on start."""

import os
import re
import subprocess
import sys

import httpx
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from backend.app import create_app
from backend.cli import app
from backend.config import Settings
from tests.conftest import RecordingDispatcher
from tests.live import free_port, wait_until_healthy

runner = CliRunner()


def _env(monkeypatch, settings: Settings) -> None:
    monkeypatch.setenv("SEGTUNE_DATA_DIR", str(settings.data_path))
    monkeypatch.setenv("SEGTUNE_DATABASE_URL", settings.database_url)


def _login(settings: Settings, email: str, password: str) -> int:
    with TestClient(create_app(settings, dispatcher=RecordingDispatcher())) as client:
        res = client.post("/api/auth/login", json={"email": email, "password": password})
        return res.status_code


def test_create_set_password_token_and_list(monkeypatch, settings):
    _env(monkeypatch, settings)
    res = runner.invoke(app, ["users", "create", "Ana@Example.org", "--password", "first pass"])
    assert res.exit_code == 0 and "created" in res.output, res.output
    assert _login(settings, "ana@example.org", "first pass") == 200
    dup = runner.invoke(app, ["users", "create", "ana@example.org", "--password", "12345678"])
    assert dup.exit_code == 1 and "already exists" in dup.output
    short = runner.invoke(app, ["users", "create", "bo@example.org", "--password", "short"])
    assert short.exit_code == 1 and "8 to 1024" in short.output
    # Without --password and without a terminal, the password is read from stdin.
    res = runner.invoke(app, ["users", "set-password", "ana@example.org"], input="second pass\n")
    assert res.exit_code == 0, res.output
    assert _login(settings, "ana@example.org", "first pass") == 401
    assert _login(settings, "ana@example.org", "second pass") == 200
    res = runner.invoke(app, ["users", "token", "ana@example.org", "--name", "nightly"])
    token = res.output.strip()
    assert res.exit_code == 0 and token.startswith("stk_")
    with TestClient(create_app(settings, dispatcher=RecordingDispatcher())) as client:
        me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["user"]["email"] == "ana@example.org"
    missing = runner.invoke(app, ["users", "token", "who@example.org"])
    assert missing.exit_code == 1 and "No user" in missing.output
    listed = runner.invoke(app, ["users", "list"])
    assert "ana@example.org" in listed.output


def test_first_start_creates_an_admin_and_prints_the_password_once(tmp_path):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEGTUNE_")},
        "SEGTUNE_DATA_DIR": str(tmp_path / "data"),
        "SEGTUNE_PORT": str(port),
    }
    cli = [sys.executable, "-m", "backend.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    outputs = []
    for _ in range(2):  # the second start finds the admin and prints no password
        log = tmp_path / f"web{len(outputs)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([*cli, "web"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", proc, log)
            outputs.append(log.read_text())
            if len(outputs) == 1:
                match = re.search(r"^\|   Password:  (\S+) +\|$", outputs[0], re.MULTILINE)
                assert match, outputs[0]
                _assert_framed_block(outputs[0], match.group(1), port)
                signed_in = httpx.post(
                    f"http://127.0.0.1:{port}/api/auth/login",
                    json={"email": "admin@localhost", "password": match.group(1)},
                )
                assert signed_in.status_code == 200 and signed_in.json()["user"]["is_admin"]
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert "First administrator" not in outputs[1]


def _assert_framed_block(output: str, password: str, port: int) -> None:
    """The block fits an 80-column terminal, and the password, URL and command are whole lines."""
    lines = output.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("+-"))
    bottom = next(i for i in range(top + 1, len(lines)) if lines[i].startswith("+-"))
    block = lines[top : bottom + 1]
    assert all(len(line) <= 80 for line in block), block
    assert len({len(line) for line in block}) == 1, block  # a closed frame
    inner = [line[2:-2].strip() for line in block[1:-1]]
    assert f"Password:  {password}" in inner
    assert f"http://127.0.0.1:{port}/login" in inner
    assert "segtune users set-password admin@localhost" in inner


def test_admin_from_settings(monkeypatch, settings):
    from backend.cli_users import ensure_admin

    configured = settings.model_copy(
        update={"admin_email": "boss@example.org", "admin_password": SecretStr("from the env 1")}
    )
    ensure_admin(configured)
    assert _login(settings, "boss@example.org", "from the env 1") == 200
