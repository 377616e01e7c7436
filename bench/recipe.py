"""Which fine-tuning recipe generalises and does not forget: a held-out dusk protocol.

Real CamVid frames from ../shared (never committed). The dusk drive 0001TP (62 frames, 1 s
apart) is cut in time: train on frames 1-32, validate on 33-37, leave a 5 s gap (38-42), test
on 43-62. Retention ("forgetting") is scored on daylight drives the model never trains on:
0016E5 val (101 frames over 6.7 s) and 0006R0 (101 frames, 1 s apart). The base model is the
public ESPNetv2 s=2.0 Cityscapes file, mapped to background / car / traffic sign exactly as
the fine-tune is (traffic light and sign -> traffic sign). Intervals are the report's own
(backend.services.reports: paired bootstrap over 10 s time blocks at the expanded level), and
again over 5 s blocks to show how much a verdict rests on the block length. Prints figures;
asserts nothing.

    .venv/bin/python -m bench.recipe --variants seed,lwf --seeds 0,1
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("SEGTUNE_SHARED_DIR") or REPO.parent / "shared") / "data"
CAMVID = SHARED / "camvid"
WEIGHTS = SHARED / "weights" / "espnetv2_cityscapes" / "espnetv2_s_2.0_city_1024x512.pth"
# CamVid id -> project class (background 0, car 1, traffic sign 2; 11 unlabelled -> 255).
CAMVID_MAP = {8: 1, 6: 2, 11: 255}
# Cityscapes train ids (+ void 19) -> project class: traffic light 6 and sign 7 -> sign, car 13.
CITY_MAP = [2 if k in (6, 7) else 1 if k == 13 else 0 for k in range(20)]
BLOCK_SECONDS = 10.0  # the report's default (SEGTUNE_REPORT_BLOCK_SECONDS)
BLOCK_SECONDS_ALT = 5.0
# Daylight street clips without labels, for distillation on unlabeled frames ("lwf_unlab").
UNLABELED_VIDEOS = ("urban_dashcam_960x540_30fps.mp4", "highway_960x540_25fps.mp4")

VARIANTS = {
    "seed": {},
    "fp32val": {},  # the seed recipe again: validation is always float32 now
    "lwf": {"distill_weight": 1.0},
    "l2sp": {"l2sp_weight": 0.01},
    "freezebn": {"freeze_bn": True},
    "ema": {"ema_decay": 0.9, "select": "last"},
    "lowlr": {"lr": 0.003},
    "combo": {"distill_weight": 1.0, "freeze_bn": True, "ema_decay": 0.9, "select": "last"},
    "ema_lwf": {"ema_decay": 0.9, "select": "last", "distill_weight": 1.0},
    "ema_lwf2": {"ema_decay": 0.9, "select": "last", "distill_weight": 3.0},
    "ema_l2sp": {"ema_decay": 0.9, "select": "last", "l2sp_weight": 0.01},
    # Teacher and student both with the base's batch-norm statistics.
    "lwf_frozenbn": {"distill_weight": 1.0, "freeze_bn": True},
    # Distillation on the training crops plus 4 crops of unlabeled daylight street video a step.
    "lwf_unlab": {"distill_weight": 1.0, "distill_unlabeled_batch": 4},
    "l2sp_unlab": {"l2sp_weight": 0.01, "distill_weight": 1.0, "distill_unlabeled_batch": 4},
    "valloss": {"l2sp_weight": 0.01, "select": "val_loss"},
    # L2-SP strong enough to act within a few steps at lr 0.01 (0.01 barely moves them).
    "l2sp1": {"l2sp_weight": 1.0},
    "l2sp1_last": {"l2sp_weight": 1.0, "select": "last"},
    "last": {"select": "last"},  # no early stopping: what L2-SP has to hold back
}


def _frames(folder: str, prefix: str, step: int = 1) -> list[Path]:
    return sorted((CAMVID / folder).glob(f"{prefix}_*.png"))[::step]


def load(paths: list[Path], labels: str):
    """Samples (image, 3-class mask, name) of CamVid frames."""
    from PIL import Image

    from worker.ml.data import Sample

    lut = np.zeros(256, np.uint8)
    for source, target in CAMVID_MAP.items():
        lut[source] = target
    out = []
    for path in paths:
        image = np.asarray(Image.open(path).convert("RGB"))
        mask = lut[np.asarray(Image.open(CAMVID / labels / path.name))]
        out.append(Sample(image, mask, path.stem))
    return out


def blocks(names: list[str], block_seconds: float) -> list[int]:
    """Block of each frame by the report's own rule (CamVid numbers frames at 30 fps)."""
    from backend.services.reports.blocks import FrameFacts, assign_blocks

    return assign_blocks([FrameFacts(source_name=n) for n in names], block_seconds)


