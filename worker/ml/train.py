"""Fine-tuning loop: fit(config, data, on_progress) -> FitResult. Knows nothing of web or queues."""

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import metrics
from .checkpoints import ModelMeta, build_from_checkpoint, load_checkpoint
from .checkpoints import save_checkpoint as write_checkpoint
from .classmap import GroupedLogits, unwrap
from .config import TrainConfig, resume_mismatch, stored_form
from .data import Augment, TrainData, crop_shape, make_batch
from .defences import (
    StepGuard,
    Teacher,
    WeightAnchor,
    WeightAverage,
    batchnorm_statistics,
    distillation_loss,
    freeze_batchnorm,
    gradient_norm,
    restore_statistics,
    revive_dead_channels,
)
from .evaluate import validate
from .runtime import (
    amp_dtype,
    autocast,
    depthwise_in_float32,
    prepare,
    resolve_device,
    use_all_cores,
)
from .warmstart import init_model, lr_factor, make_optimizer


@dataclass
class Progress:
    """One report to on_progress: after each iteration (and at iteration 0 when validating)."""

    iteration: int
    total: int
    train_loss: float | None
    val_loss: float | None
    val_miou: float | None
    eta_seconds: float | None
    lr: float
    elapsed_seconds: float
    is_best: bool = False
    val_metrics: dict | None = None
    overlays: list[tuple[str, np.ndarray]] | None = None  # (frame name, RGB uint8) per val frame
    grad_norm: float | None = None  # of this iteration's step
    skipped: str | None = None  # why this iteration's step was not applied

    def record(self) -> dict:
        """JSON-ready copy without the overlay pictures."""
        return {k: v for k, v in asdict(self).items() if k != "overlays"}


@dataclass
class FitResult:
    """Outcome of fit: where the checkpoints are and how the run went."""

    iterations: int
    best_iteration: int | None
    best_val_miou: float | None
    history: list[dict]
    latest_checkpoint: Path
    best_checkpoint: Path | None
    meta: ModelMeta
    elapsed_seconds: float


def _resume_state(path: str | Path, config: TrainConfig) -> tuple[nn.Module, ModelMeta, dict]:
    """Model, metadata and loop state of a latest checkpoint written by an identical config."""
    path = Path(path)
    ckpt = load_checkpoint(path / "latest.pt" if path.is_dir() else path)
    if ckpt.meta is None or "optimizer_state" not in ckpt.extra:
        raise ValueError(f"{path} is not a resumable SegTune training checkpoint")
    diff = resume_mismatch(ckpt.meta.train_config or {}, config)
    if diff:
        raise ValueError(f"cannot resume: configuration differs in {diff}")
    return build_from_checkpoint(ckpt, ckpt.meta), ckpt.meta, ckpt.extra


def _defences(config: TrainConfig, model: nn.Module, device: torch.device, state: dict):
    """Teacher (distillation), weight anchor (L2-SP) and weight average (EMA) of a run."""
    teacher = anchor = None
    if config.distill_weight or config.l2sp_weight:
        # The base model at step 0 (also when resuming: the anchor is never the resumed weights).
        base = unwrap(init_model(config)[0]) if state["iteration"] else unwrap(model)
        base = prepare(base, device)
        teacher = Teacher(base) if config.distill_weight else None
        if teacher is not None and config.bn_dead_var:
            # The teacher sees augmented crops (and bf16): its dead channels would blow up too.
            revive_dead_channels(teacher.model, config.bn_dead_var)
        anchor = WeightAnchor(base) if config.l2sp_weight else None
    ema = None
    if config.ema_decay:
        ema = WeightAverage(model, config.ema_decay, state.get("ema_state"))
    return teacher, anchor, ema


