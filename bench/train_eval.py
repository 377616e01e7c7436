"""Training and evaluation speed, and the wall time of the seed study's whole recipe.

Prints figures and asserts nothing. Every case runs in its own child process, so the peak
memory printed is that case's alone (CPU: peak resident set; CUDA: peak allocated).

    .venv/bin/python bench/train_eval.py                 # everything, CPU (+ CUDA if present)
    .venv/bin/python bench/train_eval.py --quick         # MobileNetV2 only, short runs
    .venv/bin/python bench/train_eval.py --only recipe   # just the seed study's recipe
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

ARCHS = {"mobilenet": "deeplabv3plus_mobilenet", "resnet101": "deeplabv3plus_resnet101"}
TRAIN_CROPS = (512, 768)
EVAL_SIZES = ((1024, 2048), (1080, 1920))  # (height, width)
BATCH = 8
SHARED = Path(os.environ.get("SEGTUNE_SHARED_DIR") or REPO.parent / "shared") / "data"
CAMVID = SHARED / "camvid"
ESPNET = SHARED / "weights" / "espnetv2_cityscapes" / "espnetv2_s_2.0_city_1024x512.pth"


class Clock:
    """Wall and process CPU seconds of a block: CPU/wall shows how many cores it really had."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def sync(device) -> None:
    """Wait for queued GPU work (a no-op on CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _figures(images: int, clock: Clock, device) -> dict:
    """Throughput, wall and CPU seconds, and peak memory of a timed block."""
    peak = _peak_mb(device)
    return {
        "images_per_s": images / clock.wall,
        "wall_s": clock.wall,
        "cpu_s": clock.cpu,
        "peak_mb": peak,
    }


def setup(case: dict):
    """Device, autocast dtype and threads for a child process."""
    import torch

    from worker.ml.runtime import amp_dtype, resolve_device, use_all_cores

    device = resolve_device(case.get("device", "cpu"))
    if device.type == "cpu":
        use_all_cores(case.get("threads"))
    else:
        torch.backends.cudnn.benchmark = True
    return device, amp_dtype(device, case["amp"])


def time_train_steps(model, opt, x, y, device, dtype, steps: int, teacher=None) -> Clock:
    """Time `steps` SGD steps of cross-entropy on one fixed batch, after one warm-up step.

    With a teacher, each step also runs its forward pass and adds the distillation loss.
    """
    import torch.nn.functional as F

    from worker.ml.defences import distillation_loss
    from worker.ml.runtime import autocast

    def step() -> None:
        with autocast(device, dtype):
            out = model(x)
            target = teacher.logits(x) if teacher is not None else None
        loss = F.cross_entropy(out.float(), y, ignore_index=255)
        if target is not None:
            loss = loss + distillation_loss(out, target, 2.0, y >= 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    sync(device)
    with Clock() as clock:
        for _ in range(steps):
            step()
        sync(device)
    return clock


def bench_train(case: dict) -> dict:
    """Images/s of SGD steps on batch-8 square crops (after one warm-up step)."""
    import torch

    from worker.ml.models import build_model
    from worker.ml.runtime import prepare

    device, dtype = setup(case)
    torch.manual_seed(0)
    model = prepare(build_model(ARCHS[case["arch"]], 3, 16), device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    crop = case["size"]
    x = torch.randn(BATCH, 3, crop, crop, device=device).contiguous(
        memory_format=torch.channels_last
    )
    y = torch.randint(0, 3, (BATCH, crop, crop), device=device)

    teacher = None
    if case.get("distill"):
        from worker.ml.defences import Teacher

        teacher = Teacher(model)
    clock = time_train_steps(model, opt, x, y, device, dtype, case["steps"], teacher)
    return _figures(BATCH * case["steps"], clock, device)


def bench_eval(case: dict) -> dict:
    """Frames/s of full-resolution prediction through evaluate.predict (after one warm-up)."""
    import numpy as np
    import torch

    from worker.ml.evaluate import predict
    from worker.ml.models import build_model
    from worker.ml.runtime import prepare

    device, dtype = setup(case)
    torch.manual_seed(0)
    model = prepare(build_model(ARCHS[case["arch"]], 19, 16), device).eval()
    height, width = case["size"]
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    predict(model, image, mean, std, device, dtype=dtype)
    sync(device)
    with Clock() as clock:
        for _ in range(case["frames"]):
            pred = predict(model, image, mean, std, device, dtype=dtype)
    assert pred.shape == (height, width)
    return _figures(case["frames"], clock, device)


def _recipe_frames(source: str, scale: float) -> list:
    """46 labeled frames: CamVid dusk (car 8, sign 6, 11 unlabeled) or synthetic street-ish."""
    import numpy as np
    from PIL import Image

    from worker.ml.data import Sample, load_sample

    if source == "camvid":
        lut = np.zeros(256, np.uint8)
        lut[8], lut[6], lut[11:] = 1, 2, 255
        names = sorted(p.name for p in (CAMVID / "train").glob("0001TP_*.png"))[:46]
        samples = []
        for name in names:
            s = load_sample(CAMVID / "train" / name, CAMVID / "trainannot" / name)
            samples.append(Sample(s.image, lut[s.mask], s.name))
    else:
        rng = np.random.default_rng(0)
        samples = []
        for i in range(46):
            image = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
            mask = rng.integers(0, 3, (360, 480), dtype=np.uint8)
            samples.append(Sample(image, mask, f"synthetic{i:02d}"))
    if scale == 1:
        return samples

    def resize(array: np.ndarray, resample: int) -> np.ndarray:
        size = (round(array.shape[1] * scale), round(array.shape[0] * scale))
        return np.asarray(Image.fromarray(array).resize(size, resample))

    return [
        Sample(resize(s.image, Image.BILINEAR), resize(s.mask, Image.NEAREST), s.name)
        for s in samples
    ]


def bench_recipe(case: dict) -> dict:
    """The seed study: 32 train, 5 val (every iteration), 9 test; 24 its, batch 8, crop 768."""
    import numpy as np
    import torch

    from worker.ml.checkpoints import load_model
    from worker.ml.classmap import CITYSCAPES_CLASSES, cityscapes_default_map
    from worker.ml.data import TrainData
    from worker.ml.evaluate import evaluate
    from worker.ml.models import build_model
    from worker.ml.presets import PRESETS
    from worker.ml.train import TrainConfig, fit

    device, _ = setup(case)
    frames = _recipe_frames(case["data"], case["frame_scale"])
    train, val, test = frames[:32], frames[32:37], frames[37:46]
    table, classes = cityscapes_default_map(), CITYSCAPES_CLASSES
    with tempfile.TemporaryDirectory() as tmp:
        if case.get("espnet"):
            base = ESPNET
            classes = PRESETS["cityscapes20"]
            table = [2 if k in (6, 7) else 1 if k == 13 else 0 for k in range(20)]
        else:
            # No public DeepLab weights ship here: a random base in the public layout costs
            # the same time.
            torch.manual_seed(0)
            base = Path(tmp) / "best_deeplabv3plus_mobilenet_cityscapes_os16.pth"
            torch.save({"model_state": build_model(ARCHS["mobilenet"], 19, 16).state_dict()}, base)
        config = TrainConfig(
            output_dir=str(Path(tmp) / "run"),
            base_checkpoint=str(base),
            base_classes=classes,
            class_map=table,
            iterations=case["iterations"],
            device=case["device"],
            amp=case["amp"],
            num_threads=case.get("threads"),
            validate_precision=case.get("validate_precision", "float32"),
            **case.get("defences", {}),
        )

        def show(p) -> None:
            print(
                f"  it {p.iteration}/{p.total} loss {p.train_loss} val mIoU {p.val_miou}",
                file=sys.stderr,
                flush=True,
            )

        with Clock() as whole:
            with Clock() as training:
                result = fit(config, TrainData(train, val), show)
            # Score "before" (base mapped through the table) and "after" on the test frames.
            miou = []
            for path, table_or_none in ((base, table), (result.best_checkpoint, None)):
                model, meta = load_model(path, classes=classes if path == base else None)
                kw = {"mean": meta.mean, "std": meta.std, "device": case["device"]}
                scored = evaluate(model, test, 3, class_map=table_or_none, **kw)
                miou.append(scored.metrics["mean_iou"])
    out = _figures(len(frames), whole, device)
    losses = [h["val_loss"] for h in result.history if h["val_loss"] is not None]
    # Exploded: not finite, or over 10x the base model's validation loss (step 0).
    exploded = sum(1 for v in losses if not np.isfinite(v) or v > 10 * losses[0])
    skipped = [h["skipped"].split(":")[0] for h in result.history if h.get("skipped")]
    norms = [h["grad_norm"] for h in result.history if h.get("grad_norm")]
    return {
        **out,
        "skipped": {reason: skipped.count(reason) for reason in sorted(set(skipped))},
        "steps": len(result.history) - 1,
        "median_grad_norm": float(np.median(norms)) if norms else None,
        "validations": len(losses),
        "exploded": exploded,
        "worst_val_loss": max(losses),
        "fit_s": training.wall,
        "crop": list(train[0].image.shape[:2]),
        "before_miou": miou[0],
        "after_miou": miou[1],
    }


RUNNERS = {"train": bench_train, "eval": bench_eval, "recipe": bench_recipe}


def child(case: dict) -> None:
    """Run one case in this process and print its result as a JSON line."""
    if case["device"] == "cpu":
        # A case that would exhaust the machine fails with an allocation error instead.
        avail = next(
            int(line.split()[1]) * 1024
            for line in open("/proc/meminfo")
            if line.startswith("MemAvailable")
        )
        limit = int(avail * 0.85)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    try:
        out = RUNNERS[case["kind"]](case)
    except RuntimeError as exc:
        if "allocate" not in str(exc) and "out of memory" not in str(exc):
            raise
        out = {"error": "out of memory"}
    print("RESULT " + json.dumps(out), flush=True)


def run_case(case: dict) -> dict:
    """Run a case in a child process; returns its result (or the error)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(case)], stdout=subprocess.PIPE, text=True
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][7:]) if lines else {"error": f"exit status {proc.returncode}"}


