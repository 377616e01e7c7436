"""Whole-video prediction speed and memory: the streamed pipeline against the bare forward pass.

Prints figures and asserts nothing. Each case runs in its own child process, so the peak
memory printed is that case's alone (peak resident set on CPU, peak allocated on CUDA).

- speed: ESPNetv2 s=2.0 (the real Cityscapes weights) on the 960x540 highway clip, and
  DeepLabv3+ MobileNetV2 (random weights in the public layout: speed does not depend on
  them) on a 1080p clip (the 960x540 urban clip scaled up: ../shared has no 1080p footage).
  The same decoded frames go through the bare forward pass (model + argmax, frames already in
  memory) and through predict_video (decode, infer, overlay, legend, H.264, timeline, masks).
  `pair` is the 1080p before | after: two DeepLabv3+ models (bare: both forward passes).
  Besides wall frames/s, each prints the process's CPU seconds per frame (all its threads):
  on a shared machine wall time measures the neighbours too, CPU time much less so, and
  cpu_ratio (bare CPU / pipeline CPU per frame) is what the wall ratio would be on cores of
  its own when inference keeps them all busy.
- stages: CPU milliseconds per 1080p frame of each stage alone, one thread each where the
  stage allows (decode, DeepLabv3+ forward, overlay, mask PNG, class areas, H.264), the
  previous overlay (float numpy) and preset (veryfast) beside today's, and the ratio they
  imply on two cores of its own: forward / (forward + the rest).
- memory: a 60 s and a 5 min clip (320x180, 15 fps) through the whole pipeline with a
  one-layer stand-in model, whose own memory is nil, so that what is measured is the
  pipeline's (queues, encoder, timeline); the real models add a constant.

    .venv/bin/python bench/predict_video.py [--frames 24] [--device cpu]
        [--only speed|memory|espnet|deeplab|pair|stages]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("SEGTUNE_SHARED_DIR") or REPO.parent / "shared") / "data"
ESPNET = SHARED / "weights" / "espnetv2_cityscapes" / "espnetv2_s_2.0_city_1024x512.pth"
HIGHWAY = SHARED / "videos" / "highway_960x540_25fps.mp4"
URBAN = SHARED / "videos" / "urban_dashcam_960x540_30fps.mp4"
CLASSES = [
    {"index": 0, "name": "background", "color": [0, 0, 0]},
    {"index": 1, "name": "car", "color": [0, 0, 142]},
    {"index": 2, "name": "traffic sign", "color": [220, 220, 0]},
]


def _peak_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak over.
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rescaled(src: Path, dest: Path, size: tuple[int, int], seconds: float, fps: int) -> Path:
    """src looped and scaled to size (w, h) for `seconds` at `fps`, as H.264."""
    import av
    import numpy as np

    todo = round(seconds * fps)
    with av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        while todo > 0:  # the source again and again, one frame in memory at a time
            with av.open(str(src)) as source:
                for f in source.decode(video=0):
                    frame = np.asarray(f.to_image().resize(size))
                    out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                    todo -= 1
                    if todo == 0:
                        break
        out.mux(stream.encode())
    return dest


def _model(case: str):
    import torch

    from worker.ml.checkpoints import load_model
    from worker.ml.classmap import cityscapes_default_map
    from worker.ml.models import build_model
    from worker.ml.presets import PRESETS

    if case == "espnet":
        net, meta = load_model(ESPNET, "espnetv2", None, PRESETS["cityscapes20"])
        return net, meta.mean, meta.std, [*cityscapes_default_map(), 0]
    if case in ("deeplab", "pair"):
        torch.manual_seed(0)
        net = build_model("deeplabv3plus_mobilenet", 19, 16).eval()
        return net, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], cityscapes_default_map()
    return torch.nn.Conv2d(3, 3, 1).eval(), [0.5] * 3, [0.25] * 3, None


def run_case(case: str, clip: str, frames: int, device_name: str) -> dict:
    """One measurement in this process (see the module docstring)."""
    import torch

    from worker.ml.evaluate import predict_batch
    from worker.ml.runtime import prepare, resolve_device
    from worker.predict_video import Outputs, Predictor, predict_video
    from worker.video_stream import FrameReader, select_frames

    device = resolve_device(device_name)
    net, mean, std, table = _model(case)
    nets = [prepare(net, device).eval()]
    if case == "pair":
        torch.manual_seed(1)
        nets.insert(0, prepare(_model(case)[0], device).eval())
    path = Path(clip)
    full = select_frames(path, None, 0.0, 1e9)
    n = len(full.pts) if frames == 0 else min(frames, len(full.pts))
    selection = type(full)(full.indices[:n], full.pts[:n], full.times[:n], full.rate)
    batch = 8 if device.type == "cuda" else 1
    figures: dict = {"case": case, "clip": path.name, "frames": n, "device": str(device)}
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        if case != "memory":
            reader = FrameReader(path, selection, ahead=n + 1)
            reader.start()
            decoded = [img for _, img in reader.frames()]
            figures["size"] = f"{decoded[0].shape[1]}x{decoded[0].shape[0]}"
            for net in nets:  # warm-up
                predict_batch(net, decoded[:batch], mean, std, device, class_map=table)
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(0, n, batch):
                for net in nets:
                    predict_batch(net, decoded[i : i + batch], mean, std, device, class_map=table)
            if device.type == "cuda":
                torch.cuda.synchronize()
            figures["bare_fps"] = round(n / (time.perf_counter() - start), 3)
            figures["bare_cpu_s"] = round((time.process_time() - cpu) / n, 3)
            del decoded, reader
        out = Outputs(*(Path(tmp) / f for f in ("v.mp4", "t.csv", "t.png", "m.zip")))
        predictors = [Predictor(f"{case} {k}", net, mean, std, table) for k, net in enumerate(nets)]
        start, cpu = time.perf_counter(), time.process_time()
        predict_video(path, selection, predictors, CLASSES, out, device=device, batch_size=batch)
        figures["pipeline_fps"] = round(n / (time.perf_counter() - start), 3)
        figures["pipeline_cpu_s"] = round((time.process_time() - cpu) / n, 3)
        figures["output_mb"] = round(out.video.stat().st_size / 2**20, 2)
        figures["output_size"] = "x".join(map(str, _video_size(out.video)))
    if "bare_fps" in figures:
        figures["ratio"] = round(figures["pipeline_fps"] / figures["bare_fps"], 3)
        figures["cpu_ratio"] = round(figures["bare_cpu_s"] / figures["pipeline_cpu_s"], 3)
    figures["peak_mb"] = round(_peak_mb(device), 1)
    return figures


def _cpu_ms(fn, items) -> float:
    start = time.process_time()
    for item in items:
        fn(item)
    return round((time.process_time() - start) / len(items) * 1000, 1)


def run_stages(clip: str, frames: int) -> dict:
    """CPU cost of each pipeline stage on the same 1080p frames (see the module docstring)."""
    import io
    from fractions import Fraction

    import cv2
    import numpy as np
    import torch
    from PIL import Image

    from worker.ml.evaluate import predict_batch
    from worker.ml.runtime import prepare, resolve_device
    from worker.predict_layout import Layout, areas
    from worker.video_stream import FrameReader, Mp4Writer, select_frames

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    path = Path(clip)
    full = select_frames(path, None, 0.0, 1e9)
    n = min(frames, len(full.pts))
    selection = type(full)(full.indices[:n], full.pts[:n], full.times[:n], full.rate)
    start = time.process_time()
    reader = FrameReader(path, selection, ahead=n + 1)
    reader.start()
    decoded = [img for _, img in reader.frames()]
    ms = {"decode": round((time.process_time() - start) / n * 1000, 1)}
    net, mean, std, table = _model("deeplab")
    net, device = prepare(net, resolve_device("cpu")).eval(), resolve_device("cpu")
    with torch.inference_mode():
        predict_batch(net, decoded[:1], mean, std, device, class_map=table)
        preds = []
        ms["forward"] = _cpu_ms(
            lambda img: preds.append(
                predict_batch(net, [img], mean, std, device, class_map=table)[0]
            ),
            decoded,
        )
    h, w = decoded[0].shape[:2]
    one, two = Layout(w, h, ["a"], CLASSES), Layout(w, h, ["a", "b"], CLASSES)
    pairs = list(zip(decoded, preds, strict=True))
    palette = one.palette[:, 0]

    def float_overlay(pair):  # the previous compose, for comparison
        img, pred = pair
        one.canvas[28 : 28 + h] = (img * 0.5 + palette[pred] * 0.5).round().astype(np.uint8)

    ms["overlay_float_before"] = _cpu_ms(float_overlay, pairs)
    ms["overlay"] = _cpu_ms(lambda p: one.compose(p[0], [p[1]], 0.5), pairs)
    ms["overlay_pair_capped"] = _cpu_ms(lambda p: two.compose(p[0], [p[1], p[1]], 0.5), pairs)
    png = lambda pred: Image.fromarray(pred).save(io.BytesIO(), format="PNG", compress_level=1)  # noqa: E731
    ms["mask_png"] = _cpu_ms(png, preds)
    ms["areas_bincount_before"] = _cpu_ms(lambda p: np.bincount(p.ravel(), minlength=256), preds)
    ms["areas"] = _cpu_ms(lambda p: areas(p, 3), preds)
    canvases = [one.compose(img, [pred], 0.5).copy() for img, pred in pairs]
    with tempfile.TemporaryDirectory() as tmp:
        for label, options in (
            ("encode_veryfast_before", {"preset": "veryfast", "crf": "20"}),
            ("encode", Mp4Writer.OPTIONS),
        ):
            mp4 = Mp4Writer(Path(tmp) / "o.mp4", one.width, one.height, Fraction(30))
            mp4.stream.options = dict(options)
            start = time.process_time()
            for canvas in canvases:
                mp4.write(canvas)
            mp4.close()
            ms[label] = round((time.process_time() - start) / n * 1000, 1)
    rest_now = ms["decode"] + ms["overlay"] + ms["mask_png"] + ms["areas"] + ms["encode"]
    rest_before = (
        ms["decode"] + ms["overlay_float_before"] + ms["mask_png"]
        + ms["areas_bincount_before"] + ms["encode_veryfast_before"]
    )  # fmt: skip
    return {
        "case": "stages",
        "frames": n,
        "cpu_ms_per_frame": ms,
        "implied_ratio_before": round(ms["forward"] / (ms["forward"] + rest_before), 3),
        "implied_ratio_now": round(ms["forward"] / (ms["forward"] + rest_now), 3),
    }


def _video_size(path: Path) -> tuple[int, int]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.width, stream.height


def _child(case: str, clip: Path, frames: int, device: str) -> dict:
    args = [sys.executable, __file__, "--child", case, str(clip), str(frames), device]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24, help="frames per speed case")
    cases = ["speed", "memory", "espnet", "deeplab", "pair", "stages"]
    parser.add_argument("--only", choices=cases)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, clip, frames, device = args.child
        run = run_stages if case == "stages" else None
        figures = run(clip, int(frames)) if run else run_case(case, clip, int(frames), device)
        print(json.dumps(figures))
        return
    with tempfile.TemporaryDirectory() as tmp:
        every = ("espnet", "deeplab", "pair", "stages")
        speed = every if args.only in (None, "speed") else (args.only,)
        if args.only != "memory":
            big = rescaled(URBAN, Path(tmp) / "urban_1080p.mp4", (1920, 1080), 3, 30)
            for case in speed:
                clip = HIGHWAY if case == "espnet" else big
                print(json.dumps(_child(case, clip, args.frames, args.device)), flush=True)
        if args.only in (None, "memory"):
            for seconds in (60, 300):
                clip = rescaled(URBAN, Path(tmp) / f"long_{seconds}.mp4", (320, 180), seconds, 15)
                row = {**_child("memory", clip, 0, args.device), "seconds": seconds}
                print(json.dumps(row), flush=True)
                clip.unlink()


if __name__ == "__main__":
    main()
