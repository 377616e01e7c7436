"""How long must a report's resampling blocks be? Measured on CamVid with two real models.

Scores ESPNetv2 s=2.0 (model A) and s=1.0 (model B), both the public Cityscapes weights mapped
to background / car / traffic sign, on every CamVid frame in ../shared/data/camvid (train: three
drives at 1 Hz; val: one drive at 15 Hz), then prints

- the autocorrelation, by time lag, of each frame's contribution to the change A - B (pixel
  accuracy, car IoU, sign IoU, mean IoU; linearised ratio contributions, demeaned per drive);
- the report's own block bootstrap (stats.block_weights over blocks.assign_blocks) standard
  error of the change for block lengths 0-60 s: it grows while blocks still share correlated
  frames and levels off once they are roughly independent.

Usage (from the repository root; about 10 minutes on a 2-core CPU, then cached):
    .venv/bin/python studies/blocks/run.py [--cache /tmp/camvid_two_models.npz]
"""

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from backend.services.reports import blocks, stats  # noqa: E402

SHARED = Path(os.environ.get("SEGTUNE_SHARED_DIR") or REPO.parent / "shared") / "data"
CAMVID = SHARED / "camvid"
WEIGHTS = SHARED / "weights" / "espnetv2_cityscapes"
MODELS = {"A": "espnetv2_s_2.0_city_1024x512.pth", "B": "espnetv2_s_1.0_city_1024x512.pth"}
# Cityscapes ids (+19 void) -> background 0 / car 1 / sign 2; CamVid labels likewise.
CLASS_MAP = [0] * 20
CLASS_MAP[6] = CLASS_MAP[7] = 2
CLASS_MAP[13] = 1
LENGTHS = (0, 1, 2, 3, 5, 10, 20, 30, 60)


def camvid_files() -> list[tuple[str, Path]]:
    """(split, image) of every CamVid frame here, train then val, in name order."""
    return [(s, p) for s in ("train", "val") for p in sorted((CAMVID / s).glob("*.png"))]


def score(cache: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Names and per-frame 3x3 confusion matrices of models A and B (computed once, cached)."""
    if cache.exists():
        data = np.load(cache)
        return [str(n) for n in data["names"]], data["A"], data["B"]
    import torch

    from worker.ml import metrics
    from worker.ml.checkpoints import load_model
    from worker.ml.evaluate import predict
    from worker.ml.presets import PRESETS

    lut = np.full(256, 255, np.uint8)
    lut[:11], lut[8], lut[6] = 0, 1, 2
    loaded = {
        k: load_model(str(WEIGHTS / f), classes=PRESETS["cityscapes20"]) for k, f in MODELS.items()
    }
    files = camvid_files()
    cms: dict[str, list] = {k: [] for k in MODELS}
    for i, (split, path) in enumerate(files):
        image = np.asarray(Image.open(path).convert("RGB"))
        truth = lut[np.asarray(Image.open(CAMVID / f"{split}annot" / path.name))]
        for key, (model, meta) in loaded.items():
            pred = predict(
                model, image, meta.mean, meta.std, torch.device("cpu"), class_map=CLASS_MAP
            )
            cms[key].append(metrics.confusion_matrix(truth, pred, 3))
        if i % 50 == 0:
            print(f"scored {i}/{len(files)}", flush=True)
    names = [f"{s}/{p.name}" for s, p in files]
    np.savez(cache, names=np.array(names), A=np.array(cms["A"]), B=np.array(cms["B"]))
    return names, np.array(cms["A"]), np.array(cms["B"])


def contributions(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Each frame's linearised contribution to the change A - B of each figure."""
    a, b = a.astype(float), b.astype(float)

    def iou_parts(cm):
        tp = np.diagonal(cm, axis1=1, axis2=2)
        union = cm.sum(1) + cm.sum(2) - tp
        return (tp - tp.sum(0) / union.sum(0) * union) / union.sum(0)

    ia, ib = iou_parts(a), iou_parts(b)
    pixels = a.sum((1, 2))
    right_a, right_b = np.trace(a, axis1=1, axis2=2), np.trace(b, axis1=1, axis2=2)
    gap = (right_a.sum() - right_b.sum()) / pixels.sum()
    return {
        "pixel accuracy": (right_a - right_b - gap * pixels) / pixels.sum(),
        "car IoU": ia[:, 1] - ib[:, 1],
        "sign IoU": ia[:, 2] - ib[:, 2],
        "mean IoU": (ia - ib).mean(1),
    }


def drives(names: list[str]) -> dict[str, list[int]]:
    """Frame positions of each drive (split and name sequence), ordered by frame number."""
    out = defaultdict(list)
    for i, name in enumerate(names):
        split, base = name.split("/")
        sequence, number = blocks.name_sequence(base)
        out[f"{split}/{sequence}"].append((number, i))
    return {k: [i for _, i in sorted(v)] for k, v in out.items()}


def autocorrelation(values: np.ndarray, groups: list[list[int]], lags: int) -> list[float]:
    """Correlation of values k frames apart within a drive, each drive demeaned."""
    out = []
    for lag in range(1, lags + 1):
        pairs = [
            (v[:-lag], v[lag:])
            for v in (values[g] - values[g].mean() for g in groups)
            if len(v) > lag
        ]
        x, y = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
        out.append(float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum())))
    return out


def block_se(names: list[str], a: np.ndarray, b: np.ndarray) -> list[tuple]:
    """(length, blocks, SE of pixel-accuracy change, SE of mean-IoU change) per block length."""
    facts = [blocks.FrameFacts(source_name=n.split("/")[1]) for n in names]
    rows = []
    for length in LENGTHS:
        ids = blocks.assign_blocks(facts, length)
        w = stats.block_weights(ids, 4000, seed=1).astype(float)
        acc = []
        for cms in (a, b):
            summed = np.tensordot(w, cms.astype(float), axes=1)
            pixel_acc, miou, _ = stats.batched_metrics(summed)
            acc.append((pixel_acc, miou))
        change = [acc[0][k] - acc[1][k] for k in (0, 1)]
        rows.append((length, blocks.count_blocks(ids), *(np.nanstd(c) for c in change)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/camvid_two_models.npz"))
    args = parser.parse_args()
    names, a, b = score(args.cache)
    groups = drives(names)
    print("drives:", {k: len(v) for k, v in groups.items()})
    slow = [g for k, g in groups.items() if k.startswith("train/")]
    fast = [g for k, g in groups.items() if k.startswith("val/")]
    for figure, values in contributions(a, b).items():
        print(f"\n{figure}: autocorrelation of per-frame contributions to A - B")
        print(
            "  1 Hz drives, lags 1..15 s:     ",
            [round(r, 2) for r in autocorrelation(values, slow, 15)],
        )
        print(
            "  15 Hz drive, lags 1..15 frames:",
            [round(r, 2) for r in autocorrelation(values, fast, 15)],
        )
    print(
        "\nblock length | blocks | SE pixel-acc change (x frames) | SE mean-IoU change (x frames)"
    )
    rows = block_se(names, a, b)
    for length, n, se_acc, se_miou in rows:
        print(
            f"{length:>9} s | {n:>6} | {se_acc:.4f} (x{se_acc / rows[0][2]:.2f})"
            f"               | {se_miou:.4f} (x{se_miou / rows[0][3]:.2f})"
        )


if __name__ == "__main__":
    main()
