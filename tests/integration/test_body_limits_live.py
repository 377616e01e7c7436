"""A real web process refuses a 300 MB JSON body from a client without credentials, and its
memory does not grow with the body."""

import itertools
from pathlib import Path

import httpx

from tests.live import LiveServer

MB = 2**20


def _kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def test_300_mb_chunked_json_without_credentials_is_413_and_memory_stays_flat(settings, tmp_path):
    # On both backends, although the body is refused before any database work.
    server = LiveServer(settings, tmp_path / "logs")
    server.start(worker_queues=())
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            headers = {"Content-Type": "application/json"}
            # Warm up the paths the big request takes (and sign-in's refusal), then measure.
            assert client.post("/api/projects", json={"name": "x"}).status_code == 401
            warm = client.post("/api/projects", content=iter([b" " * 2 * MB]), headers=headers)
            assert warm.status_code == 413
            pids = server.web_pids()
            before = {pid: _kb(pid, "VmRSS") for pid in pids}
            for pid in pids:  # peak RSS starts again from now (Linux 4.0+)
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            chunk = b" " * MB  # one buffer sent 300 times: the client holds 1 MB, not 300
            body = itertools.chain([b'{"name": "'], itertools.repeat(chunk, 300), [b'"}'])
            res = client.post("/api/projects", content=body, headers=headers)
            assert res.status_code == 413
            assert res.json() == {
                "detail": "The request body is larger than the 1 MB limit (SEGTUNE_MAX_JSON_KB)."
            }
            grown = {pid: _kb(pid, "VmHWM") - before[pid] for pid in pids}
            assert max(grown.values()) < 50 * 1024, grown
            # The rest of the body was discarded unread: the connection serves the next request.
            assert client.get("/api/health").status_code == 200
    finally:
        server.stop()
