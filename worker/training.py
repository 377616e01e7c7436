"""Job body of a fine-tune: decode labeled frames, fit, keep the model, score before and after."""

import shutil
from functools import partial
from pathlib import Path
from typing import Any

from backend.db import session_scope
from backend.models import SegModel
from backend.services import mappings
from backend.services.jobs import get_job
from backend.services.training import DEFENCES
from backend.storage import new_key
from worker.evaluation import (
    load_split,
    model_source,
    pixel_counts_per_class,
    project_frames,
    score_model,
    store_predictions,
    summary_only,
)
from worker.heldout import load_sets, score_sets
from worker.ml.data import TrainData
from worker.ml.evaluate import encode_png
from worker.ml.train import Progress, TrainConfig, fit
from worker.registration import hex_color

TRAIN_SHARE = 0.8  # of the progress bar; scoring the test split takes the rest
TIMELINE_FRAMES = 4  # validation overlays kept per iteration for the training timeline


def build_config(ctx, classes: list[dict], base: dict | None) -> TrainConfig:
    """The engine's config from the job's parameters."""
    p = ctx.params
    config = TrainConfig(
        output_dir=str(ctx.work_dir),
        classes=classes,
        batch_size=p["batch_size"],
        iterations=p["iterations"],
        crop_size=p["crop_size"],
        lr=p["lr"],
        val_every=p.get("val_every", 1),
        seed=p.get("seed", 0),
        hflip=p.get("hflip", True),
        color_jitter=p.get("color_jitter", 0.5),
        device=p.get("device", "auto"),
    )
    if "scale_min" in p or "scale_max" in p:
        config.scale_range = (p.get("scale_min", 0.5), p.get("scale_max", 2.0))
    for name in DEFENCES:
        if p.get(name) is not None:
            setattr(config, name, p[name])
    if base is not None:
        config.base_checkpoint = base["path"]
        config.base_classes = base["classes"]
        config.architecture = base["architecture"]
        config.output_stride = base["output_stride"] or 16
        config.class_map = p["class_map"]
    return config


class _Watcher:
    """Turns engine progress into job progress, live curves and timeline pictures."""

    def __init__(self, ctx, previous: dict | None):
        self.ctx = ctx
        # A resumed run continues what the lost attempt published; the entries after the
        # checkpoint it resumes from are replaced as the iterations are redone.
        self.history = list((previous or {}).get("history", []))
        self.timeline = list((previous or {}).get("timeline", []))

    def __call__(self, progress: Progress) -> None:
        record = progress.record()
        record.pop("val_metrics", None)
        self.history = [h for h in self.history if h["iteration"] < progress.iteration]
        self.timeline = [t for t in self.timeline if t["iteration"] < progress.iteration]
        self.history.append(record)
        keys = []
        for k, (name, picture) in enumerate((progress.overlays or [])[:TIMELINE_FRAMES]):
            key = f"jobs/{self.ctx.job_id}/timeline/{progress.iteration:05d}_{k}.png"
            self.ctx.storage.put_bytes(key, encode_png(picture))
            keys.append({"key": key, "frame": name})
        if keys:
            self.timeline.append({"iteration": progress.iteration, "overlays": keys})
        self.ctx.publish({"history": self.history, "timeline": self.timeline})
        eta = f", ETA {progress.eta_seconds:.0f}s" if progress.eta_seconds is not None else ""
        miou = f", val mIoU {progress.val_miou:.3f}" if progress.val_miou is not None else ""
        self.ctx.progress(
            TRAIN_SHARE * progress.iteration / max(progress.total, 1),
            f"iteration {progress.iteration}/{progress.total}{miou}{eta}",
        )


