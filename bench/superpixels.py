"""How good and how fast the painter's superpixels are, on real CamVid frames with truth.

Real frames from ../shared (never committed): dusk 0001TP and daylight 0006R0 (train) and
0016E5 (val), every `--step`-th frame, classes mapped as the project's defaults (car 8 -> 1,
sign/symbol 6 -> 2, unlabelled 11 -> 255 = ignored, the rest background 0). For each method
(the service's SLIC at both granularities, and Felzenszwalb for comparison) it prints:

- achievable segmentation accuracy (ASA): the pixel accuracy when every superpixel takes its
  majority true class (the best any superpixel labeling can do); target >= 0.97 at the default;
- the time to compute them at CamVid size and for 1080p frames (a CamVid frame upscaled and a
  real video frame from ../shared/data/videos upscaled);
- a simulated annotator: actions per frame to reach 95% pixel accuracy (unlabeled counts as
  wrong, ignored truth pixels are not counted). Superpixel tool: one click per superpixel with
  its majority class, largest first. Brush (default 9 px): the frame is cut into 9-row bands,
  the band's majority class per column is painted, and each run of one class across a band is
  one straight horizontal stroke; strokes are taken largest first. Two starts: everything
  unlabeled (as the issue asks) and after one "Fill unlabeled with background" action, when
  only clicks and strokes that gain (car, sign) are made, the best first. And superpixel-tool
  strokes from unlabeled (see superpixel_strokes), the stroke-for-stroke comparison.

    .venv/bin/python -m bench.superpixels --step 4
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from backend.services.superpixels import GRANULARITIES, compute  # noqa: E402

SHARED = Path(os.environ.get("SEGTUNE_SHARED_DIR") or REPO.parent / "shared") / "data"
CAMVID = SHARED / "camvid"
VIDEO = SHARED / "videos" / "highway_960x540_25fps.mp4"
CAMVID_MAP = {8: 1, 6: 2, 11: 255}  # as bench/recipe.py
SEQUENCES = [("train", "0001TP"), ("train", "0006R0"), ("val", "0016E5")]
BRUSH = 9  # the painter's default brush size
TARGET = 0.95


def felzenszwalb(image: np.ndarray, scale: float) -> np.ndarray:
    """Felzenszwalb-Huttenlocher graph segments (the alternative to SLIC)."""
    from skimage.segmentation import felzenszwalb as fz

    return fz(image, scale=scale, sigma=0.5, min_size=20)


METHODS = {
    "slic fine (default)": lambda im: compute(im, "fine"),
    "slic coarse": lambda im: compute(im, "coarse"),
    "felzenszwalb scale 100": lambda im: felzenszwalb(im, 100),
    "felzenszwalb scale 300": lambda im: felzenszwalb(im, 300),
}


def frames(step: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB image, 3-class truth) of every step-th frame of each sequence."""
    lut = np.zeros(256, np.uint8)
    for source, target in CAMVID_MAP.items():
        lut[source] = target
    out = []
    for folder, prefix in SEQUENCES:
        for path in sorted((CAMVID / folder).glob(f"{prefix}_*.png"))[::step]:
            image = np.asarray(Image.open(path).convert("RGB"))
            truth = lut[np.asarray(Image.open(CAMVID / f"{folder}annot" / path.name))]
            out.append((path.stem, image, truth))
    return out


def _clicks_to(gains: np.ndarray, start: int, valid: int) -> float:
    """Actions (best first) until TARGET accuracy, or inf when all of them fall short."""
    if start >= TARGET * valid:
        return 0
    reached = np.cumsum(np.sort(gains)[::-1]) + start
    hit = np.nonzero(reached >= TARGET * valid)[0]
    return float(hit[0] + 1) if hit.size else float("inf")


