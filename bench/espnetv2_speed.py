"""ESPNetv2 speed on this machine: training steps, full-resolution inference, and where the
time of the dusk study's fine-tune goes (data, train step, validation, checkpoints).

Prints figures and asserts nothing. Every case runs in its own child process. Wall and CPU
seconds are both printed: on a shared machine CPU/wall shows how many cores a case really had.

    .venv/bin/python bench/espnetv2_speed.py                  # every case
    .venv/bin/python bench/espnetv2_speed.py --only train     # train | eval | recipe
    .venv/bin/python bench/espnetv2_speed.py --amp off bf16   # precisions to compare

The recipe case needs ../shared (the real s=2.0 weights and CamVid 0001TP); the other cases
use random weights of the same architecture (the same cost).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("SEGTUNE_SHARED_DIR") or REPO.parent / "shared")
WEIGHTS = SHARED / "data/weights/espnetv2_cityscapes/espnetv2_s_2.0_city_1024x512.pth"
CAMVID = SHARED / "data/camvid"
BATCH = 8

from bench.train_eval import Clock, setup, sync, time_train_steps  # noqa: E402 - after sys.path


def bench_train(case: dict) -> dict:
    """Seconds per SGD step of batch 8 at height x width (after one warm-up step)."""
    import torch

    from worker.ml.models import build_model
    from worker.ml.runtime import prepare

    device, dtype = setup(case)
    torch.manual_seed(0)
    model = prepare(build_model("espnetv2", 3, scale=case["scale"]), device).train()
    if case.get("dw32"):
        from worker.ml.runtime import depthwise_in_float32

        depthwise_in_float32(model)  # what fit does for bf16 on CPU
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    h, w = case["size"]
    x = torch.randn(BATCH, 3, h, w, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 3, (BATCH, h, w), device=device)

    clock = time_train_steps(model, opt, x, y, device, dtype, case["steps"])
    return {"s_per_step": clock.wall / case["steps"], "cpu_per_wall": clock.cpu / clock.wall}


def bench_eval(case: dict) -> dict:
    """Seconds per full-resolution frame through evaluate.predict (after one warm-up)."""
    import numpy as np
    import torch

    from worker.ml.evaluate import predict
    from worker.ml.models import build_model
    from worker.ml.runtime import prepare

    device, dtype = setup(case)
    torch.manual_seed(0)
    model = prepare(build_model("espnetv2", 20, scale=case["scale"]), device).eval()
    h, w = case["size"]
    image = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    predict(model, image, mean, std, device, dtype=dtype)
    with Clock() as clock:
        for _ in range(case["frames"]):
            pred = predict(model, image, mean, std, device, dtype=dtype)
        sync(device)
    assert pred.shape == (h, w)
    return {"s_per_frame": clock.wall / case["frames"], "cpu_per_wall": clock.cpu / clock.wall}


def _dusk_frames() -> list:
    """The 62 CamVid 0001TP frames with car 8 -> 1, sign 6 -> 2, 11 -> unlabeled."""
    import numpy as np

    from worker.ml.data import Sample, load_sample

    lut = np.zeros(256, np.uint8)
    lut[8], lut[6], lut[11] = 1, 2, 255
    out = []
    for path in sorted((CAMVID / "train").glob("0001TP_*.png")):
        s = load_sample(path, CAMVID / "trainannot" / path.name)
        out.append(Sample(s.image, lut[s.mask], s.name))
    return out


def bench_recipe(case: dict) -> dict:
    """The dusk study's fine-tune (32 train, 5 val every iteration) with a time breakdown."""
    import torch

    import worker.ml.train as train_module
    from worker.ml.classmap import make_class_map
    from worker.ml.data import TrainData
    from worker.ml.presets import PRESETS
    from worker.ml.train import TrainConfig, fit

    setup(case)
    frames = _dusk_frames()
    spent = {"batches": 0.0, "validation": 0.0, "checkpoints": 0.0}

    def timed(name, fn):
        def wrapper(*args, **kw):
            start = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                spent[name] += time.perf_counter() - start

        return wrapper

    train_module.make_batch = timed("batches", train_module.make_batch)
    train_module.validate = timed("validation", train_module.validate)
    train_module.write_checkpoint = timed("checkpoints", train_module.write_checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            output_dir=tmp,
            base_checkpoint=str(WEIGHTS),
            base_classes=PRESETS["cityscapes20"],
            class_map=make_class_map(20, {6: 2, 7: 2, 13: 1}),
            iterations=case["iterations"],
            val_every=case["val_every"],
            device="cpu",
            amp=case["amp"],
            num_threads=case.get("threads"),
        )
        with Clock() as clock:
            fit(config, TrainData(train=frames[:32], val=frames[32:37]), lambda p: None)
    steps = clock.wall - sum(spent.values())
    return {
        "wall_s": clock.wall,
        "cpu_per_wall": clock.cpu / clock.wall,
        "s_per_iteration": clock.wall / case["iterations"],
        **{f"{k}_s": v for k, v in spent.items()},
        "train_steps_s": steps,
        "threads": torch.get_num_threads(),
    }


BENCHES = {"train": bench_train, "eval": bench_eval, "recipe": bench_recipe}


def cases(only: set[str], amps: list[str], quick: bool) -> list[dict]:
    out = []
    for amp in amps:
        if "train" in only:
            for scale in (2.0, 1.0):
                train = {"bench": "train", "scale": scale, "size": (360, 480), "amp": amp}
                out.append({**train, "steps": 2})
                if amp == "bf16":  # bf16 with depthwise convolutions in float32 (fit's choice)
                    out.append({**train, "steps": 2, "dw32": True})
        if "eval" in only:
            for size in ((360, 480), (512, 1024), (1080, 1920)):
                frames = 2 if size[0] > 600 else 5
                out.append(
                    {"bench": "eval", "scale": 2.0, "size": size, "amp": amp, "frames": frames}
                )
        if "recipe" in only and WEIGHTS.exists():
            iterations = 4 if quick else 24
            out.append({"bench": "recipe", "amp": amp, "iterations": iterations, "val_every": 1})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=["train", "eval", "recipe"])
    parser.add_argument("--amp", nargs="*", default=["off", "bf16"])
    parser.add_argument("--quick", action="store_true", help="4 recipe iterations, not 24")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # child process: run one case
    args = parser.parse_args()
    if args.case:
        case = json.loads(args.case)
        print(json.dumps(BENCHES[case["bench"]](case)))
        return
    print(f"load average {os.getloadavg()}, {len(os.sched_getaffinity(0))} cores")
    for case in cases(set(args.only), args.amp, args.quick):
        child = subprocess.run(
            [sys.executable, __file__, "--case", json.dumps(case)],
            capture_output=True,
            text=True,
            check=False,
        )
        label = " ".join(f"{k}={v}" for k, v in case.items() if k != "bench")
        if child.returncode:
            print(f"{case['bench']:6s} {label}: FAILED\n{child.stderr[-2000:]}")
            continue
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        shown = ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
        )
        print(f"{case['bench']:6s} {label}: {shown}", flush=True)


if __name__ == "__main__":
    main()
