"""Simulated labeling rounds: frames chosen by suggestion vs uniform-in-time vs random.

Real CamVid frames from ../shared (never committed), at reduced size. Pool: the dusk drive
0001TP frames 1-37 and the daylight drive 0006R0 (a mixed pool, 1 s apart). Fixed test sets,
held out in time: dusk 0001TP 43-62 (5 s after the pool), daylight every 10th 0016E5 val
frame (another drive), and both together (mixed). Every strategy starts from the same 8 frames
(uniform in time), adds 8 a round and fine-tunes the ESPNetv2 s=2.0 Cityscapes base from the
base each round (--recipe quick: the quick preset with more iterations; generalise: plus the
default preset's L2-SP); the test mIoU of each round is printed per test set, strategy and
seed, then the labeled frames each strategy needs to reach uniform sampling's final mIoU.
Prints figures; asserts nothing.

    nice -n 10 .venv/bin/python -m bench.suggestions --seeds 0,1,2 --rounds 3 \
        --recipe generalise --epochs 6 --strategies suggest-time,uniform,random
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

from bench.recipe import (  # noqa: E402
    CAMVID,
    CAMVID_MAP,
    CITY_MAP,
    VIDEO_FPS,
    WEIGHTS,
    espnet_config,
)

NAMES = ["background", "car", "traffic sign"]
DUSK_POOL, HELD_DUSK = 37, 42  # 0001TP frames 1-37 in the pool, 43-62 held out
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


def fine_tune(train, seed: int, args, tmp: str):
    """A fine-tune from the base model on the labeled frames; the last iteration kept.

    --recipe quick: the quick preset (batch 2, crop 256, lr 0.01) with --iterations, or with
    --epochs iterations = epochs x frames / batch. --recipe generalise: the default preset's
    loss (its L2-SP weight toward the base) at the same batch, crop and epochs.
    """
    from backend.services.training import PRESETS as TRAIN_PRESETS
    from worker.ml.checkpoints import load_model
    from worker.ml.data import TrainData
    from worker.ml.train import fit

    # The default preset's own L2-SP weight, not a copy of it.
    generalise = TRAIN_PRESETS["generalise"]["l2sp_weight"]
    extra = {"l2sp_weight": generalise} if args.recipe == "generalise" else {}
    config = espnet_config(
        tmp,
        batch_size=2,
        iterations=args.iterations,
        epochs=args.epochs,
        crop_size=256,
        lr=0.01,
        seed=seed,
        select="last",
        validate_at_start=False,
        checkpoint_every=10**6,
        overlay_max_side=0,
        num_threads=THREADS,
        amp="off",
        **extra,
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


def scores(model, meta, tests, class_map=None) -> dict[str, float]:
    """Test mIoU on each fixed test set."""
    return {name: test_miou(model, meta, frames, class_map) for name, frames in tests.items()}


def run(args) -> None:
    """Every strategy and seed, round by round; then the curves and the frames-needed ratios."""
    import torch

    torch.set_num_threads(THREADS)
    dusk = _glob("train", "0001TP")
    # The dusk pool ends 5 s before the held-out dusk frames (as in bench/recipe.py): frames
    # of one drive a second apart are nearly the same picture.
    pool, places = _load("train", "trainannot", dusk[:DUSK_POOL], args.scale)
    daylight = _glob("train", "0006R0")[:: args.day_step]
    day, day_places = _load("train", "trainannot", daylight, args.scale)
    pool, places = pool + day, places + day_places
    # Held out in time from every pool frame: dusk frames after the pool's, another daylight drive.
    held_dusk, _ = _load("train", "trainannot", dusk[HELD_DUSK:], args.scale)
    held_day, _ = _load("val", "valannot", _glob("val", "0016E5")[::10], args.scale)
    tests = {"mixed": held_dusk + held_day, "dusk": held_dusk, "daylight": held_day}
    sizes = ", ".join(f"{k} {len(v)}" for k, v in tests.items())
    print(f"pool {len(pool)} frames, test {sizes}, frame {pool[0].image.shape[:2]}", flush=True)
    from worker.ml.checkpoints import load_model
    from worker.ml.presets import PRESETS

    base, base_meta = load_model(WEIGHTS, "espnetv2", classes=PRESETS["cityscapes20"])
    base_scores = scores(base, base_meta, tests, CITY_MAP)
    print("base model (no fine-tune) mIoU " + _fmt(base_scores), flush=True)
    strategies = args.strategies.split(",")
    curves: dict[tuple[str, int], list[tuple[int, dict[str, float]]]] = {}
    started = time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        start = uniform(args.start, len(pool))
        with tempfile.TemporaryDirectory() as tmp:
            model0, meta0 = fine_tune([pool[i] for i in start], seed, args, tmp)
        first = scores(model0, meta0, tests)
        print(f"seed {seed}: {len(start)} frames mIoU {_fmt(first)}", flush=True)
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
                    model, meta = fine_tune([pool[i] for i in labeled], seed, args, tmp)
                curve.append((len(labeled), scores(model, meta, tests)))
                dusk_share = sum(i < DUSK_POOL for i in labeled) / len(labeled)
                print(
                    f"seed {seed} {strategy:>16}: {curve[-1][0]:3d} frames mIoU "
                    f"{_fmt(curve[-1][1])} (dusk share {dusk_share:.2f}) "
                    f"[{time.perf_counter() - started:.0f}s]",
                    flush=True,
                )
            curves[(strategy, seed)] = curve
    if args.json:
        rows = {f"{k}|{s}": c for (k, s), c in curves.items()}
        Path(args.json).write_text(json.dumps({"base": base_scores, "curves": rows}))
    report(base_scores, curves, strategies)


def report(base_scores: dict[str, float], curves, strategies: list[str]) -> None:
    """The curves and frames-needed ratios on each test set."""
    for name in base_scores:
        print(f"\n=== test set: {name} (base model alone {base_scores[name]:.3f}) ===")
        _report({k: [(n, m[name]) for n, m in c] for k, c in curves.items()}, strategies)


def combine(paths: list[str]) -> None:
    """One report over the runs saved with --json (seeds run in parallel processes)."""
    curves, strategies, base = {}, [], {}
    for path in paths:
        saved = json.loads(Path(path).read_text())
        base = saved["base"]
        for key, curve in saved["curves"].items():
            strategy, seed = key.rsplit("|", 1)
            if (strategy, int(seed)) in curves:
                raise SystemExit(f"{path}: {strategy} seed {seed} is in an earlier file too")
            curves[(strategy, int(seed))] = [(n, m) for n, m in curve]
            strategies += [strategy] if strategy not in strategies else []
    report(base, curves, strategies)


def _fmt(values: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in values.items())


def _needed(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((n for n, m in curve if m >= target - 1e-9), None)


def _paired(curves, strategies, seeds) -> None:
    """Each strategy minus uniform at the same labeled count, seed by seed (paired)."""
    print("\nminus uniform at the same frames: mean over seeds, seeds ahead / seeds")
    for strategy in (k for k in strategies if k != "uniform"):
        cells = []
        for r, (n, _) in enumerate(curves[(strategy, seeds[0])][1:], start=1):
            gaps = [curves[(strategy, s)][r][1] - curves[("uniform", s)][r][1] for s in seeds]
            ahead = sum(g > 0 for g in gaps)
            cells.append(f"{n}:{np.mean(gaps):+.3f} ({ahead}/{len(gaps)})")
        print(f"{strategy:>16}  " + " ".join(cells))


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
    _paired(curves, strategies, seeds)
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
    parser.add_argument("--recipe", choices=["quick", "generalise"], default="quick")
    parser.add_argument("--json", help="also save the curves here")
    parser.add_argument("--combine", nargs="+", help="only report over runs saved with --json")
    args = parser.parse_args()
    if args.combine:
        combine(args.combine)
    else:
        run(args)


if __name__ == "__main__":
    main()
