"""The dusk domain-shift study, run with SegTune itself through its HTTP API.

A user's workflow, end to end, on real data (CamVid 0001TP, a dusk drive, and the public
ESPNetv2 Cityscapes weights):

 1. create a project (classes background, car, traffic sign); upload the dusk clip; sample it
    at 1 fps (62 frames);
 2. attach the matching ground truth: frame k of the clip is the k-th `0001TP_*.png` of CamVid
    train in name order; its label is mapped with SegTune's own `camvid-default` mapping
    (car 8, SignSymbol 6 -> traffic sign, Unlabelled 11 -> unlabeled, the rest background) and
    saved with PUT /api/frames/{id}/mask, exactly what a person painting it would save;
 3. split 32 train / 5 val / 25 test in contiguous blocks; a second project holds the
    daylight CamVid 0016E5 val frames (imported as a zip), the source-like reference;
 4. register ESPNetv2 s=2.0 (Cityscapes, 20 classes) and fine-tune it (--preset, default the
    product's default) with traffic light 6 and traffic sign 7 -> traffic sign, car 13 -> car,
    everything else -> background; the job also scores the test frames at least 6 s after the
    last validation frame (frames 43-62: held out after a gap) and the daylight reference
    (forgetting);
 5. download the report (JSON, CSV, figures) into this folder and write results.md.

Usage (from the repository root):
    .venv/bin/python studies/dusk/run.py                 # starts web + worker on a temp dir
    .venv/bin/python studies/dusk/run.py --url http://127.0.0.1:8000   # a running SegTune
"""

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from backend.services.datasets.classmap import ProjectClass, parse_mapping, resolve  # noqa: E402

HERE = Path(__file__).resolve().parent
VIDEO = "data/videos/camvid_0001TP_dusk_1fps.mp4"
WEIGHTS = "data/weights/espnetv2_cityscapes/espnetv2_s_2.0_city_1024x512.pth"
SEQUENCE = "0001TP_"
SPLIT = {"strategy": "contiguous", "train": 32, "val": 5, "test": 25}
GAP_S = 6.0  # test frames >= 6 s after the last val frame (36 s): frames 43-62 of the drive
DAYLIGHT = "0016E5_"  # CamVid val: a daylight drive, the reference for forgetting
# Cityscapes train ids (+ 19 void) -> project classes: 13 car -> car; 6 traffic light and
# 7 traffic sign -> traffic sign (CamVid's SignSymbol covers both); everything else background.
CLASS_MAP = [0] * 20
CLASS_MAP[13] = 1
CLASS_MAP[6] = CLASS_MAP[7] = 2
# Test frames whose report figure is kept (first, middle, last of the 25 test frames).
FRAME_FIGURES = (0, 12, 24)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Client:
    """A thin httpx wrapper that fails loudly with the server's reason."""

    def __init__(self, url: str, token: str):
        headers = {"Authorization": f"Bearer {token}"}
        self.http = httpx.Client(base_url=url, timeout=120, headers=headers)

    def __call__(self, method: str, path: str, expect=(200, 201, 202), **kw) -> httpx.Response:
        res = self.http.request(method, path, **kw)
        if res.status_code not in expect:
            raise SystemExit(f"{method} {path} -> {res.status_code}: {res.text[:2000]}")
        return res

    def json(self, method: str, path: str, **kw):
        return self(method, path, **kw).json()

    def wait(self, job_id: int, what: str, timeout: float = 1800) -> dict:
        """Poll a job, printing its progress messages, until it ends."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            job = self.json("GET", f"/api/jobs/{job_id}")
            line = f"{what}: {job['status']} {job['progress']:.0%} {job.get('message') or ''}"
            if line != last:
                log(line)
                last = line
            if job["status"] in ("succeeded", "failed", "cancelled"):
                if job["status"] != "succeeded":
                    raise SystemExit(f"{what} {job['status']}: {job.get('error')}")
                return job
            time.sleep(0.5)
        raise SystemExit(f"{what} did not finish in {timeout:.0f}s")


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def machine() -> dict:
    """What the study ran on (the machine is shared: the load average is part of the story)."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    import torch

    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def start_server(data_dir: Path):
    """`segtune web` + `segtune worker` on a fresh data dir (the test suite's launcher)."""
    from backend.config import Settings
    from backend.db import upgrade_database
    from tests.live import LiveServer

    settings = Settings(data_dir=data_dir, database_url="", broker_url="")
    upgrade_database(settings)
    server = LiveServer(settings, data_dir / "logs")
    server.start()
    return server


