"""Load test: concurrent annotators browsing frames and saving masks against a local server.

Starts `segtune web` on 127.0.0.1 with a temporary data dir (SQLite unless --database-url),
uploads frames, then N annotators loop for a fixed time: list the frames, open one (GET image,
GET mask with its version), save an edited mask with If-Match and, on 409, reload and retry.
Several annotators share frames, so conflicts happen. Prints p50/p99 per request kind and the
5xx count, then reads back every acknowledged version: none may be missing or different.
Exits non-zero on any 5xx, transport error or lost version.
"""

import argparse
import asyncio
import hashlib
import io
import random
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from backend.config import Settings
from backend.db import upgrade_database
from tests.live import LiveServer

console = Console(width=max(Console().width, 110))
KINDS = ("list frames", "GET image", "GET mask", "PUT mask", "verify version")


@dataclass
class Stats:
    """Latencies and outcomes per request kind, plus every acknowledged version."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    status: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    transport_errors: int = 0
    acked: dict[tuple[int, int], str] = field(default_factory=dict)
    duplicate_acks: int = 0
    retries_exhausted: int = 0

    def record(self, kind: str, started: float, res: httpx.Response) -> httpx.Response:
        """Note one request's latency and status."""
        self.latency[kind].append(time.perf_counter() - started)
        self.status[kind][res.status_code] += 1
        return res


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _mask_bodies(count: int, width: int, height: int) -> list[bytes]:
    """Distinct plausible masks: background, car and sign boxes, an unlabeled band."""
    bodies = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        labels = np.zeros((height, width), np.uint8)
        for value in (1, 1, 1, 2):
            w = int(rng.integers(width // 10, width // 4))
            h = int(rng.integers(height // 10, height // 4))
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            labels[y : y + h, x : x + w] = value
        labels[: 1 + seed % 16] = 255
        bodies.append(_png(labels, "L"))
    return bodies


async def _request(http, stats: Stats, kind: str, method: str, url: str, **kw):
    started = time.perf_counter()
    try:
        res = await http.request(method, url, **kw)
    except httpx.TransportError:
        stats.transport_errors += 1
        return None
    return stats.record(kind, started, res)


async def _save(http, stats: Stats, frame_id: int, version: int, body: bytes, tries: int) -> None:
    """PUT with If-Match; on 409 reload the mask (the person would look again) and retry."""
    for _ in range(tries):
        headers = {"If-Match": f'"{version}"', "Content-Type": "image/png"}
        url = f"/api/frames/{frame_id}/mask"
        res = await _request(http, stats, "PUT mask", "PUT", url, content=body, headers=headers)
        if res is None:
            return
        if res.status_code == 200:
            key = (frame_id, res.json()["version"])
            stats.duplicate_acks += key in stats.acked
            stats.acked[key] = hashlib.sha256(body).hexdigest()
            return
        if res.status_code != 409:
            return
        res = await _request(http, stats, "GET mask", "GET", f"/api/frames/{frame_id}/mask")
        if res is None or res.status_code != 200:
            return
        version = int(res.headers["etag"].strip('"'))
    stats.retries_exhausted += 1


async def _annotator(server, project_id, bodies, stats, until, think_s, seed, tries) -> None:
    rng = random.Random(seed)
    async with server.async_client(timeout=120) as http:
        while time.monotonic() < until:
            url = f"/api/projects/{project_id}/frames"
            res = await _request(http, stats, "list frames", "GET", url)
            if res is None or res.status_code != 200:
                continue
            frame_id = rng.choice(res.json())["id"]
            await _request(http, stats, "GET image", "GET", f"/api/frames/{frame_id}/image")
            res = await _request(http, stats, "GET mask", "GET", f"/api/frames/{frame_id}/mask")
            if res is None or res.status_code != 200:
                continue
            version = int(res.headers["etag"].strip('"'))
            await asyncio.sleep(think_s)
            await _save(http, stats, frame_id, version, rng.choice(bodies), tries)


async def _load(server, project_id: int, bodies: list[bytes], stats: Stats, args) -> None:
    until = time.monotonic() + args.duration
    think_s = args.think_ms / 1000
    await asyncio.gather(
        *(
            _annotator(server, project_id, bodies, stats, until, think_s, seed, args.tries)
            for seed in range(args.annotators)
        )
    )


async def _verify(server, stats: Stats) -> int:
    """Read back every acknowledged version; returns how many are missing or differ."""
    lost = 0
    async with server.async_client(timeout=120) as http:
        for (frame_id, version), digest in sorted(stats.acked.items()):
            url = f"/api/frames/{frame_id}/masks/{version}"
            res = await _request(http, stats, "verify version", "GET", url)
            ok = res is not None and res.status_code == 200
            lost += not ok or hashlib.sha256(res.content).hexdigest() != digest
    return lost


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[int(q * (len(ordered) - 1))] * 1000:.1f}"


def _report(args, stats: Stats, wall: float, lost: int) -> int:
    title = f"{args.annotators} annotators x {args.duration:.0f} s, {args.frames} frames"
    table = Table(title=f"{title} {args.width}x{args.height}, think {args.think_ms:.0f} ms")
    for col in (
        "request",
        "count",
        "p50 ms",
        "p99 ms",
        "max ms",
        "req/s",
        "409",
        "other 4xx",
        "5xx",
    ):
        table.add_column(col, justify="right" if col != "request" else "left", no_wrap=True)
    for kind in KINDS:
        lat, codes = stats.latency[kind], stats.status[kind]
        rate = f"{len(lat) / wall:.1f}" if kind != "verify version" else "-"
        other = sum(n for c, n in codes.items() if 400 <= c < 500 and c != 409)
        fives = sum(n for c, n in codes.items() if c >= 500)
        cells = (_ms(lat, 0.5), _ms(lat, 0.99), _ms(lat, 1.0), rate, codes.get(409, 0), other)
        table.add_row(kind, str(len(lat)), *map(str, cells), str(fives))
    console.print(table)
    server_errors = sum(n for codes in stats.status.values() for c, n in codes.items() if c >= 500)
    console.print(
        f"acknowledged versions: {len(stats.acked)} (read back: {len(stats.acked) - lost} "
        f"identical, {lost} lost)  duplicate acks: {stats.duplicate_acks}  "
        f"saves given up after {args.tries} conflicts: {stats.retries_exhausted}  "
        f"transport errors: {stats.transport_errors}  5xx: {server_errors}"
    )
    bad = server_errors + lost + stats.transport_errors + stats.duplicate_acks
    return 1 if bad else 0


def main() -> None:
    """Run the load test and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--frames", type=int, default=30, help="frames the annotators share")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--think-ms", type=float, default=0.0, help="pause before each save")
    parser.add_argument("--tries", type=int, default=5, help="PUT attempts per edit (409s)")
    parser.add_argument("--database-url", default="", help="e.g. postgresql://... (default SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", database_url=args.database_url)
        upgrade_database(settings)
        server = LiveServer(settings, Path(tmp) / "logs")
        server.start(worker_queues=())
        try:
            with server.client(timeout=300) as http:
                project = http.post("/api/projects", json={"name": "load"}).json()
                image = _png(np.full((args.height, args.width, 3), 128, np.uint8))
                files = [("files", (f"f{i}.png", image)) for i in range(args.frames)]
                http.post(f"/api/projects/{project['id']}/images", files=files).raise_for_status()
            bodies = _mask_bodies(64, args.width, args.height)
            stats, started = Stats(), time.monotonic()
            asyncio.run(_load(server, project["id"], bodies, stats, args))
            wall = time.monotonic() - started
            lost = asyncio.run(_verify(server, stats))
        finally:
            server.stop()
    sys.exit(_report(args, stats, wall, lost))


if __name__ == "__main__":
    main()
