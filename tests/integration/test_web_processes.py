"""Two web processes (the default): one SQLite database without losing or refusing saves, and
an even share of long-lived keep-alive connections."""

import asyncio
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from backend.api.connections import established
from backend.config import Settings
from backend.db import upgrade_database
from tests.live import LiveServer


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


async def _saves(server: LiveServer, frame_id: int, rounds: int) -> list[tuple[int, bytes]]:
    acked = []
    async with server.async_client(timeout=60) as client:
        version = 0
        for r in range(rounds):
            body = _png(np.full((48, 64), (frame_id + r) % 3, np.uint8), "L")
            res = await client.put(
                f"/api/frames/{frame_id}/mask",
                content=body,
                headers={"If-Match": f'"{version}"', "Content-Type": "image/png"},
            )
            assert res.status_code == 200, res.text
            version = res.json()["version"]
            acked.append((version, body))
    return acked


def test_two_web_processes_save_concurrently_on_sqlite(tmp_path):
    # SQLite only: its writers queue on a lock file; PostgreSQL locks rows itself.
    settings = Settings(data_dir=tmp_path / "data", web_workers=2)
    upgrade_database(settings)
    server = LiveServer(settings, tmp_path / "logs")
    server.start(worker_queues=())
    try:
        with server.client() as client:
            project = client.post("/api/projects", json={"name": "two"}).json()
            grey = _png(np.full((48, 64, 3), 90, np.uint8))
            files = [("files", (f"f{i}.png", grey)) for i in range(12)]
            frames = client.post(f"/api/projects/{project['id']}/images", files=files).json()

        async def everyone():
            return await asyncio.gather(*(_saves(server, f["id"], 10) for f in frames))

        # In a thread of its own: Playwright's session-wide browser may own this thread's loop.
        with ThreadPoolExecutor(1) as pool:
            results = pool.submit(asyncio.run, everyone()).result()
        with server.client() as client:
            for frame, acked in zip(frames, results, strict=True):
                assert [v for v, _ in acked] == list(range(1, 11))
                for version, body in acked:
                    got = client.get(f"/api/frames/{frame['id']}/masks/{version}")
                    assert got.status_code == 200 and got.content == body
        log = (tmp_path / "logs" / "web.log").read_text()
        assert log.count("Started server process") == 2  # really two processes
        assert "database is locked" not in log
    finally:
        server.stop()


def test_keep_alive_connections_spread_evenly_over_two_web_processes(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", web_workers=2)
    upgrade_database(settings)
    server = LiveServer(settings, tmp_path / "logs")
    server.start(worker_queues=())
    stop, failures = threading.Event(), []

    def keep_asking(client):
        # One keep-alive connection per client; a `Connection: close` answer makes the client
        # open a new one for its next request, which must then succeed as usual.
        while not stop.is_set():
            res = client.get("/api/health")
            if res.status_code != 200:
                failures.append(res.status_code)

    clients = [server.client(timeout=30) for _ in range(16)]
    try:
        processes = server.web_worker_pids()
        assert len(processes) == 2
        with ThreadPoolExecutor(len(clients)) as pool:
            for client in clients:  # all connect at once, as a burst of painters would
                pool.submit(keep_asking, client)
            shares, deadline = [], time.monotonic() + 15
            while time.monotonic() < deadline:
                time.sleep(0.25)
                shares = sorted(established(server.port, pid)[1] for pid in processes)
                if sum(shares) == 16 and shares[1] - shares[0] <= 1:
                    break
            stop.set()
        assert shares == [8, 8]
        assert failures == []
    finally:
        stop.set()
        for client in clients:
            client.close()
        server.stop()
