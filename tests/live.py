"""Start and stop the real web and worker processes for integration and browser tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from backend.config import Settings
from tests import http
from tests.accounts import ADMIN_EMAIL, add_user, bearer


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Poll /api/health until the web process answers; raise with its log if it dies or hangs."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(log.read_text())
        time.sleep(0.2)


class LiveServer:
    """`segtune web` and `segtune worker` subprocesses sharing one configuration."""

    def __init__(self, settings: Settings, log_dir: Path):
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        # Made before the web process starts, so it finds an administrator and creates none.
        self.admin_email = ADMIN_EMAIL
        self.admin_token = add_user(settings, ADMIN_EMAIL, is_admin=True)
        http.TOKENS[self.url] = self.admin_token

    def env(self) -> dict[str, str]:
        """Environment that carries every setting to the child processes."""
        env = dict(os.environ)
        for name, value in self.settings.model_dump().items():
            secret = getattr(value, "get_secret_value", None)
            env[f"SEGTUNE_{name.upper()}"] = secret() if secret else str(value)
        env.update(
            SEGTUNE_DATA_DIR=str(self.settings.data_path),
            SEGTUNE_HOST="127.0.0.1",
            SEGTUNE_PORT=str(self.port),
        )
        return env

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        return subprocess.Popen(
            [sys.executable, "-m", "backend.cli", *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _spawn_worker(self, queues: str) -> subprocess.Popen:
        proc = self._spawn(f"worker{len(self.workers)}", "worker", "--queues", queues)
        self.workers.append(proc)
        return proc

    def _wait_worker_ready(self, proc: subprocess.Popen) -> None:
        log = self.log_dir / f"worker{self.workers.index(proc)}.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{log.read_text()}")
            if log.exists() and " ready." in log.read_text():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker did not start:\n{log.read_text()}")

    def start_worker(self, queues: str = "cpu,gpu,train") -> subprocess.Popen:
        """Start one more worker process and wait until it is ready."""
        proc = self._spawn_worker(queues)
        self._wait_worker_ready(proc)
        return proc

    def start(self, worker_queues: tuple[str, ...] = ("cpu,gpu,train",)) -> None:
        """Start web and one worker per entry of worker_queues."""
        # All at once: each process spends seconds importing, and two cores can overlap that.
        self.web = self._spawn("web", "web")
        started = [self._spawn_worker(queues) for queues in worker_queues]
        wait_until_healthy(self.url, self.web, self.log_dir / "web.log")
        for proc in started:
            self._wait_worker_ready(proc)

    def kill_worker(self, proc: subprocess.Popen) -> None:
        """kill -9 a worker and all its pool children."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def client(self, token: str | None = None, **kwargs) -> httpx.Client:
        """An HTTP client for this server, signed in as the administrator (or the token's user)."""
        return httpx.Client(base_url=self.url, headers=bearer(token or self.admin_token), **kwargs)

    def async_client(self, token: str | None = None, **kwargs) -> httpx.AsyncClient:
        """An async HTTP client for this server, signed in like client()."""
        headers = bearer(token or self.admin_token)
        return httpx.AsyncClient(base_url=self.url, headers=headers, **kwargs)

    def web_pids(self) -> list[int]:
        """The web process and all its descendants (uvicorn's workers, multiprocessing's
        tracker), from Linux's /proc."""
        pids, todo = [], [self.web.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        return pids

    def web_worker_pids(self) -> list[int]:
        """uvicorn's worker processes alone (not its supervisor or multiprocessing's tracker)."""
        return [
            pid
            for pid in self.web_pids()
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]

    def kill_web(self) -> None:
        """kill -9 the web server process group, as a power cut or OOM kill would."""
        os.killpg(self.web.pid, signal.SIGKILL)
        self.web.wait()

    def restart_web(self) -> None:
        """Start the web server again on the same port and wait until it answers."""
        self.web = self._spawn("web", "web")
        wait_until_healthy(self.url, self.web, self.log_dir / "web.log")

    def stop(self) -> None:
        """Stop every process started."""
        http.TOKENS.pop(self.url, None)
        # The test is over: a worker's warm shutdown (seconds of polling loops winding down)
        # would check nothing, so workers are killed outright; the web server stops gracefully.
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.web is not None and self.web.poll() is None:
            os.killpg(self.web.pid, signal.SIGTERM)
        for proc in [*self.workers, self.web]:
            if proc is None:
                continue
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def wait_job(self, job_id: int, timeout: float = 60) -> dict:
        """Poll a job until it finishes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = http.get(f"{self.url}/api/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} did not finish: {job}")