def _keep_model(ctx, checkpoint: Path, meta, base: dict | None) -> int:
    """Store the fine-tuned checkpoint as a project model with its lineage; returns its id."""
    key = new_key("models", ".pth")
    tmp = ctx.storage.temp_path(".pth")
    shutil.copyfile(checkpoint, tmp)
    size = tmp.stat().st_size
    ctx.storage.put_file(tmp, key)
    with session_scope(ctx.sessions) as session:
        model = SegModel(
            project_id=ctx.project_id,
            name=f"fine-tune of job {ctx.job_id}",
            kind="finetuned",
            status="ready",
            architecture=meta.architecture,
            output_stride=meta.output_stride,
            classes=[{**c, "color": hex_color(c["color"])} for c in meta.classes],
            storage_key=key,
            filename=f"segtune_job{ctx.job_id}_{meta.architecture}.pth",
            size_bytes=size,
            metrics=meta.metrics,
            train_job_id=ctx.job_id,
            base_model_id=base["id"] if base else None,
            # The map it was trained with, over its base's classes (the job's choice).
            class_map=ctx.params.get("class_map") if base else None,
            base_class_names=[c["name"] for c in base["classes"]] if base else None,
        )
        session.add(model)
        session.flush()
        model_id = model.id
    # Scoring still follows: a run that fails or is cancelled from here takes the model back.
    ctx.made_row(SegModel, model_id)
    return model_id


def _mapping(ctx, base: dict | None, classes: list[dict], label: str) -> dict[str, Any]:
    """How a side was scored: the base through the job's class map, the fine-tune as it is."""
    table = ctx.params.get("class_map") if base else None
    names = [c["name"] for c in base["classes"]] if base else []
    found = mappings.groups(table, names, [c["name"] for c in classes]) if table else None
    before = label == "before"
    return {
        "source": "training" if before else "direct",
        "via": None,
        "table": table if before else None,
        "groups": found,
        "chosen": ctx.params.get("class_map_source"),
    }


def run_training(ctx) -> dict[str, Any]:
    """Fine-tune on train/val, keep the best model, score base and fine-tuned on test."""
    frames, classes = project_frames(ctx)
    ctx.progress(0.0, f"decoding {len(frames)} labeled frames")
    data = TrainData(train=load_split(frames, "train"), val=load_split(frames, "val"))
    test = load_split(frames, "test")
    sets = load_sets(ctx, classes)
    base_id = ctx.params.get("base_model_id")
    base = model_source(ctx, base_id) if base_id else None
    config = build_config(ctx, classes, base)
    latest = Path(config.output_dir) / "latest.pt"
    previous = None
    if latest.exists():
        with session_scope(ctx.sessions) as session:
            previous = get_job(session, ctx.job_id).detail
    watcher = _Watcher(ctx, previous)
    # A re-run after a crash continues from the last checkpoint instead of starting over.
    fitted = fit(config, data, watcher, resume_from=latest if latest.exists() else None)
    chosen = fitted.best_checkpoint or fitted.latest_checkpoint
    model_id = _keep_model(ctx, chosen, fitted.meta, base)
    result: dict[str, Any] = {
        "model_id": model_id,
        "iterations": fitted.iterations,
        "best_iteration": fitted.best_iteration,
        "best_val_miou": fitted.best_val_miou,
        "train_seconds": round(fitted.elapsed_seconds, 2),
        "n_train_frames": len(data.train),
        "n_val_frames": len(data.val),
        "n_test_frames": len(test),
        "class_names": [c["name"] for c in classes],
        "class_pixels": pixel_counts_per_class(test, len(classes)),
    }
    if test:
        scored = {}
        candidates = [("before", base), ("after", model_source(ctx, model_id))]
        for stage, (label, source) in enumerate(c for c in candidates if c[1] is not None):

            def on_frame(done, total, stage=stage, label=label):
                share = TRAIN_SHARE + (1 - TRAIN_SHARE) * (stage + done / total) / 2
                ctx.progress(share, f"scoring {label} model on test frame {done}/{total}")

            table = ctx.params.get("class_map") if label == "before" else None
            out = score_model(source, test, classes, table, False, on_frame)
            out["prediction_keys"] = store_predictions(ctx, f"jobs/{ctx.job_id}/{label}", out)
            out["mapping"] = _mapping(ctx, base, classes, label)
            scored[label] = summary_only(out)
        result["test"] = scored
        result["test_frame_ids"] = [f.frame_id for f in frames if f.split == "test"]
    if sets:
        sides = [("before", base), ("after", model_source(ctx, model_id))]
        sides = [(label, source) for label, source in sides if source is not None]
        mapping = partial(_mapping, ctx, base, classes)
        result["sets"] = score_sets(ctx, sets, classes, sides, mapping)
    return result  # the runner removes ctx.work_dir (the checkpoints) once the job succeeded