def unlabeled_frames(per_second: float) -> list:
    """Frames of the two daylight street videos (no masks), for distillation only."""
    import av

    from worker.ml.data import Sample

    out = []
    for video in UNLABELED_VIDEOS:
        with av.open(str(SHARED / "videos" / video)) as container:
            next_t = 0.0
            for frame in container.decode(video=0):
                if frame.time is not None and frame.time + 1e-6 >= next_t:
                    image = frame.to_ndarray(format="rgb24")
                    mask = np.full(image.shape[:2], 255, np.uint8)
                    out.append(Sample(image, mask, f"{video}@{frame.time:.2f}"))
                    next_t += 1 / per_second
    return out


def score(model, samples, meta, class_map=None, scales=(1.0,), flip=False) -> np.ndarray:
    """Per-frame confusion matrices at full resolution, float32."""
    from worker.ml.evaluate import evaluate

    result = evaluate(
        model,
        samples,
        3,
        mean=meta.mean,
        std=meta.std,
        class_map=class_map,
        flip_tta=flip,
        scales=scales,
        device="cpu",
    )
    return np.asarray(result.frame_confusions)


def summarize(after: np.ndarray, before: np.ndarray, names: list[str]) -> dict:
    """mIoU and IoU per class before and after, with the report's paired block intervals.

    Intervals at the report's default block length and at BLOCK_SECONDS_ALT (finer blocks, to
    show how much the verdict rests on the block length).
    """
    from backend.services.reports.blocks import count_blocks
    from backend.services.reports.stats import bootstrap, scores

    classes = ["background", "car", "traffic sign"]
    sa, sb = scores(after.sum(0), classes), scores(before.sum(0), classes)
    out = {
        "before_miou": sb["mean_iou"],
        "after_miou": sa["mean_iou"],
        "change_miou": sa["mean_iou"] - sb["mean_iou"],
        "change_iou": {n: sa["class_iou"][n] - sb["class_iou"][n] for n in classes},
        "after_iou": sa["class_iou"],
        "before_iou": sb["class_iou"],
    }
    for key, seconds in (("", BLOCK_SECONDS), ("_alt", BLOCK_SECONDS_ALT)):
        ids = blocks(names, seconds)
        change = bootstrap(after, before, classes, ids)["change"]
        out[f"ci_miou{key}"] = change["mean_iou"]
        out[f"ci_iou{key}"] = change["class_iou"]
        out[f"n_blocks{key}"] = count_blocks(ids)
    return out


# Test-time augmentations tried on the validation frames by --choose-tta: (scales, flip).
TTA_CANDIDATES = {
    "plain": ((1.0,), False),
    "flip": ((1.0,), True),
    "ms3_flip": ((0.75, 1.0, 1.25), True),
    "up_flip": ((1.0, 1.5), True),
}


def choose_tta(model, meta, val) -> tuple[str, dict]:
    """The candidate with the best validation mIoU, and every candidate's validation mIoU."""
    from backend.services.reports.stats import scores

    names = ["background", "car", "traffic sign"]
    val_miou = {}
    for key, (scales, flip) in TTA_CANDIDATES.items():
        cms = score(model, val, meta, None, scales, flip)
        val_miou[key] = scores(cms.sum(0), names)["mean_iou"]
    return max(val_miou, key=val_miou.get), val_miou


def espnet_config(output_dir: str, **fields):
    """A TrainConfig from the ESPNetv2 Cityscapes base onto the 3 project classes, plus fields."""
    from worker.ml.classmap import DEFAULT_PROJECT_CLASSES
    from worker.ml.presets import PRESETS
    from worker.ml.train import TrainConfig

    return TrainConfig(
        output_dir=output_dir,
        classes=[dict(c) for c in DEFAULT_PROJECT_CLASSES],
        architecture="espnetv2",
        base_checkpoint=str(WEIGHTS),
        base_classes=PRESETS["cityscapes20"],
        class_map=CITY_MAP,
        **fields,
    )