def _loss(model, images, masks, criterion, config, teacher) -> torch.Tensor:
    """Cross-entropy over every class, plus distillation toward the base's source classes."""
    if teacher is None:
        return criterion(model(images).float(), masks)
    source = unwrap(model)(images)
    logits = model.group(source) if isinstance(model, GroupedLogits) else source
    loss = criterion(logits.float(), masks)
    everywhere = torch.ones_like(masks, dtype=torch.bool)  # unlabeled pixels count here too
    kept = distillation_loss(source, teacher.logits(images), config.distill_temperature, everywhere)
    return loss + config.distill_weight * kept


def fit(
    config: TrainConfig,
    data: TrainData,
    on_progress: Callable[[Progress], None],
    resume_from: str | Path | None = None,
) -> FitResult:
    """Train per config, validating, checkpointing and reporting; on_progress may raise to stop."""
    if config.batch_size < 2:
        raise ValueError("batch_size must be at least 2 (batch norm needs two samples)")
    if not data.train:
        raise ValueError("no training frames")
    started = time.perf_counter()
    device = resolve_device(config.device)
    if device.type == "cpu":
        use_all_cores(config.num_threads)
    else:
        torch.backends.cudnn.benchmark = True
    dtype = amp_dtype(device, config.amp)
    # bf16 training is the speed on CPUs with native bf16, but validation selects the kept
    # model, and bf16 inference there occasionally produced garbage (val loss 4e25, mIoU 0.30 in
    # 2 of 25 validations of one run): validation runs in float32 unless asked otherwise.
    val_dtype = dtype if config.validate_precision == "train" else None
    total = config.total_iterations(len(data.train))
    out_dir = Path(config.output_dir)
    latest_path, best_path = out_dir / "latest.pt", out_dir / "best.pt"
    cfg_dict = stored_form(config)

    if resume_from is not None:
        model, meta, state = _resume_state(resume_from, config)
    else:
        torch.manual_seed(config.seed)  # a random initialisation is part of the seeded run
        model, meta = init_model(config)
        meta.train_config = cfg_dict
        state = {"iteration": 0, "history": [], "best": None, "elapsed": 0.0}
    model = prepare(model, device).train()
    if device.type == "cpu" and dtype is not None and config.depthwise_precision == "float32":
        depthwise_in_float32(model)
    teacher, anchor, ema = _defences(config, model, device, state)
    optimizer = make_optimizer(model, config)
    if resume_from is not None:
        optimizer.load_state_dict(state["optimizer_state"])
    start, history, best = state["iteration"], list(state["history"]), state["best"]
    accepted = [h["grad_norm"] for h in history if h.get("grad_norm") and not h.get("skipped")]
    guard = StepGuard(config.spike_guard, accepted)
    prior_elapsed = state["elapsed"]

    unlabeled = data.unlabeled if teacher is not None and config.distill_unlabeled_batch else []
    crop = crop_shape(data.train + unlabeled, config.crop_size)
    aug = Augment(
        tuple(config.scale_range) if config.scale_range else None, config.color_jitter, config.hflip
    )
    criterion = nn.CrossEntropyLoss(ignore_index=metrics.IGNORE_INDEX)

    def save(path: Path, iteration: int, resumable: bool) -> None:
        extra = {
            "iteration": iteration,
            "history": history,
            "best": best,
            "elapsed": prior_elapsed + time.perf_counter() - started,
        }
        if resumable:
            extra["optimizer_state"] = optimizer.state_dict()
            if ema is not None:
                extra["ema_state"] = ema.shadow
        write_checkpoint(path, model, meta, **extra)

    def report(
        iteration: int,
        train_loss: float | None,
        lr: float,
        grad_norm: float | None = None,
        skipped: str | None = None,
    ) -> None:
        nonlocal best
        validating = data.val and (iteration % config.val_every == 0 or iteration == total)
        val_loss = miou = summary = pictures = None
        is_best = config.select == "last" and iteration == total
        if validating:
            with ema.applied(model) if ema is not None else nullcontext():
                val_loss, cm, pictures = validate(
                    model, data.val, meta, device, val_dtype, config.overlay_max_side
                )
            summary = metrics.summarize(cm, [c["name"] for c in meta.classes])
            miou = summary["mean_iou"]
            if config.select == "val_loss":
                is_best = val_loss is not None and (best is None or val_loss < best["loss"])
            elif config.select != "last":
                is_best = miou is not None and (best is None or miou > best["miou"])
        done = iteration - start
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (total - iteration) if done > 0 else None
        progress = Progress(
            iteration,
            total,
            train_loss,
            val_loss,
            miou,
            eta,
            lr,
            prior_elapsed + elapsed,
            is_best,
            summary,
            pictures or None,
            grad_norm if grad_norm is None or np.isfinite(grad_norm) else None,
            skipped,
        )
        # History first: the checkpoints below carry it, so a resumed run continues it.
        history.append(progress.record())
        if is_best:
            best = {"miou": miou, "loss": val_loss, "iteration": iteration}
            meta.metrics = {"val": summary, "iteration": iteration}
            with ema.applied(model) if ema is not None else nullcontext():
                save(best_path, iteration, resumable=False)
        if iteration > 0 and (iteration % config.checkpoint_every == 0 or iteration == total):
            save(latest_path, iteration, resumable=True)
        on_progress(progress)

    if start == 0 and config.validate_at_start:
        report(0, None, config.lr)
    for iteration in range(start, total):
        factor = lr_factor(iteration, total, config.poly_power)
        for group in optimizer.param_groups:
            group["lr"] = config.lr * group["lr_mult"] * factor
        # Seeding per iteration makes dropout depend only on (seed, iteration), like the batches.
        torch.manual_seed(int(np.random.default_rng([config.seed, iteration, 1]).integers(2**62)))
        images, masks = make_batch(
            data.train, iteration, config.batch_size, config.seed, crop, aug, meta.mean, meta.std
        )
        if unlabeled:
            # Their masks are all 255: cross-entropy skips them, distillation covers every pixel.
            extra = make_batch(
                unlabeled,
                iteration,
                config.distill_unlabeled_batch,
                config.seed,
                crop,
                aug,
                meta.mean,
                meta.std,
                stream=1,
            )
            images, masks = torch.cat([images, extra[0]]), torch.cat([masks, extra[1]])
        images = images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        masks = masks.to(device, non_blocking=True)
        model.train()
        if config.freeze_bn:
            freeze_batchnorm(model)
        statistics = batchnorm_statistics(model)
        with autocast(device, dtype):
            loss = _loss(model, images, masks, criterion, config, teacher)
        optimizer.zero_grad(set_to_none=True)
        value: float | None = loss.detach().item()
        norm, skipped = float("nan"), "non-finite loss"  # also a batch of only unlabeled pixels
        if np.isfinite(value):
            loss.backward()
            norm = gradient_norm(model)
            skipped = guard.refuse(norm)
        # A refused step is not applied, and the batch-norm statistics its forward pass updated
        # are put back: one NaN step used to leave every later prediction NaN (all background),
        # and one garbage gradient made the next eval-mode forward explode.
        if skipped is None:
            if anchor is not None:
                anchor.pull(unwrap(model), config.l2sp_weight)
            optimizer.step()
            if config.bn_dead_var:
                # After step 0, which stays exactly the base model (see defences).
                revive_dead_channels(model, config.bn_dead_var)
            if ema is not None:
                ema.update(model)
        else:
            restore_statistics(statistics)
            value = None
        report(iteration + 1, value, config.lr * factor, norm, skipped)

    elapsed = prior_elapsed + time.perf_counter() - started
    return FitResult(
        iterations=total,
        best_iteration=best["iteration"] if best else None,
        best_val_miou=best["miou"] if best else None,
        history=history,
        latest_checkpoint=latest_path,
        best_checkpoint=best_path if best else None,
        meta=meta,
        elapsed_seconds=elapsed,
    )