def daylight_project(api: Client, shared: Path) -> int:
    """A project of the daylight 0016E5 val frames with their labels, imported as a zip."""
    import zipfile

    project = api.json("POST", "/api/projects", json={"name": "CamVid 0016E5 daylight"})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for image in sorted((shared / "data/camvid/val").glob(f"{DAYLIGHT}*.png")):
            zf.write(image, f"val/{image.name}")
            zf.write(shared / "data/camvid/valannot" / image.name, f"valannot/{image.name}")
    job = api.json(
        "POST",
        f"/api/projects/{project['id']}/imports",
        params={"layout": "camvid", "mapping": "camvid-default"},
        files={"file": ("daylight.zip", buf.getvalue())},
    )
    api.wait(job["id"], "daylight import")
    return project["id"]


def run(api: Client, shared: Path, out: Path, preset: str | None) -> dict:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.perf_counter() - since, 1)
        log(f"{name}: {timings[name]:.1f}s")
        return time.perf_counter()

    # 1. Project, video, sampling.
    t = time.perf_counter()
    project = api.json("POST", "/api/projects", json={"name": "CamVid 0001TP at dusk"})
    pid = project["id"]
    names = [c["name"] for c in project["classes"]]
    assert names == ["background", "car", "traffic sign"], names
    with open(shared / VIDEO, "rb") as fh:
        video = api.json(
            "POST", f"/api/projects/{pid}/videos", files={"file": (Path(VIDEO).name, fh)}
        )
    log(f"video {video['id']}: {video['width']}x{video['height']}, {video['duration_s']:.0f}s")
    job = api.json("POST", f"/api/videos/{video['id']}/sample", json={"fps": 1})
    api.wait(job["id"], "sampling")
    frames = api.json("GET", f"/api/projects/{pid}/frames")
    frames.sort(key=lambda f: f["index"])
    assert len(frames) == 62, len(frames)
    t = lap("1 project, upload, sample 1 fps", t)

    # 2. Ground truth: frame k <- the k-th 0001TP annotation in name order, mapped as CamVid's
    # default preset maps it, saved as a user's painted mask would be.
    images = sorted((shared / "data/camvid/train").glob(f"{SEQUENCE}*.png"))
    assert len(images) == len(frames)
    classes = [ProjectClass(c["index"], c["name"], c["color"]) for c in project["classes"]]
    mapping = resolve(parse_mapping("camvid-default"), classes)
    differences = []
    for frame, image_path in zip(frames, images, strict=True):
        # The sampled frame must be the CamVid frame whose label it gets (the clip is x264,
        # so compare loosely: mean absolute difference per channel value).
        sampled = np.asarray(
            Image.open(io.BytesIO(api("GET", f"/api/frames/{frame['id']}/image").content))
        ).astype(np.int16)
        original = np.asarray(Image.open(image_path).convert("RGB")).astype(np.int16)
        differences.append(float(np.abs(sampled - original).mean()))
        with Image.open(shared / "data/camvid/trainannot" / image_path.name) as label:
            mask = mapping.apply(label, image_path.name)
        api(
            "PUT",
            f"/api/frames/{frame['id']}/mask",
            content=png(mask),
            headers={"If-Match": '"0"', "Content-Type": "image/png"},
        )
        api("PATCH", f"/api/frames/{frame['id']}", json={"label_status": "done"})
    log(f"sampled vs CamVid frames: mean |difference| {np.mean(differences):.2f}, "
        f"worst {max(differences):.2f} (of 255)")  # fmt: skip
    assert max(differences) < 8, "the sampled frames are not the annotated CamVid frames"
    t = lap("2 ground truth for 62 frames", t)

    # 3. Contiguous split 32 / 5 / 25.
    counts = api.json("POST", f"/api/projects/{pid}/splits", json=SPLIT)
    assert counts == {k: SPLIT[k] for k in ("train", "val", "test")}, counts
    t = lap("3 split", t)

    # 4. Base model and fine-tune.
    with open(shared / WEIGHTS, "rb") as fh:
        model = api.json(
            "POST",
            "/api/models",
            files={"file": (Path(WEIGHTS).name, fh)},
            data={"preset": "cityscapes20", "name": "ESPNetv2 s=2.0 Cityscapes"},
        )
    register_job = next(
        j for j in api.json("GET", "/api/jobs") if j["params"].get("model_id") == model["id"]
    )
    api.wait(register_job["id"], "registration")
    model = api.json("GET", f"/api/models/{model['id']}")
    assert model["architecture"] == "espnetv2" and len(model["classes"]) == 20, model
    t = lap("4a register base model", t)
    reference = daylight_project(api, shared)
    t = lap("4b import the daylight reference", t)
    check = api.json("GET", f"/api/projects/{pid}/train/check")
    log(f"train check: {check}")
    train = api.json(
        "POST",
        f"/api/projects/{pid}/train",
        json={
            "base_model_id": model["id"],
            "class_map": CLASS_MAP,
            "heldout_gap_s": GAP_S,
            "reference_project_id": reference,
            **({"preset": preset} if preset else {}),
        },
    )
    log(f"train job {train['id']}: {json.dumps(train['params'])}")
    job = api.wait(train["id"], "fine-tune")
    t = lap("4c fine-tune + test, held-out and reference scoring", t)

    # 5. The report and its files.
    report = api.json("GET", f"/api/jobs/{job['id']}/report")
    (out / "report.json").write_bytes(api("GET", f"/api/jobs/{job['id']}/report.json").content)
    (out / "report.csv").write_bytes(api("GET", f"/api/jobs/{job['id']}/report.csv").content)
    html = api("GET", f"/api/jobs/{job['id']}/report.html").content
    for name in ("confusion", "loss", "miou", *(f"frame_{k}" for k in FRAME_FIGURES)):
        data = api("GET", f"/api/jobs/{job['id']}/report/figures/{name}.png").content
        (out / f"{name}.png").write_bytes(data)
    per_frame = per_frame_iou(job["result"], names)
    per_frame_figure(per_frame, out / "per_frame_sign_iou.png")
    lap("5 report", t)
    timings["total"] = round(time.perf_counter() - t0, 1)
    return {
        "job": {k: job[k] for k in ("id", "status", "started_at", "finished_at")},
        "result": {k: v for k, v in job["result"].items() if k != "test"},
        "report": report,
        "per_frame": per_frame,
        "timings_s": timings,
        "html_bytes": len(html),
        "sampled_vs_camvid_mean_abs_diff": round(float(np.mean(differences)), 3),
    }


