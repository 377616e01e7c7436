"""Keep-alive connections shared evenly between web processes: counting, surplus, shedding."""

import socket
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from backend.api.connections import ConnectionBalancer, established, excess

LINUX = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc")


@LINUX
def test_established_counts_the_host_and_this_process():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        accepted = [listener.accept()[0] for _ in range(2)]
        try:
            # Three connections reached the port; this process accepted two of them (its
            # client ends have other local ports and do not count).
            assert established(port) == (3, 2)
            accepted[0].close()
            clients[0].close()
            assert established(port)[1] == 1
        finally:
            for sock in clients + accepted:
                sock.close()


def test_established_without_proc(tmp_path):
    assert established(8000, proc=tmp_path) == (0, 0)


@pytest.mark.parametrize(
    ("total", "mine", "processes", "surplus"),
    [(16, 13, 2, 5), (16, 9, 2, 1), (16, 8, 2, 0), (17, 9, 2, 0), (16, 3, 2, 0), (10, 5, 3, 1)],
)
def test_excess_is_what_lies_beyond_an_even_share(total, mine, processes, surplus):
    assert excess(total, mine, processes) == surplus


def _client(processes: int, counts: tuple[int, int], calls: list) -> TestClient:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict:
        return {"ok": True}

    def count(port):
        calls.append(port)
        return counts

    app.add_middleware(ConnectionBalancer, processes=processes, count=count)
    return TestClient(app)


def test_a_process_above_its_share_closes_its_surplus_once():
    calls = []
    client = _client(2, (16, 10), calls)
    closing = [client.get("/ping").headers.get("connection") for _ in range(5)]
    # Two beyond the share of 8: two responses ask the client to reconnect; the next check
    # is half a second later, so the rest keep their connection.
    assert closing == ["close", "close", None, None, None]
    assert calls == [80]  # checked once, for the port the request came in on


def test_a_process_at_its_share_or_alone_keeps_connections():
    calls = []
    even = _client(2, (16, 8), calls)
    assert all(even.get("/ping").headers.get("connection") is None for _ in range(3))
    alone_calls = []
    alone = _client(1, (16, 16), alone_calls)
    assert alone.get("/ping").headers.get("connection") is None
    assert alone_calls == []
