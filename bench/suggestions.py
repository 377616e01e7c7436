"""Simulated labeling rounds: frames chosen by suggestion vs uniform-in-time vs random.

Real CamVid frames from ../shared (never committed), at reduced size. Pool: the dusk drive
0001TP frames 1-42 and the daylight drive 0006R0 (a mixed pool, 1 s apart). Fixed test set:
0001TP 43-62 plus every 10th 0016E5 val frame. Every strategy starts from the same 8 frames
(uniform in time), adds 8 a round and fine-tunes the ESPNetv2 s=2.0 Cityscapes base with the
quick preset (iterations raised, see --iterations) from the base each round; the test mIoU of
each round is printed per strategy and seed, then the labeled frames each strategy needs to
reach uniform sampling's final mIoU. Prints figures; asserts nothing.

    nice -n 10 .venv/bin/python -m bench.suggestions --seeds 0,1 --rounds 3
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.recipe import (  # noqa: E402
    CAMVID,
    CAMVID_MAP,
    CITY_MAP,
    VIDEO_FPS,
    WEIGHTS,
    espnet_config,
)

NAMES = ["background", "car", "traffic sign"]
# One thread: on this shared 2-core machine two threads ran 15x slower than one.
THREADS = int(os.environ.get("BENCH_THREADS", "1"))


def _load(folder: str, labels: str, paths: list[Path], scale: float):
    """Samples (image, 3-class mask, name) shrunk by scale, and each frame's (sequence, s)."""
    from PIL import Image

    from worker.ml.data import Sample

    lut = np.zeros(256, np.uint8)
    for source, target in CAMVID_MAP.items():
        lut[source] = target
    samples, places = [], []
    for path in paths:
        image = Image.open(path).convert("RGB")
        mask = Image.open(CAMVID / labels / path.name)
        size = (round(image.width * scale), round(image.height * scale))
        image, mask = image.resize(size, Image.BILINEAR), mask.resize(size, Image.NEAREST)
        samples.append(Sample(np.asarray(image), lut[np.asarray(mask)], path.stem))
        sequence, number = path.stem.split("_")
        places.append(((sequence,), int(number.lstrip("f")) / VIDEO_FPS))
    return samples, places


def _glob(folder: str, prefix: str) -> list[Path]:
    return sorted((CAMVID / folder).glob(f"{prefix}_*.png"))


def uniform(n: int, size: int) -> list[int]:
    """n pool positions evenly spread over the time-ordered pool (the seed study's way)."""
    return sorted({int(round(x)) for x in np.linspace(0, size - 1, n)})


def fine_tune(train, seed: int, iterations: int, tmp: str, epochs: float | None = None):
    """The quick preset from the base model on the labeled frames; the last iteration kept.

    With epochs, the iterations grow with the labeled frames (epochs x frames / batch).
    """
    from worker.ml.checkpoints import load_model
    from worker.ml.data import TrainData
    from worker.ml.train import fit

    config = espnet_config(
        tmp,
        batch_size=2,
        iterations=iterations,
        epochs=epochs,
        crop_size=256,
        lr=0.01,
        seed=seed,
        select="last",
        validate_at_start=False,
        checkpoint_every=10**6,
        overlay_max_side=0,
        num_threads=THREADS,
        amp="off",
    )
    fitted = fit(config, TrainData(train=list(train), val=[]), lambda _p: None)
    return load_model(fitted.best_checkpoint or fitted.latest_checkpoint)


def test_miou(model, meta, test, class_map=None) -> float:
    """Mean IoU over the fixed test set (a base model read through its class map)."""
    from worker.ml.evaluate import evaluate

    result = evaluate(
        model, test, 3, mean=meta.mean, std=meta.std, class_map=class_map, device="cpu"
    )
    return float(result.metrics["mean_iou"])


def suggest(model, meta, pool, places, labeled: list[int], rule: str, gap_s: float, count: int):
    """Pool positions the suggestion job would pick next with this model."""
    import torch

    from worker.ml.suggest import project_probs, rank, score_frame
    from worker.ml.uncertainty import class_weights, pooled_features

    device = torch.device("cpu")
    counts = np.zeros(3, np.int64)
    for i in labeled:
        m = pool[i].mask
        counts += np.bincount(m[m != 255], minlength=3)[:3]
    weights = class_weights(counts)
    free = [i for i in range(len(pool)) if i not in set(labeled)]

    def probs(i):
        return project_probs(model, pool[i].image, meta.mean, meta.std, device, 3)

    scored = [score_frame(probs(i), weights, places[i], "entropy") for i in free]
    feats = np.stack([pooled_features(probs(i)) for i in labeled]) if rule == "kcenter" else None
    picks = rank(scored, [places[i] for i in labeled], feats, count, rule, gap_s)
    return [free[i] for i, _ in picks]