def run(args) -> None:
    """Fit each variant and seed; score base and fine-tune on held-out dusk and daylight."""
    import torch

    from worker.ml.checkpoints import load_model
    from worker.ml.data import TrainData
    from worker.ml.presets import PRESETS
    from worker.ml.train import fit

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    dusk = load(_frames("train", "0001TP"), "trainannot")
    unlabeled = unlabeled_frames(args.unlabeled_fps) if "unlab" in args.variants else []
    data = TrainData(train=dusk[:32], val=dusk[32:37], unlabeled=unlabeled)
    sets = {
        "dusk_heldout": dusk[42:],
        "dusk_insample": dusk[37:],  # the old study's split: test right after validation
        "day_0016E5": load(_frames("val", "0016E5", args.day_step), "valannot"),
        "day_0006R0": load(_frames("train", "0006R0", args.day_step), "trainannot"),
    }
    names = {name: [s.name for s in samples] for name, samples in sets.items()}
    base, base_meta = load_model(WEIGHTS, "espnetv2", classes=PRESETS["cityscapes20"])
    scales = tuple(float(s) for s in args.scales.split(","))
    before = {
        name: score(base, samples, base_meta, CITY_MAP, scales, args.flip)
        for name, samples in sets.items()
    }
    results = []
    for variant in args.variants.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                config = espnet_config(
                    tmp,
                    iterations=args.iterations,
                    seed=seed,
                    overlay_max_side=0,
                    **{**VARIANTS[variant], **json.loads(args.extra)},
                )
                started = time.perf_counter()
                history = []
                fitted = fit(config, data, history.append)
                train_s = time.perf_counter() - started
                model, meta = load_model(fitted.best_checkpoint or fitted.latest_checkpoint)
            row = {
                "variant": variant,
                "seed": seed,
                "train_s": round(train_s, 1),
                "kept_iteration": fitted.best_iteration,
                "val_miou": [h["val_miou"] for h in fitted.history],
                "val_loss_max": max(h["val_loss"] or 0 for h in fitted.history),
            }
            for name, samples in sets.items():
                after = score(model, samples, meta, None, scales, args.flip)
                row[name] = summarize(after, before[name], names[name])
            if args.choose_tta:
                # The base is scored with the same augmentation: the change is the fine-tune's.
                chosen, row["tta_val_miou"] = choose_tta(model, meta, data.val)
                row["tta"] = chosen
                tta_scales, tta_flip = TTA_CANDIDATES[chosen]
                for name, samples in sets.items():
                    after = score(model, samples, meta, None, tta_scales, tta_flip)
                    base_cms = score(base, samples, base_meta, CITY_MAP, tta_scales, tta_flip)
                    row[f"{name}+tta"] = summarize(after, base_cms, names[name])
            results.append(row)
            _print_row(row)
            if args.out:
                Path(args.out).write_text(json.dumps(results, indent=1))


def _print_row(row: dict) -> None:
    cells = [f"{row['variant']:>9} s{row['seed']} it{row['kept_iteration']!s:>3}"]
    names = ("dusk_heldout", "dusk_insample", "day_0016E5", "day_0006R0")
    if "tta" in row:
        names += tuple(f"{n}+tta" for n in names)
        cells.append(f"tta {row['tta']}")
    for name in names:
        r = row[name]
        sign = r["change_iou"]["traffic sign"]
        car = r["change_iou"]["car"]
        cells.append(
            f"{name} {r['change_miou']:+.3f} {_span(r['ci_miou'])} b{r['n_blocks']}"
            f" {_span(r['ci_miou_alt'])} b{r['n_blocks_alt']} car {car:+.3f} sign {sign:+.3f}"
        )
    print(" | ".join(cells), f"| {row['train_s']:.0f}s", flush=True)


def _span(ci: list[float] | None) -> str:
    return f"[{ci[0]:+.3f},{ci[1]:+.3f}]" if ci else "[no interval]"


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", default="seed,lwf,freezebn,ema,l2sp,combo")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--iterations", type=int, default=24)
    parser.add_argument("--day-step", type=int, default=1, help="every n-th daylight frame")
    parser.add_argument(
        "--unlabeled-fps", type=float, default=2.0, help="frames a second of the unlabeled clips"
    )
    parser.add_argument("--scales", default="1.0", help="inference scales, e.g. 1.0,1.5")
    parser.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    parser.add_argument(
        "--choose-tta", action="store_true", help="also score the TTA chosen on validation"
    )
    parser.add_argument("--extra", default="{}", help="JSON of TrainConfig fields for all runs")
    parser.add_argument("--out", default="")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
