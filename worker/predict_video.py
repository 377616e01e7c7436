"""Whole-video prediction as a stream: decode ahead, batched inference, compose and encode behind.

Three stages run at once (decoder thread, inference here, writer thread) with bounded queues
between them, so memory does not grow with the video's length. Every output is written to a
temporary file and only moved under its key once everything succeeded.
"""

import csv
import io
import queue
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from backend.errors import Invalid
from worker.predict_layout import Layout, areas, timeline_chart
from worker.video_stream import FrameReader, Mp4Writer, Selection

REPORT_EVERY_S = 0.5  # progress (and so the cancel check) at least this often


@dataclass
class Predictor:
    """A loaded model, its label in the video, and how its classes read as the project's."""

    name: str
    model: Any
    mean: list[float]
    std: list[float]
    table: list[int] | None
    model_id: int | None = None


@dataclass
class Outputs:
    """Temporary files the pipeline writes (masks None: no mask zip)."""

    video: Path
    timeline_csv: Path
    timeline_png: Path
    masks_zip: Path | None = None
    stats: dict[str, Any] = field(default_factory=dict)


def mask_name(frame_index: int, time_s: float) -> str:
    """Zip entry of a frame's mask: its index in the video and its timestamp."""
    return f"frame{frame_index:06d}_t{time_s:010.3f}s.png"


class _Writer(threading.Thread):
    """Composes, encodes and records each predicted frame in order (the pipeline's last stage)."""

    def __init__(self, selection: Selection, out: Outputs, alpha: float, names, classes, size):
        super().__init__(daemon=True, name="predict-encode")
        self.selection, self.out, self.alpha = selection, out, alpha
        self.names, self.classes = names, classes
        self.layout = Layout(size[0], size[1], names, classes)
        self.inbox: queue.Queue = queue.Queue(maxsize=8)
        self.rows: list[list] = []
        self.error: BaseException | None = None
        self.written = 0

    def run(self) -> None:
        mp4 = Mp4Writer(self.out.video, self.layout.width, self.layout.height, self.selection.rate)
        masks = zipfile.ZipFile(self.out.masks_zip, "w") if self.out.masks_zip else None
        try:
            with open(self.out.timeline_csv, "w", newline="") as fh:
                self._loop(mp4, masks, csv.writer(fh))
            mp4.close()
        except BaseException as exc:  # noqa: BLE001 - raised again by the pipeline
            self.error = exc
            mp4.abort()
            while self.inbox.get() is not None:  # unblock the producer until it stops
                pass
        finally:
            if masks is not None:
                masks.close()

    def _loop(self, mp4: Mp4Writer, masks, writer) -> None:
        n = len(self.classes)
        writer.writerow(["frame_index", "time_s", "model", *[c["name"] for c in self.classes]])
        while (item := self.inbox.get()) is not None:
            k, image, preds = item
            mp4.write(self.layout.compose(image, preds, self.alpha))
            index, t = self.selection.indices[k], self.selection.times[k]
            for m, pred in enumerate(preds):
                row = [index, t, m, *areas(pred, n)]
                self.rows.append(row)
                writer.writerow([index, t, self.names[m], *row[3:]])
            if masks is not None:
                buf = io.BytesIO()
                Image.fromarray(preds[-1]).save(buf, format="PNG", compress_level=1)
                masks.writestr(mask_name(index, t), buf.getvalue())
            self.written += 1


def predict_video(
    path: Path,
    selection: Selection,
    predictors: list[Predictor],
    classes: list[dict],
    out: Outputs,
    *,
    opacity: float = 0.5,
    device=None,
    batch_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    smooth: int = 1,
) -> Outputs:
    """Run the models over the selected frames into out's files; on_progress may raise to stop.

    predictors: [model] or [before, after]; the mask zip holds the last one's predictions.
    smooth > 1: each frame's classes come from probabilities averaged over that many frames.
    """
    from worker.ml.evaluate import class_probs_batch, predict_batch
    from worker.ml.runtime import prepare, resolve_device
    from worker.smoothing import Smoother

    device = device or resolve_device("auto")
    batch = batch_size or (8 if device.type == "cuda" else 1)
    for p in predictors:
        p.model = prepare(p.model, device).eval()
    smoother = Smoother(smooth) if smooth > 1 else None
    reader = FrameReader(path, selection, ahead=2 * batch)
    reader.start()
    writer: _Writer | None = None
    total, done, last = len(selection.pts), 0, 0.0
    started, busy = time.monotonic(), 0.0
    try:
        pending: list[tuple[int, np.ndarray]] = []
        frames = reader.frames()
        while True:
            item = next(frames, None)
            if item is not None:
                pending.append(item)
                if writer is None:
                    h, w = item[1].shape[:2]
                    names = [p.name for p in predictors]
                    writer = _Writer(selection, out, opacity, names, classes, (w, h))
                    writer.start()
            if pending and (len(pending) == batch or item is None):
                images = [img for _, img in pending]
                t0 = time.monotonic()
                if smoother is None:
                    preds = [
                        predict_batch(p.model, images, p.mean, p.std, device, class_map=p.table)
                        for p in predictors
                    ]
                    ready = [
                        (k, img, [pr[j] for pr in preds]) for j, (k, img) in enumerate(pending)
                    ]
                else:
                    n = len(classes)
                    probs = [
                        class_probs_batch(p.model, images, p.mean, p.std, device, n, p.table)
                        for p in predictors
                    ]
                    ready = []
                    for j, (k, img) in enumerate(pending):
                        ready += smoother.push(k, img, [pr[j] for pr in probs])
                busy += time.monotonic() - t0
                for item_ready in ready:
                    _hand_over(writer, item_ready)
                done += len(pending)
                pending = []
            now = time.monotonic()
            if on_progress and (now - last >= REPORT_EVERY_S or item is None):
                last = now
                on_progress(done, total)
            if item is None:
                break
        if writer is not None:
            for item_ready in smoother.flush() if smoother else []:
                _hand_over(writer, item_ready)
            _hand_over(writer, None)
            writer.join()
            if writer.error is not None:
                raise writer.error
    except BaseException:
        reader.stop()
        if writer is not None and writer.is_alive():
            writer.inbox.put(None)
            writer.join(timeout=10)
        raise
    if writer is None:
        raise Invalid("The chosen time range holds no frame of the video; widen it.")
    with open(out.timeline_png, "wb") as fh:
        timeline_chart(writer.rows, [p.name for p in predictors], classes, fh)
    elapsed = time.monotonic() - started
    out.stats = {
        "frames": writer.written,
        "seconds": round(elapsed, 3),
        "fps": round(writer.written / max(elapsed, 1e-9), 3),
        "inference_s": round(busy, 3),
    }
    return out


def _hand_over(writer: _Writer, item) -> None:
    """Queue an item for the writer, failing fast when the writer has died."""
    while True:
        if writer.error is not None:
            raise writer.error
        try:
            writer.inbox.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