def run(args) -> None:
    """Every strategy and seed, round by round; then the curves and the frames-needed ratios."""
    import torch

    torch.set_num_threads(THREADS)
    dusk = _glob("train", "0001TP")
    pool, places = _load("train", "trainannot", dusk[:42], args.scale)
    daylight = _glob("train", "0006R0")[:: args.day_step]
    day, day_places = _load("train", "trainannot", daylight, args.scale)
    pool, places = pool + day, places + day_places
    test, _ = _load("train", "trainannot", dusk[42:], args.scale)
    test += _load("val", "valannot", _glob("val", "0016E5")[::10], args.scale)[0]
    print(f"pool {len(pool)} frames, test {len(test)}, frame {pool[0].image.shape[:2]}", flush=True)
    from worker.ml.checkpoints import load_model
    from worker.ml.presets import PRESETS

    base, base_meta = load_model(WEIGHTS, "espnetv2", classes=PRESETS["cityscapes20"])
    base_miou = test_miou(base, base_meta, test, CITY_MAP)
    print(f"base model (no fine-tune) mIoU {base_miou:.3f}", flush=True)
    strategies = args.strategies.split(",")
    curves: dict[tuple[str, int], list[tuple[int, float]]] = {}
    started = time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        start = uniform(args.start, len(pool))
        with tempfile.TemporaryDirectory() as tmp:
            first_set = [pool[i] for i in start]
            model0, meta0 = fine_tune(first_set, seed, args.iterations, tmp, args.epochs)
        first = test_miou(model0, meta0, test)
        print(f"seed {seed}: {len(start)} frames mIoU {first:.3f}", flush=True)
        rng = np.random.default_rng(seed)
        for strategy in strategies:
            labeled, model, meta = list(start), model0, meta0
            curve = [(len(labeled), first)]
            for _ in range(args.rounds):
                n = len(labeled) + args.step
                if strategy == "uniform":
                    labeled = uniform(n, len(pool))
                elif strategy == "random":
                    free = [i for i in range(len(pool)) if i not in set(labeled)]
                    labeled += [int(i) for i in rng.choice(free, args.step, replace=False)]
                else:
                    rule = strategy.split("-")[1]
                    picks = suggest(model, meta, pool, places, labeled, rule, args.gap, args.step)
                    labeled += picks
                with tempfile.TemporaryDirectory() as tmp:
                    chosen = [pool[i] for i in labeled]
                    model, meta = fine_tune(chosen, seed, args.iterations, tmp, args.epochs)
                curve.append((len(labeled), test_miou(model, meta, test)))
                dusk_share = sum(i < 42 for i in labeled) / len(labeled)
                print(
                    f"seed {seed} {strategy:>16}: {curve[-1][0]:3d} frames mIoU "
                    f"{curve[-1][1]:.3f} (dusk share {dusk_share:.2f}) "
                    f"[{time.perf_counter() - started:.0f}s]",
                    flush=True,
                )
            curves[(strategy, seed)] = curve
    _report(curves, strategies)


def _needed(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((n for n, m in curve if m >= target - 1e-9), None)


def _report(curves, strategies) -> None:
    seeds = sorted({s for _, s in curves})
    print("\nlabeled frames -> test mIoU")
    for strategy in strategies:
        for seed in seeds:
            row = " ".join(f"{n}:{m:.3f}" for n, m in curves[(strategy, seed)])
            print(f"{strategy:>16} s{seed}  {row}")
        mean = np.mean([[m for _, m in curves[(strategy, s)]] for s in seeds], axis=0)
        ns = [n for n, _ in curves[(strategy, seeds[0])]]
        cells = " ".join(f"{n}:{m:.3f}" for n, m in zip(ns, mean, strict=True))
        print(f"{strategy:>16} mean {cells}")
    if "uniform" not in strategies:
        return
    print("\nframes needed to reach uniform's final mIoU (ratio to uniform's final count)")
    for strategy in strategies:
        cells = []
        for seed in seeds + ["mean"]:
            if seed == "mean":
                pick = lambda k: np.mean([[m for _, m in curves[(k, s)]] for s in seeds], 0)  # noqa: E731
                ns = [n for n, _ in curves[(strategy, seeds[0])]]
                curve, ref = list(zip(ns, pick(strategy), strict=True)), pick("uniform")[-1]
                final = curves[("uniform", seeds[0])][-1][0]
            else:
                curve, (final, ref) = curves[(strategy, seed)], curves[("uniform", seed)][-1]
            need = _needed(curve, ref)
            ratio = "not reached" if need is None else f"{need} ({need / final:.2f})"
            cells.append(f"s{seed}: {ratio}" if seed != "mean" else f"mean curve: {ratio}")
        print(f"{strategy:>16}  " + " | ".join(cells))


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--start", type=int, default=8)
    parser.add_argument("--step", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=24, help="quick preset has 4")
    parser.add_argument(
        "--epochs", type=float, default=None, help="iterations = epochs x frames / batch"
    )
    parser.add_argument("--scale", type=float, default=0.5, help="frame size factor")
    parser.add_argument("--day-step", type=int, default=1, help="every n-th 0006R0 frame")
    parser.add_argument("--gap", type=float, default=2.0, help="time rule's gap, seconds")
    parser.add_argument("--strategies", default="suggest-time,suggest-kcenter,uniform,random")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
