"""Training configuration: the seed study's recipe as defaults, stored with every checkpoint."""

import math
from dataclasses import asdict, dataclass, field

from .classmap import DEFAULT_PROJECT_CLASSES

# Fields that may differ between an interrupted run and its resumption.
RESUME_FREE_FIELDS = {"output_dir", "device", "num_threads"}


@dataclass
class TrainConfig:
    """Everything a run needs besides its frames; defaults are the seed study's recipe."""

    output_dir: str = "runs/latest"
    classes: list[dict] = field(default_factory=lambda: [dict(c) for c in DEFAULT_PROJECT_CLASSES])
    architecture: str | None = None  # None: the base file's, else deeplabv3plus_mobilenet
    output_stride: int = 16
    model_kwargs: dict = field(default_factory=dict)
    base_checkpoint: str | None = None  # None: random initialisation
    base_classes: list[dict] | None = None  # classes of a public base file's head
    class_map: list[int] | None = None  # base class -> project class; None: identity
    batch_size: int = 8
    iterations: int = 24
    epochs: int | None = None  # when set, overrides iterations
    crop_size: int = 768  # clamped to the smallest training frame
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    backbone_lr_mult: float = 0.1
    val_every: int = 1
    validate_at_start: bool = True  # iteration 0 = the mapped base model ("before")
    checkpoint_every: int = 4
    seed: int = 0
    scale_range: tuple[float, float] | None = (0.5, 2.0)  # None: no random scaling
    color_jitter: float = 0.5  # 0: none
    hflip: bool = True
    device: str = "auto"
    amp: str = "auto"  # bf16 autocast where the hardware runs it natively; "off" or "bf16"
    # Validation (which selects the kept model) runs in float32; "train" uses the training's
    # precision, kept only to measure what bf16 validation does (bench/train_eval.py).
    validate_precision: str = "float32"
    # bf16 training on CPU keeps depthwise convolutions in float32: their bf16 weight gradient
    # occasionally comes back as garbage there (runtime.Float32DepthwiseConv2d); "train": bf16.
    depthwise_precision: str = "float32"
    # A step whose gradient norm is over this many times the median of the accepted steps is
    # skipped like a non-finite one (0: off).
    spike_guard: float = 100.0
    num_threads: int | None = None  # CPU threads; None: every available core
    overlay_max_side: int = 640  # 0: no validation overlays
    # Defences against overfitting a few frames and forgetting the source (worker/ml/defences).
    distill_weight: float = 0.0  # learning without forgetting: KL to the frozen base's classes
    distill_temperature: float = 2.0
    # Frames without masks added to each batch (distillation only; needs distill_weight > 0).
    distill_unlabeled_batch: int = 0
    l2sp_weight: float = 0.0  # pull toward the base weights (replaces weight decay when > 0)
    freeze_bn: bool = False  # keep the base model's batch-norm statistics
    bn_dead_var: float = 1e-6  # batch-norm channels with a smaller running variance get 1 (0: off)
    ema_decay: float = 0.0  # 0: no weight average; else validate and keep the average
    select: str = "best_val"  # keep the best validation mIoU, the lowest "val_loss", or "last"

    def total_iterations(self, num_train: int) -> int:
        """Iterations of the run: `iterations`, or `epochs` worth of batches."""
        if self.epochs is None:
            return self.iterations
        return math.ceil(self.epochs * num_train / self.batch_size)


def stored_form(config: TrainConfig) -> dict:
    """The config as stored in checkpoints (tuples become lists, as after a round trip)."""
    out = asdict(config)
    if out["scale_range"] is not None:
        out["scale_range"] = list(out["scale_range"])
    return out


def resume_mismatch(stored: dict, config: TrainConfig) -> list[str]:
    """Fields in which config differs from a checkpoint's stored config (ignoring free ones)."""
    wanted = stored_form(config)
    keys = (wanted.keys() | stored.keys()) - RESUME_FREE_FIELDS
    return sorted(k for k in keys if stored.get(k) != wanted.get(k))
