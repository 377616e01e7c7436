"""The model at step 0 (the base with its classes grouped, no cold head) and its optimiser."""

import torch
from torch import nn

from .checkpoints import ModelMeta, build_from_checkpoint, describe, load_checkpoint
from .classmap import GroupedLogits, unwrap
from .config import TrainConfig
from .models import backbone_prefixes, build_model


def init_model(config: TrainConfig) -> tuple[nn.Module, ModelMeta]:
    """The model at step 0: random init, or the base with its classes grouped (no cold head)."""
    classes = config.classes
    if config.base_checkpoint is None:
        arch = config.architecture or "deeplabv3plus_mobilenet"
        model = build_model(arch, len(classes), config.output_stride, **config.model_kwargs)
        meta = ModelMeta(arch, config.output_stride, classes, model_kwargs=config.model_kwargs)
        return model, meta
    ckpt = load_checkpoint(config.base_checkpoint)
    base = describe(ckpt, config.architecture, config.output_stride, config.base_classes)
    model = unwrap(build_from_checkpoint(ckpt, base))
    n_base = len(base.classes)
    table = config.class_map
    if table is None and n_base != len(classes):
        raise ValueError(
            f"the base model has {n_base} classes, the project {len(classes)}: "
            "a class map is needed"
        )
    if table is not None and len(table) != n_base:
        raise ValueError(f"class map has {len(table)} entries; the base model has {n_base} classes")
    table = table or list(range(n_base))
    # A base that is itself grouped: compose its table with ours, over its head's rows.
    rows = [table[k] for k in base.class_map] if base.class_map else table
    meta = ModelMeta(
        base.architecture,
        config.output_stride,
        classes,
        base.mean,
        base.std,
        model_kwargs=base.model_kwargs,
    )
    if rows == list(range(len(classes))):
        return model, meta  # one head row per project class already: nothing to group
    meta.source_classes = base.source_classes if base.class_map else base.classes
    meta.class_map = rows
    return GroupedLogits(model, rows, len(classes)), meta


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD with the backbone (the model's `backbone_prefixes`) at backbone_lr_mult of the lr."""
    base = unwrap(model)
    prefixes = backbone_prefixes(base)
    named = list(base.named_parameters())
    backbone = [p for n, p in named if n.startswith(prefixes)]
    head = [p for n, p in named if not n.startswith(prefixes)]
    groups = [
        {"params": backbone, "lr_mult": config.backbone_lr_mult},
        {"params": head, "lr_mult": 1.0},
    ]
    return torch.optim.SGD(
        [g for g in groups if g["params"]],
        lr=config.lr,
        momentum=config.momentum,
        # L2-SP pulls toward the base weights; decaying toward zero as well would fight it.
        weight_decay=0.0 if config.l2sp_weight else config.weight_decay,
    )


def lr_factor(iteration: int, total: int, power: float) -> float:
    """Poly schedule: (1 - iteration / total) ** power."""
    return (1 - iteration / total) ** power
