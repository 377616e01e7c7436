"""Benchmark: mask PUT latency with concurrent clients against the embedded server.

Starts `segtune web` with the `make run` settings (SQLite WAL, local media) on a temporary data
dir, creates 1080p frames, then 16 clients each save masks with If-Match version checks for a
fixed number of rounds after a few warm-up rounds (not timed: they include opening the
connections and the web processes settling an even share of them): closed loop (each saves
again as soon as the last save answered, the worst case) and paced (each saves once a second,
as an autosaving painter does at most).
Compares one and two web processes in the same run. Prints p50/p99 latency, errors, and checks
that no acknowledged version was lost (every acknowledged version is readable afterwards, byte
for byte).

The clients run on the same 2 cores as the server, so they are an aiohttp load generator
(about 0.4 ms of CPU per save, measured) rather than httpx (about 2 ms): a heavy client would
measure itself. The CPU both sides used per save is printed with the latencies.
"""

import argparse
import asyncio
import io
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from backend.config import Settings
from backend.db import upgrade_database
from tests import http
from tests.live import LiveServer

console = Console(width=150)


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _mask(seed: int, width: int, height: int) -> bytes:
    """A plausible label map: background, a few car boxes, a sign, unlabeled border."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((height, width), np.uint8)
    for _ in range(4):
        x, y = rng.integers(0, width - 300), rng.integers(height // 2, height - 150)
        labels[y : y + 150, x : x + 300] = 1
    labels[100:160, 200 + seed % 500 : 260 + seed % 500] = 2
    labels[-20:] = 255
    return _png(labels, "L")


async def _client(server, frame_id, rounds, warmup, bodies, acked, latencies, pace_s):
    auth = {"Authorization": f"Bearer {server.admin_token}"}
    async with aiohttp.ClientSession(server.url, headers=auth) as client:
        version, errors = 0, 0
        # Paced clients start at random offsets, as painters do not all stop stroking at once.
        await asyncio.sleep(random.Random(frame_id).uniform(0, pace_s))
        for r in range(warmup + rounds):
            body = bodies[r % len(bodies)]
            start = time.perf_counter()
            headers = {"If-Match": f'"{version}"', "Content-Type": "image/png"}
            url = f"/api/frames/{frame_id}/mask"
            async with client.put(url, data=body, headers=headers) as res:
                answer = await res.json()
            if r >= warmup:
                latencies.append(time.perf_counter() - start)
            if res.status == 200:
                version = answer["version"]
                acked.append((frame_id, version, body))
            else:
                errors += 1
            await asyncio.sleep(max(0.0, pace_s - (time.perf_counter() - start)))
        return errors


async def _run(server, frames: list[int], args, bodies: list[bytes], pace_s: float):
    acked, latencies = [], []
    started = time.perf_counter()
    errors = await asyncio.gather(
        *(
            _client(server, f, args.rounds, args.warmup, bodies, acked, latencies, pace_s)
            for f in frames
        )
    )
    return acked, latencies, sum(errors), time.perf_counter() - started


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes, from /proc (Linux)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=100, help="timed saves per client")
    parser.add_argument("--warmup", type=int, default=10, help="untimed saves per client first")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument(
        "--web-workers", default="1,2", help="web processes to compare (comma-separated)"
    )
    parser.add_argument(
        "--pace",
        default="0,1",
        help="seconds between one client's saves (0 = closed loop: save again at once; "
        "1 = a painter autosaving once a second); comma-separated",
    )
    args = parser.parse_args()
    table = Table(
        title=f"mask PUT, {args.clients} clients x {args.rounds}, {args.width}x{args.height}"
    )
    columns = ("web procs", "pace s", "timed saves", "p50 ms", "p99 ms", "max ms", "saves/s")
    for col in (*columns, "server CPU ms/save", "client CPU ms/save", "errors", "lost"):
        table.add_column(col)
    for workers in [int(w) for w in args.web_workers.split(",")]:
        for pace in [float(p) for p in args.pace.split(",")]:
            table.add_row(str(workers), f"{pace:g}", *_measure(args, workers, pace))
    console.print(table)
    console.print(f"mask PNG size: {len(_mask(0, args.width, args.height)) / 1024:.0f} KiB")


def _measure(args, web_workers: int, pace_s: float) -> list[str]:
    """One server with this many web processes; the figures of one table row."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", web_workers=web_workers)
        upgrade_database(settings)
        server = LiveServer(settings, Path(tmp) / "logs")
        server.start()
        try:
            base = server.url
            project = http.post(f"{base}/api/projects", json={"name": "bench"}).json()
            image = _png(np.full((args.height, args.width, 3), 128, np.uint8))
            files = [("files", (f"f{i}.png", image)) for i in range(args.clients)]
            frames = http.post(
                f"{base}/api/projects/{project['id']}/images", files=files, timeout=120
            ).json()
            bodies = [_mask(s, args.width, args.height) for s in range(8)]
            ids = [f["id"] for f in frames]
            pids = server.web_pids()
            cpu_before = _cpu_seconds(pids), time.process_time()
            acked, lat, errors, wall = asyncio.run(_run(server, ids, args, bodies, pace_s))
            server_cpu = _cpu_seconds(pids) - cpu_before[0]
            client_cpu = time.process_time() - cpu_before[1]
            lost = 0
            for frame_id, version, body in acked:
                got = http.get(f"{base}/api/frames/{frame_id}/masks/{version}")
                lost += got.status_code != 200 or got.content != body
        finally:
            server.stop()
    lat_ms = sorted(x * 1000 for x in lat)
    saves = len(acked) + errors  # warm-up included: the wall and CPU times include it
    return [
        str(len(lat_ms)),
        f"{statistics.median(lat_ms):.1f}",
        f"{lat_ms[int(0.99 * (len(lat_ms) - 1))]:.1f}",
        f"{lat_ms[-1]:.1f}",
        f"{saves / wall:.0f}",
        f"{server_cpu / saves * 1000:.1f}",
        f"{client_cpu / saves * 1000:.1f}",
        str(errors),
        str(lost),
    ]


if __name__ == "__main__":
    main()
