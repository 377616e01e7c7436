"""The install split: `make run` installs what running needs, `make test` adds the test tools."""

import ast
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Import names of the `dev` extra's packages: nothing that runs SegTune may import them.
DEV_IMPORTS = {
    "pytest",
    "pytest_timeout",
    "playwright",
    "sklearn",
    "imageio_ffmpeg",
    "ruff",
    "yaml",
    "moto",
    "pycocotools",
    "hypothesis",
    "schemathesis",
    "aiohttp",
}


def _name(requirement: str) -> str:
    for stop in "<>=[ ;":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _dry_run(target: str, tmp_path: Path) -> str:
    cmd = ["make", "-n", "-B", target, f"VENV={tmp_path / 'venv'}"]
    return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def test_test_tools_are_only_in_the_dev_extra():
    project = _project()
    extras = project["optional-dependencies"]
    dev = {_name(r) for r in extras["dev"]}
    assert {"pytest", "playwright", "ruff", "hypothesis"} <= dev
    running = {_name(r) for r in project["dependencies"] + extras["ml"]}
    assert not running & dev, f"test tools among what running installs: {running & dev}"
    assert "torch" in running


@pytest.mark.parametrize("package", ["backend", "worker"])
def test_running_code_imports_no_test_tool(package):
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            used = {name.split(".")[0] for name in names} & DEV_IMPORTS
            assert not used, f"{path.relative_to(ROOT)} imports the test tool(s) {used}"


def test_make_run_installs_without_the_test_tools_and_shows_progress(tmp_path):
    run = _dry_run("run", tmp_path)
    installs = [line for line in run.splitlines() if "pip install" in line]
    assert any(line.endswith("-e '.[ml]'") for line in installs), run
    assert not any("dev" in line for line in installs), run
    assert not any("--quiet" in line or " -q" in line for line in installs), run
    # A line per step, so a first install is never minutes of silence.
    steps = [line for line in run.splitlines() if line.startswith('echo "==>')]
    assert len(steps) >= 4 and any("PyTorch" in line for line in steps), run
    assert "segtune serve" in run


def test_make_test_adds_the_dev_extra_and_ci_runs_make_test(tmp_path):
    test = _dry_run("test", tmp_path)
    assert "-e '.[ml,dev]'" in test and "/bin/pytest" in test, test
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert any(line.startswith("make test") for line in ci)
