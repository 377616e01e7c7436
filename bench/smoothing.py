"""What temporal smoothing does to flicker and to accuracy, on the 1 fps dusk clip's truth.

Prints figures and asserts nothing. ESPNetv2 s=2.0 (the real Cityscapes weights, read as the
three default classes) predicts every frame of camvid_0001TP_dusk_1fps.mp4 once; the class
probabilities are then averaged over centred windows of 1 (off), 3 and 5 frames as the
predict job does (worker/smoothing.py). Flicker: the mean fraction of pixels whose class
changes from one frame to the next. Accuracy: pixel accuracy and mean IoU against the CamVid
labels (car = 8, traffic sign = 6, 11 unlabeled, everything else background).

    .venv/bin/python bench/smoothing.py [--windows 1 3 5]
"""

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("SEGTUNE_SHARED_DIR") or REPO.parent / "shared") / "data"
CLIP = SHARED / "videos" / "camvid_0001TP_dusk_1fps.mp4"
TRUTH = SHARED / "camvid" / "trainannot"
ESPNET = SHARED / "weights" / "espnetv2_cityscapes" / "espnetv2_s_2.0_city_1024x512.pth"


def truth(names: list[str]):
    """CamVid labels as background 0, car 1, traffic sign 2, 255 unlabeled."""
    import numpy as np
    from PIL import Image

    lut = np.zeros(256, np.uint8)
    lut[8], lut[6], lut[11] = 1, 2, 255
    return [lut[np.asarray(Image.open(TRUTH / n))] for n in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 3, 5])
    args = parser.parse_args()
    import av
    import numpy as np

    from backend.media import upright_image
    from worker.ml import metrics
    from worker.ml.checkpoints import load_model
    from worker.ml.classmap import cityscapes_default_map
    from worker.ml.evaluate import class_probs_batch
    from worker.ml.presets import PRESETS
    from worker.ml.runtime import resolve_device
    from worker.smoothing import Smoother, flicker

    device = resolve_device("auto")
    net, meta = load_model(ESPNET, "espnetv2", None, PRESETS["cityscapes20"])
    net = net.to(device).eval()
    table = [*cityscapes_default_map(), 0]
    with av.open(str(CLIP)) as container:
        frames = [np.asarray(upright_image(f)) for f in container.decode(video=0)]
    names = sorted(p.name for p in TRUTH.glob("0001TP_*.png"))
    labels = truth(names)
    probs = [class_probs_batch(net, [f], meta.mean, meta.std, device, 3, table)[0] for f in frames]
    print(f"{len(frames)} frames, {len(labels)} labels, {frames[0].shape[1]}x{frames[0].shape[0]}")
    for window in args.windows:
        smoother = Smoother(window)
        preds = []
        for k, p in enumerate(probs):
            preds += [ids[0] for _, _, ids in smoother.push(k, None, [p])]
        preds += [ids[0] for _, _, ids in smoother.flush()]
        cm = sum(metrics.confusion_matrix(t, p, 3) for t, p in zip(labels, preds, strict=False))
        summary = metrics.summarize(cm, ["background", "car", "traffic sign"])
        print(
            f"window {window}: flicker {flicker(preds):.4f}, pixel accuracy "
            f"{summary['pixel_accuracy']:.4f}, mean IoU {summary['mean_iou']:.4f}"
        )


if __name__ == "__main__":
    main()
