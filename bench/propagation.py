"""Mask propagation on real video: carry each labeled CamVid frame to the next, score on truth.

The dusk drive 0001TP from ../shared (62 labeled frames, 1 s = 30 video frames apart: what
the product sees when a clip is sampled at 1 fps). For each frame k, its true mask is carried
to frame k+1 and scored against frame k+1's truth, four ways:
  copy      - frame k's mask as is ("Copy previous frame's mask" in the painter)
  model     - the public ESPNetv2 Cityscapes base alone, mapped as bench/recipe.py does
  flow      - SegTune's propagation (DIS flow, forward-backward and picture checks), 255 where
              the flow is not trusted
  flow+model - the same, with the model's prediction where the flow is not trusted
Pixels left unlabeled (255) count as misses for the truth's class, never as false positives.
IoU is summed over all pairs (not averaged per frame). Prints figures; asserts nothing.

    .venv/bin/python -m bench.propagation [--sequence dusk|day] [--limit N]
"""

import argparse
import os
import time

import numpy as np

from bench.recipe import CITY_MAP, WEIGHTS, _frames, load

NAMES = ["background", "car", "traffic sign"]
METHODS = ["copy", "model", "flow", "flow+model"]


def confusion(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """3 x 4 counts: truth class (255 ignored) by predicted class, column 3 = left unlabeled."""
    keep = truth != 255
    col = np.where(pred[keep] == 255, 3, pred[keep]).astype(np.int64)
    return np.bincount(truth[keep].astype(np.int64) * 4 + col, minlength=12).reshape(3, 4)


def ious(conf: np.ndarray) -> list[float]:
    """IoU per class; unlabeled predictions are misses (in the row) but in no class's column."""
    out = []
    for c in range(3):
        tp = conf[c, c]
        union = conf[c].sum() + conf[:, c].sum() - tp
        out.append(tp / union if union else float("nan"))
    return out


def _warp_chain(samples, path, warp_mask):
    """Warp the first frame's truth along `path` (indices), each step from the last result."""
    step = None
    labels = samples[path[0]].mask
    for a, b in zip(path, path[1:], strict=False):
        step = warp_mask(labels, samples[a].image, samples[b].image)
        labels = step.labels
    return step


def _pairs(sequence: str, limit: int):
    """(samples, [(source, target)], intermediate step or None) of a sequence."""
    if sequence == "dusk":  # 0001TP: labeled frames 30 video frames apart, nothing between
        samples = load(_frames("train", "0001TP"), "trainannot")
        return samples, [(k, k + 1) for k in range(len(samples) - 1)][:limit], None
    # 0016E5 val: a labeled frame every 2 video frames, so 1 s = 15 labeled frames further on
    # and the flow can also be chained through the 14 frames between.
    samples = load(_frames("val", "0016E5"), "valannot")
    starts = range(0, len(samples) - 15, 5)
    return samples, [(k, k + 15) for k in starts][:limit], 1


def main() -> None:
    """Run the comparison and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequence", choices=["dusk", "day"], default="dusk")
    parser.add_argument("--limit", type=int, default=61, help="pairs to score at most")
    args = parser.parse_args()

    import torch

    from worker.flow import fill_unreliable, warp_mask
    from worker.ml.checkpoints import load_model
    from worker.ml.evaluate import predict
    from worker.ml.presets import PRESETS

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    samples, pairs, between = _pairs(args.sequence, args.limit)
    model, meta = load_model(WEIGHTS, "espnetv2", classes=PRESETS["cityscapes20"])
    model.eval()
    device = torch.device("cpu")
    methods = METHODS + (["chained", "chained+model"] if between else [])
    totals = {m: np.zeros((3, 4), np.int64) for m in methods}
    reliable, flow_s = [], []
    for k, j in pairs:
        source, target = samples[k], samples[j]
        started = time.perf_counter()
        step = warp_mask(source.mask, source.image, target.image)
        flow_s.append(time.perf_counter() - started)
        predicted = predict(model, target.image, meta.mean, meta.std, device, class_map=CITY_MAP)
        drafts = {
            "copy": source.mask,
            "model": predicted,
            "flow": fill_unreliable(step, None),
            "flow+model": fill_unreliable(step, predicted),
        }
        if between:
            chained = _warp_chain(samples, list(range(k, j + 1, between)), warp_mask)
            drafts["chained"] = fill_unreliable(chained, None)
            drafts["chained+model"] = fill_unreliable(chained, predicted)
        for name, draft in drafts.items():
            totals[name] += confusion(target.mask, draft)
        reliable.append(step.reliable_share)
    height, width = samples[0].mask.shape
    print(
        f"{args.sequence} ({'0001TP' if args.sequence == 'dusk' else '0016E5'}): {len(pairs)} "
        f"pairs 1 s (30 video frames) apart, {width}x{height}"
    )
    print(f"{'method':<15}{'car':>7}{'sign':>7}{'backgr.':>9}{'mIoU':>7}{'unlabeled':>11}")
    for name in methods:
        background, car, sign = ious(totals[name])
        left = totals[name][:, 3].sum() / totals[name].sum()
        miou = (background + car + sign) / 3
        print(f"{name:<15}{car:7.3f}{sign:7.3f}{background:9.3f}{miou:7.3f}{left:11.1%}")
    print(
        f"direct flow trusted on {np.mean(reliable):.1%} of pixels (min {np.min(reliable):.1%}); "
        f"{np.mean(flow_s) * 1000:.0f} ms per warp (two DIS flows)"
    )


if __name__ == "__main__":
    main()