def per_frame_iou(result: dict, names: list[str]) -> dict:
    """IoU of each class on each test frame, before and after (None where undefined)."""
    out = {"frames": result["test"]["after"]["frame_names"]}
    for side in ("before", "after"):
        rows = []
        for cm in np.asarray(result["test"][side]["frame_confusions"], np.int64):
            tp = np.diag(cm).astype(float)
            union = cm.sum(0) + cm.sum(1) - tp
            rows.append({n: (tp[i] / union[i] if union[i] else None) for i, n in enumerate(names)})
        out[side] = rows
    return out


def per_frame_figure(per_frame: dict, path: Path) -> None:
    """Traffic-sign and car IoU on each test frame, before and after (a small PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(8, 4.6), sharex=True, dpi=90)
    x = np.arange(len(per_frame["frames"]))
    for ax, name in zip(axes, ("traffic sign", "car"), strict=True):
        for side, style in (("before", "o--"), ("after", "s-")):
            y = [r[name] if r[name] is not None else np.nan for r in per_frame[side]]
            ax.plot(x, y, style, label=side, markersize=4)
        ax.set_ylabel(f"{name} IoU")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right")
    axes[1].set_xlabel("test frame (time order; 0001TP frames 38-62)")
    fig.suptitle("Per-frame IoU on the 25 dusk test frames", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def ci(interval) -> str:
    return "n/a" if interval is None else f"[{interval[0]:+.3f}, {interval[1]:+.3f}]"


def all_tables(report: dict) -> str:
    """The test split's tables, then those of the held-out and reference sets."""
    parts = [
        f"### Test split, right after validation ({report['n_test_frames']} frames, "
        f"{report['n_blocks']} blocks)\n\n" + tables(report)
    ]
    for entry in (report.get("sets") or {}).values():
        parts.append(
            f"### {entry['title']} ({entry['n_frames']} frames, "
            f"{entry['n_blocks']} blocks)\n\n" + tables(entry)
        )
    return "\n\n".join(parts)