def describe(case: dict, out: dict) -> str:
    """One printed line per case."""
    size = case.get("size")
    what = f"{case['kind']:6} {case.get('arch', 'mobilenet'):9} {case['device']:4} "
    what += f"amp={case['amp']}"
    if case["kind"] == "train":
        what += f" batch {BATCH} crop {size}" + (" + distillation" if case.get("distill") else "")
    elif case["kind"] == "eval":
        what += f" {size[0]}x{size[1]}"
    if "error" in out:
        return f"{what}: {out['error']}"
    cores = f"{out['cpu_s'] / out['wall_s']:.1f} cores busy"
    if case["kind"] == "recipe":
        return (
            f"{what} data={case['data']} x{case['frame_scale']} crop {out['crop']}: "
            f"fit {out['fit_s']:.1f}s + test {out['wall_s'] - out['fit_s']:.1f}s = "
            f"{out['wall_s']:.1f}s, peak {out['peak_mb']:.0f} MB, {cores} "
            f"(mIoU before {out['before_miou']:.3f} after {out['after_miou']:.3f}; "
            f"validations in {case.get('validate_precision', 'float32')}: "
            f"{out['exploded']} of {out['validations']} exploded, "
            f"worst val loss {out['worst_val_loss']:.3g}; "
            f"steps skipped {out['skipped'] or 0} of {out['steps']}, "
            f"median gradient norm {out['median_grad_norm'] or 0:.3g})"
        )
    return f"{what}: {out['images_per_s']:.2f} images/s, peak {out['peak_mb']:.0f} MB, {cores}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="train,eval,recipe", help="train,eval,recipe")
    parser.add_argument("--archs", default="mobilenet,resnet101")
    parser.add_argument("--devices", default=None, help="cpu,cuda (default: cpu and any GPU)")
    parser.add_argument("--amp", default="auto", choices=["auto", "off", "bf16"])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default all)")
    parser.add_argument("--data", default=None, choices=["camvid", "synthetic"])
    parser.add_argument("--frame-scale", type=float, default=1.0, help="resize recipe frames")
    parser.add_argument("--iterations", type=int, default=24, help="recipe iterations")
    parser.add_argument("--quick", action="store_true", help="MobileNetV2 only, short runs")
    parser.add_argument("--espnet", action="store_true", help="recipe on the real ESPNetv2 base")
    parser.add_argument("--validate-precision", default="float32", choices=["float32", "train"])
    parser.add_argument("--defences", default="{}", help="JSON of TrainConfig defence fields")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    import torch

    devices = (
        args.devices.split(",")
        if args.devices
        else (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    )
    archs = ["mobilenet"] if args.quick else args.archs.split(",")
    data = args.data or ("camvid" if (CAMVID / "train").is_dir() else "synthetic")
    cases = []
    for device in devices:
        cpu = device == "cpu"
        common = {"device": device, "amp": args.amp, "threads": args.threads}
        for arch in archs:
            if "train" in args.only:
                steps = 1 if args.quick or cpu else 10
                cases += [
                    {"kind": "train", "arch": arch, "size": crop, "steps": steps, **common}
                    for crop in TRAIN_CROPS
                ]
                # Distillation's extra (teacher) forward pass, against plain steps just above.
                cases += [
                    {"kind": "train", "arch": arch, "size": crop, "steps": steps, **common}
                    | {"distill": True}
                    for crop in TRAIN_CROPS
                ]
            if "eval" in args.only:
                frames = 1 if args.quick or cpu else 10
                cases += [
                    {"kind": "eval", "arch": arch, "size": size, "frames": frames, **common}
                    for size in EVAL_SIZES
                ]
        if "recipe" in args.only:
            cases.append(
                {
                    "kind": "recipe",
                    "data": data,
                    "frame_scale": args.frame_scale,
                    "iterations": 3 if args.quick else args.iterations,
                    "espnet": args.espnet and ESPNET.exists(),
                    "validate_precision": args.validate_precision,
                    "defences": json.loads(args.defences),
                    **common,
                }
            )
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
        f"CUDA: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}"
    )
    for case in cases:
        print(describe(case, run_case(case)), flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
