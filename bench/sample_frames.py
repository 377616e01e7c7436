"""Benchmark: SegTune's frame sampler against the ffmpeg command line on a 1080p30 clip.

Makes a >=60 s 1920x1080 30 fps H.264 clip (a real street clip from ../shared scaled and
looped, or a synthetic one), samples it at 2 fps and 0.2 fps with SegTune's sampling job body
(PyAV decode, PNG files, database rows) and with `ffmpeg -vf fps=N` to PNG (the binary from
imageio-ffmpeg), in the same run, and prints times, ratios and whether the frames agree.
"""

import argparse
import io
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import av
import imageio_ffmpeg
import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from backend.config import Settings
from backend.db import make_engine, make_sessionmaker, session_scope, upgrade_database
from backend.models import Frame
from backend.services import projects, sampling, videos
from backend.storage import make_storage

ROOT = Path(__file__).resolve().parent.parent
SHARED_CLIP = ROOT.parent / "shared" / "data" / "videos" / "urban_dashcam_960x540_30fps.mp4"
console = Console()


def make_clip(path: Path, seconds: int, gop: int) -> None:
    """Encode the 1080p30 test clip (looping a real clip when available)."""
    source = []
    if SHARED_CLIP.exists():
        with av.open(str(SHARED_CLIP)) as src:
            for frame in src.decode(video=0):
                source.append(frame.reformat(1920, 1080, format="yuv420p").to_ndarray())
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        # Phones and dashcams write a keyframe every 0.5-2 s; --gop sets it explicitly.
        stream.codec_context.gop_size = gop
        stream.options = {"preset": "veryfast", "crf": "23"}
        for i in range(seconds * 30):
            if source:
                frame = av.VideoFrame.from_ndarray(source[i % len(source)], format="yuv420p")
            else:
                rgb = np.zeros((1080, 1920, 3), np.uint8)
                rgb[:, (i * 13) % 1920 :] = (i * 3) % 255
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def run_segtune(clip: Path, fps: float, work: Path) -> tuple[float, list[Frame], Path]:
    """Time SegTune's sampling job body (decode, PNG write, rows) on a fresh database."""
    settings = Settings(data_dir=work / f"segtune-{fps}")
    upgrade_database(settings)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    storage = make_storage(settings)
    upload = storage.temp_path(".mp4")
    shutil.copyfile(clip, upload)
    with session_scope(sessions) as session:
        project = projects.create_project(session, "bench")
        video = videos.add_video(session, storage, settings, project.id, upload, "clip.mp4")
        job = sampling.request_sampling(session, settings, video.id, fps=fps)
        params = dict(job.params)
    ctx = SimpleNamespace(
        job_id=0,
        params=params,
        sessions=sessions,
        storage=storage,
        settings=settings,
        progress=lambda fraction, message: None,
    )
    start = time.perf_counter()
    sampling.run_sampling(ctx)
    elapsed = time.perf_counter() - start
    with session_scope(sessions) as session:
        frames = list(session.query(Frame).order_by(Frame.index))
    return elapsed, frames, storage.path("")


def run_ffmpeg(clip: Path, fps: float, out_dir: Path) -> tuple[float, list[Path]]:
    """Time `ffmpeg -vf fps=N` writing PNG files."""
    out_dir.mkdir(parents=True)
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(clip)]
    cmd += ["-vf", f"fps={fps}", str(out_dir / "%06d.png")]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start, sorted(out_dir.glob("*.png"))


def frames_agree(ours: list[Frame], root: Path, theirs: list[Path]) -> tuple[bool, float]:
    """Same count and each pair shows the same source frame (tiny colour-conversion noise only)."""
    if len(ours) != len(theirs):
        return False, float("nan")
    worst = 0.0
    for frame, path in zip(ours, theirs, strict=True):
        a = np.asarray(Image.open(root / frame.storage_key), dtype=np.int16)
        b = np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB"), dtype=np.int16)
        worst = max(worst, float(np.abs(a - b).mean()))
    return worst < 2.0, worst


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--gop", type=int, default=30, help="keyframe interval in frames")
    parser.add_argument("--rates", default="2,0.2")
    parser.add_argument("--clip", type=Path, help="use this clip instead of making one")
    args = parser.parse_args()
    cache = ROOT / "bench" / "out"
    cache.mkdir(parents=True, exist_ok=True)
    clip = args.clip or cache / f"clip_1080p30_{args.seconds}s_gop{args.gop}.mp4"
    if not clip.exists():
        with console.status(f"encoding {clip.name}"):
            make_clip(clip, args.seconds, args.gop)
    table = Table(title=f"frame sampling, {clip.name}")
    for col in ("rate", "frames", "SegTune s", "ffmpeg s", "ratio", "same frames", "max MAD"):
        table.add_column(col)
    for rate in [float(r) for r in args.rates.split(",")]:
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            work = Path(tmp)
            ours_s, frames, root = run_segtune(clip, rate, work)
            ff_s, pngs = run_ffmpeg(clip, rate, work / "ffmpeg")
            same, mad = frames_agree(frames, root, pngs)
            table.add_row(
                f"{rate:g} fps",
                f"{len(frames)} / {len(pngs)}",
                f"{ours_s:.2f}",
                f"{ff_s:.2f}",
                f"{ours_s / ff_s:.2f}x",
                "yes" if same else "NO",
                f"{mad:.3f}",
            )
    console.print(table)


if __name__ == "__main__":
    main()