def tables(report: dict) -> str:
    """Table 1 (overall) and Table 2 (IoU per class) in Markdown, with the 95% intervals."""
    before, after, change, intervals = (
        report["before"],
        report["after"],
        report["change"],
        report["ci"],
    )
    lines = [
        "| metric | before | 95% CI | after | 95% CI | change | 95% CI of change |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in (("pixel_accuracy", "pixel accuracy"), ("mean_iou", "mean IoU")):
        lines.append(
            f"| {label} | {fmt(before[key])} | {ci(intervals['before'][key])} "
            f"| {fmt(after[key])} | {ci(intervals['after'][key])} "
            f"| {fmt(change[key])} | {ci(intervals['change'][key])} |"
        )
    lines += [
        "",
        "| IoU | before | 95% CI | after | 95% CI | change | 95% CI of change |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in after["class_iou"]:
        lines.append(
            f"| {name} | {fmt(before['class_iou'][name])} "
            f"| {ci(intervals['before']['class_iou'][name])} "
            f"| {fmt(after['class_iou'][name])} | {ci(intervals['after']['class_iou'][name])} "
            f"| {fmt(change['class_iou'][name])} "
            f"| {ci(intervals['change']['class_iou'][name])} |"
        )
    return "\n".join(lines)


def write_results(summary: dict, out: Path) -> None:
    report = summary["report"]
    result = summary["result"]
    history = report["history"]
    lines = [
        "# Dusk study: results of the last run (written by run.py)",
        "",
        f"Machine: {summary['machine']}",
        "",
        f"Timings (s): {summary['timings_s']}",
        "",
        f"Fine-tune: {result['iterations']} iterations, best val mIoU "
        f"{fmt(result['best_val_miou'])} at iteration {result['best_iteration']}, "
        f"training {result['train_seconds']:.0f}s; frames train/val/test "
        f"{result['n_train_frames']}/{result['n_val_frames']}/{result['n_test_frames']}.",
        "",
        all_tables(report),
        "",
        "Test pixels per class: " + json.dumps(report["class_pixels"]),
        "",
        "Test frames in which each class is labeled: " + json.dumps(report["class_frames"]),
        "",
        "Sentences: " + " ".join(report["sentences"]),
        *(
            f"Sentences ({entry['title']}): " + " ".join(entry["sentences"])
            for entry in (report.get("sets") or {}).values()
        ),
        "",
        "| iteration | train loss | val loss | val mIoU | elapsed s |",
        "|---|---|---|---|---|",
    ]
    for h in history:
        lines.append(
            f"| {h['iteration']} | {fmt(h['train_loss'])} | {fmt(h['val_loss'])} "
            f"| {fmt(h['val_miou'])} | {h['elapsed_seconds']:.0f} |"
        )
    (out / "results.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running SegTune (default: start one on a temp dir)")
    parser.add_argument(
        "--token",
        default=os.environ.get("SEGTUNE_TOKEN", ""),
        help="personal API token for --url (default: $SEGTUNE_TOKEN)",
    )
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument("--preset", help="training preset (default: the product's default)")
    args = parser.parse_args()
    camvid = ("data/camvid/train", "data/camvid/trainannot", "data/camvid/val")
    for needed in (VIDEO, WEIGHTS, *camvid):
        if not (args.shared / needed).exists():
            raise SystemExit(f"{args.shared / needed} is missing")
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    log(f"machine: {info}")
    server, data_dir = None, None
    wall = time.perf_counter()
    try:
        if args.url:
            url, token = args.url, args.token
        else:
            data_dir = Path(tempfile.mkdtemp(prefix="segtune-dusk-"))
            server = start_server(data_dir)
            url, token = server.url, server.admin_token
            log(f"SegTune at {url}, data in {data_dir}")
        summary = run(Client(url, token), args.shared, args.out, args.preset)
    finally:
        if server is not None:
            server.stop()
        if data_dir is not None and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    summary["timings_s"]["wall_including_server_start"] = round(time.perf_counter() - wall, 1)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary["machine"] = info
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    write_results(summary, args.out)
    print(all_tables(summary["report"]))
    log(f"done in {summary['timings_s']['wall_including_server_start']:.0f}s; see {args.out}")


if __name__ == "__main__":
    main()
