"""Two web processes (the default) share one SQLite database without losing or refusing saves."""

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

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
