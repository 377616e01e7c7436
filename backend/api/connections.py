"""Keep-alive connections shared evenly between the web processes.

Several web processes accept from one listening socket, and a keep-alive connection stays with
the process that accepted it. Connections opened in a burst land unevenly (16 clients measured
split 14/2, 12/4, 9/7 between two processes), and the busier process then answers two to three
times slower while the other idles. So a process holding more than its share of the established
connections answers a request with `Connection: close`: the client reconnects, and the new
connection lands on either process. Checked twice a second, the split settles at even.
"""

import math
import os
import time
from pathlib import Path

CHECK_EVERY_S = 0.5
_ESTABLISHED = "01"  # the TCP state code in /proc/net/tcp


def established(port: int, pid: int | str = "self", proc: Path = Path("/proc")) -> tuple[int, int]:
    """Established TCP connections to a local port: on this host, and held by a process.

    Reads Linux's /proc (connections not yet accepted count for the host only); (0, 0) where
    there is no /proc.
    """
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _ESTABLISHED and int(local.rpartition(":")[2], 16) == port:
                inodes.add(inode)
    mine = 0
    fd_dir = proc / str(pid) / "fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return len(inodes), 0
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:  # closed since listed
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            mine += 1
    return len(inodes), mine


def excess(total: int, mine: int, processes: int) -> int:
    """How many connections this process holds beyond an even share (rounded up)."""
    return max(0, mine - math.ceil(total / processes))


class ConnectionBalancer:
    """Pure ASGI middleware: a process above its share of connections closes the surplus."""

    def __init__(self, app, processes: int, count=established):
        self.app = app
        self.processes = processes
        self.count = count
        self._next_check = 0.0
        self._surplus = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.processes < 2 or not self._shed(scope):
            await self.app(scope, receive, send)
            return

        async def send_closing(message):
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_closing)

    def _shed(self, scope) -> bool:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + CHECK_EVERY_S
            port = (scope.get("server") or (None, None))[1]
            self._surplus = excess(*self.count(port), self.processes) if port else 0
        if self._surplus <= 0:
            return False
        self._surplus -= 1
        return True
