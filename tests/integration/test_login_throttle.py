"""Guesses sent at once to two web processes: the sign-in throttle lets only its limit through."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from backend.api.connections import established
from tests.accounts import ADMIN_EMAIL
from tests.live import LiveServer

GUESSES = 25


async def _guess_at_once(server: LiveServer, workers: list[int]):
    """Spread keep-alive connections over both processes, then guess over all of them at once."""
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        # Generous: on a loaded 2-core machine the processes take a while to even out.
        shares, deadline = [0], time.monotonic() + 60
        while min(shares) < 5 and time.monotonic() < deadline:
            await asyncio.gather(*(client.get("/api/health") for _ in range(GUESSES)))
            shares = [established(server.port, pid)[1] for pid in workers]
        body = {"email": ADMIN_EMAIL, "password": "wrong guess"}
        answers = await asyncio.gather(
            *(client.post("/api/auth/login", json=body) for _ in range(GUESSES))
        )
    return answers, shares


def test_concurrent_wrong_sign_ins_on_two_web_processes_are_throttled(settings, tmp_path):
    settings = settings.model_copy(update={"web_workers": 2})
    server = LiveServer(settings, tmp_path / "logs")
    server.start(worker_queues=())
    try:
        workers = server.web_worker_pids()
        assert len(workers) == 2
        # In a thread of its own: Playwright's session-wide browser may own this thread's loop.
        with ThreadPoolExecutor(1) as pool:
            answers, shares = pool.submit(asyncio.run, _guess_at_once(server, workers)).result()
        assert min(shares) >= 5  # both processes held connections the guesses went over
        limit = settings.login_attempts
        codes = sorted(res.status_code for res in answers)
        assert codes == [401] * limit + [429] * (GUESSES - limit)
        for res in answers:
            if res.status_code == 429:
                assert int(res.headers["retry-after"]) > 0
    finally:
        server.stop()
