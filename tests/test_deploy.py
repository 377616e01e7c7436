"""The compose file is valid and wires the services the deployment guide promises."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_config_is_valid():
    exe = shutil.which("docker-compose")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is missing; .ci/run installs Debian's package")
        pytest.skip("Debian's docker-compose is not installed")
    out = subprocess.run(
        [exe, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    services = config["services"]
    expected = {"postgres", "redis", "migrate", "web", "worker-cpu", "worker-gpu", "worker-train"}
    assert expected <= set(services)
    assert "--queues" in services["worker-gpu"]["command"]
    assert services["worker-gpu"]["command"][-3:] == ["gpu", "--concurrency", "1"]
    assert services["worker-cpu"]["command"][3] == "cpu"
    # Fine-tunes on their own GPU worker, so they never hold up short model jobs.
    assert services["worker-train"]["command"][-3:] == ["train", "--concurrency", "1"]
    assert services["worker-train"]["image"] == services["worker-gpu"]["image"]
    gpu = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia"
    web_deps = services["web"]["depends_on"]
    assert web_deps["migrate"]["condition"] == "service_completed_successfully"
    for name in ("postgres", "redis", "web"):
        assert "healthcheck" in services[name]


def test_env_example_documents_every_setting():
    from backend.config import Settings

    documented = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"SEGTUNE_{name.upper()}=" in documented, name
