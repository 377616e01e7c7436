"""Peak memory and time of pre-labeling one huge frame, whole (as before) and in tiles (now).

Prints figures and asserts nothing. Each case runs in its own child process, whose peak
resident memory (ru_maxrss) is read after one predict() of a 6000 x 4000 frame by the public
ESPNetv2 architecture (width 2.0, 20 classes; the real Cityscapes weights when ../shared has
them, random ones otherwise: memory and time do not depend on the values).

    .venv/bin/python -m bench.prelabel_memory                    # both cases, 6000 x 4000
    .venv/bin/python -m bench.prelabel_memory --size 3000 2000   # another frame size
    .venv/bin/python -m bench.prelabel_memory --only tiled       # skip the slow whole frame
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("SEGTUNE_SHARED_DIR") or REPO.parent / "shared")
WEIGHTS = SHARED / "data/weights/espnetv2_cityscapes/espnetv2_s_2.0_city_1024x512.pth"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def run_case(mode: str, height: int, width: int) -> dict:
    """One predict() of a synthetic street-like frame; the child's peak memory and seconds."""
    import numpy as np
    import torch

    from worker.ml.checkpoints import IMAGENET_MEAN, IMAGENET_STD, load_model
    from worker.ml.evaluate import predict
    from worker.ml.models import build_model
    from worker.ml.tiles import DEFAULT_TILING, Tiling, plan_tiles

    if WEIGHTS.exists():
        model, _ = load_model(WEIGHTS, "espnetv2")
    else:
        model = build_model("espnetv2", 20, scale=2.0).eval()
    rng = np.random.default_rng(0)
    # Gradients plus noise, made row by row in uint8 (the frame itself is 72 MB, like a decoded
    # JPEG): the content does not change the cost.
    image = np.empty((height, width, 3), np.uint8)
    ramp = (np.arange(width) * 255 // width).astype(np.uint8)
    for y in range(height):
        image[y, :, 0] = y * 255 // height
        image[y, :, 1] = ramp
        image[y, :, 2] = rng.integers(0, 256, width, dtype=np.uint8)
    tiling = DEFAULT_TILING if mode == "tiled" else Tiling(max_pixels=height * width)
    tiles = plan_tiles(height, width, tiling)
    before = _peak_mb()
    start = time.perf_counter()
    pred = predict(model, image, IMAGENET_MEAN, IMAGENET_STD, torch.device("cpu"), tiling=tiling)
    return {
        "mode": mode,
        "tiles": len(tiles),
        "largest_window_px": max(t.pixels for t in tiles),
        "seconds": round(time.perf_counter() - start, 1),
        "peak_mb": round(_peak_mb()),
        "peak_before_predict_mb": round(before),
        "classes_seen": int(len(np.unique(pred))),
        "weights": "real" if WEIGHTS.exists() else "random",
    }


def main() -> None:
    """Run each case in a child process and print one line per case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", nargs=2, type=int, default=[6000, 4000], metavar=("W", "H"))
    parser.add_argument("--only", choices=["whole", "tiled"])
    parser.add_argument("--child", choices=["whole", "tiled"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = args.size
    if args.child:
        print(json.dumps(run_case(args.child, height, width)))
        return
    print(f"pre-label of one {width} x {height} frame, ESPNetv2 s=2.0, CPU")
    for mode in [args.only] if args.only else ["whole", "tiled"]:
        cmd = [sys.executable, "-m", "bench.prelabel_memory", "--child", mode, "--size"]
        out = subprocess.run(
            [*cmd, str(width), str(height)], cwd=REPO, capture_output=True, text=True
        )
        if out.returncode != 0:
            print(f"{mode:>6}: failed ({out.returncode}): {out.stderr.strip()[-400:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{mode:>6}: peak {r['peak_mb']:>6} MB (model loaded: {r['peak_before_predict_mb']} MB)"
            f", {r['seconds']:>6} s, {r['tiles']} tile(s) of at most {r['largest_window_px']} px"
            f", {r['weights']} weights"
        )


if __name__ == "__main__":
    main()