def superpixel_clicks(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """ASA, clicks from unlabeled, clicks after filling with background."""
    valid = truth != 255
    n = int(labels.max()) + 1
    hist = np.zeros((n, 3), np.int64)
    np.add.at(hist, (labels[valid], truth[valid]), 1)
    total = int(valid.sum())
    best = hist.max(1)
    asa = best.sum() / total
    # Largest first: the size order, each click gaining its majority's pixels.
    order = np.argsort(-hist.sum(1), kind="stable")
    reached = np.cumsum(best[order])
    hit = np.nonzero(reached >= TARGET * total)[0]
    from_unlabeled = float(hit[0] + 1) if hit.size else float("inf")
    # After "fill with background": a click on a car/sign-majority superpixel gains the
    # difference between its majority and its background pixels.
    gain = np.where(hist.argmax(1) != 0, best - hist[:, 0], 0)
    after_fill = _clicks_to(gain[gain > 0], int(hist[:, 0].sum()), total)
    return asa, from_unlabeled, after_fill + 1


def superpixel_strokes(labels: np.ndarray, truth: np.ndarray) -> float:
    """Superpixel-tool strokes from unlabeled: horizontal lines one superpixel height apart;
    along a line, each run of not yet filled superpixels with one majority class is a stroke
    filling them; superpixels no line touched take one click each. Best first, as above."""
    valid = truth != 255
    n = int(labels.max()) + 1
    hist = np.zeros((n, 3), np.int64)
    np.add.at(hist, (labels[valid], truth[valid]), 1)
    major, best = hist.argmax(1), hist.max(1)
    spacing = max(1, round(np.sqrt(labels.size / n)))
    seen = np.zeros(n, bool)
    gains = []
    for y in range(spacing // 2, labels.shape[0], spacing):
        row = labels[y][np.r_[True, labels[y][1:] != labels[y][:-1]]]
        run, cls = 0, -1
        for k in row:
            if seen[k]:
                continue
            seen[k] = True
            if major[k] != cls and cls >= 0:
                gains.append(run)
                run = 0
            cls, run = major[k], run + int(best[k])
        if cls >= 0:
            gains.append(run)
    gains += [int(g) for g in best[~seen]]
    return _clicks_to(np.asarray(gains), 0, int(valid.sum()))


def brush_strokes(truth: np.ndarray) -> tuple[float, float]:
    """Strokes from unlabeled and after filling with background (see the module docstring)."""
    height, width = truth.shape
    valid = truth != 255
    total = int(valid.sum())
    gains, fill_gains = [], []
    for y0 in range(0, height, BRUSH):
        band = truth[y0 : y0 + BRUSH]
        counts = np.stack([(band == c).sum(0) for c in range(3)])  # 3 x width
        painted = counts.argmax(0)
        edges = np.nonzero(np.diff(painted))[0] + 1
        for a, b in zip(np.r_[0, edges], np.r_[edges, width], strict=True):
            c = painted[a]
            right = int(counts[c, a:b].sum())
            gains.append(right)
            if c != 0:
                fill_gains.append(right - int(counts[0, a:b].sum()))
    reached = np.cumsum(np.sort(gains)[::-1])
    hit = np.nonzero(reached >= TARGET * total)[0]
    from_unlabeled = float(hit[0] + 1) if hit.size else float("inf")
    positive = np.array([g for g in fill_gains if g > 0])
    after_fill = _clicks_to(positive, int((truth == 0).sum()), total)
    return from_unlabeled, after_fill + 1


def time_1080p(step_frame: np.ndarray) -> dict[str, list[float]]:
    """Seconds per method for 1920x1080 frames: an upscaled CamVid frame and a video frame."""
    images = [np.asarray(Image.fromarray(step_frame).resize((1920, 1080), Image.BICUBIC))]
    if VIDEO.exists():
        import av

        with av.open(str(VIDEO)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i == 50:  # 2 s in: traffic, a sign
                    video = frame.to_image().convert("RGB").resize((1920, 1080), Image.BICUBIC)
                    images.append(np.asarray(video))
                    break
    out: dict[str, list[float]] = {}
    for name, method in METHODS.items():
        for image in images:
            t0 = time.perf_counter()
            method(image)
            out.setdefault(name, []).append(time.perf_counter() - t0)
    return out


def fmt(values: list[float]) -> str:
    a = np.asarray(values, float)
    unreached = int(np.isinf(a).sum())
    finite = a[np.isfinite(a)]
    text = f"{finite.mean():7.1f}" if finite.size else "      -"
    return text + (f" ({unreached} not reached)" if unreached else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=int, default=4, help="every n-th frame of each sequence")
    args = parser.parse_args()
    if not CAMVID.is_dir():
        sys.exit(f"{CAMVID} is missing (see ../shared/data/README.md)")
    data = frames(args.step)
    brush = [brush_strokes(truth) for _, _, truth in data]
    print(f"{len(data)} CamVid frames (480x360), every {args.step}th of 0001TP, 0006R0, 0016E5")
    print(f"SLIC parameters: {GRANULARITIES}")
    head = f"{'method':24} {'count':>6} {'ASA mean':>8} {'ASA min':>8} {'s/frame':>8}"
    head += f" {'clicks (unlabeled start)':>26} {'clicks (fill bg first)':>24}"
    print(head + f" {'superpixel strokes':>22}")
    for name, method in METHODS.items():
        rows, counts, seconds = [], [], []
        for _, image, truth in data:
            t0 = time.perf_counter()
            labels = method(image)
            seconds.append(time.perf_counter() - t0)
            counts.append(int(labels.max()) + 1)
            rows.append((*superpixel_clicks(labels, truth), superpixel_strokes(labels, truth)))
        asa = np.array([r[0] for r in rows])
        line = f"{name:24} {np.mean(counts):6.0f} {asa.mean():8.4f} {asa.min():8.4f}"
        line += f" {np.mean(seconds):8.2f} {fmt([r[1] for r in rows]):>26}"
        line += f" {fmt([r[2] for r in rows]):>24}"
        print(line + f" {fmt([r[3] for r in rows]):>22}", flush=True)
    line = f"{'brush 9px strokes':24} {'':6} {'':8} {'':8} {'':8}"
    print(line + f" {fmt([b[0] for b in brush]):>26} {fmt([b[1] for b in brush]):>24}")
    print("1080p compute time (s): CamVid frame upscaled, highway video frame upscaled")
    for name, values in time_1080p(data[0][1]).items():
        print(f"  {name:24} " + "  ".join(f"{v:6.2f}" for v in values), flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}; one SLIC call uses one core.")


if __name__ == "__main__":
    main()
