"""The request thread pool: short blocking calls run on a few threads per app."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from backend.api.deps import REQUEST_THREADS, in_request_thread, request_threads


def test_request_threads_bound_how_many_calls_run_at_once():
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace()))
    request.app.state.request_threads = request_threads()
    running, peak, lock = 0, 0, threading.Lock()

    def blocking(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return n * 2

    async def many():
        return await asyncio.gather(*(in_request_thread(request, blocking, n) for n in range(6)))

    # In a thread of its own: Playwright's session-wide browser may own this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, many()).result() == [0, 2, 4, 6, 8, 10]
    assert peak == REQUEST_THREADS == 2
