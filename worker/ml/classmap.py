"""Source-model classes -> project classes: presets, label mapping and a no-cold-head wrapper."""

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .metrics import IGNORE_INDEX
from .presets import PRESETS

CITYSCAPES_CLASSES = PRESETS["cityscapes19"]

DEFAULT_PROJECT_CLASSES = [
    {"index": 0, "name": "background", "color": [0, 0, 0]},
    {"index": 1, "name": "car", "color": [0, 0, 142]},
    {"index": 2, "name": "traffic sign", "color": [220, 220, 0]},
]


def make_class_map(num_source: int, assign: dict[int, int], default: int = 0) -> list[int]:
    """Table t with t[source] = project class: the given assignments, `default` elsewhere."""
    table = [default] * num_source
    for source, project in assign.items():
        if not 0 <= source < num_source:
            raise ValueError(f"source class {source} outside 0..{num_source - 1}")
        table[source] = project
    return table


def cityscapes_default_map() -> list[int]:
    """The preset: car <- 13, traffic sign <- 7, background <- every other Cityscapes train id."""
    return make_class_map(len(CITYSCAPES_CLASSES), {13: 1, 7: 2})


def validate_class_map(table: Sequence[int], num_project: int) -> None:
    """Every source class maps into 0..num_project-1 and every project class has a source."""
    bad = [t for t in table if not 0 <= t < num_project]
    if bad:
        raise ValueError(f"class map targets {bad} outside 0..{num_project - 1}")
    empty = sorted(set(range(num_project)) - set(table))
    if empty:
        raise ValueError(
            f"project classes {empty} have no source class; map one to each or "
            "train from random initialisation"
        )


def map_labels(labels: np.ndarray, table: Sequence[int]) -> np.ndarray:
    """Map source class ids through the table (255 stays 255), as uint8."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    lut[: len(table)] = table
    return lut[np.asarray(labels, dtype=np.uint8)]


class GroupedLogits(nn.Module):
    """Project logit k = max of the source logits mapped to k.

    The max (not log-sum-exp) keeps argmax exact: the winning group is the group of the winning
    source class, so at step 0 this model predicts what the mapped base model predicts. Log-sum-
    exp would turn car 0.4 / road 0.3 / building 0.3 into background. Training updates the
    source head's rows through whichever member currently leads its group.
    """

    def __init__(self, base: nn.Module, table: Sequence[int], num_project: int):
        super().__init__()
        validate_class_map(table, num_project)
        self.base = base
        self.table = list(table)
        self.num_project = num_project
        # Source channels ordered by project class, so one gather + split yields the groups.
        # Not persistent: checkpoints hold the base layout and the table in their metadata.
        order = sorted(range(len(self.table)), key=lambda s: self.table[s])
        self.register_buffer("order", torch.tensor(order, dtype=torch.long), persistent=False)
        self.sizes = [self.table.count(k) for k in range(num_project)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.group(self.base(x))

    def group(self, source: torch.Tensor) -> torch.Tensor:
        """Project logits from the base's source logits."""
        grouped = source.index_select(1, self.order).split(self.sizes, dim=1)
        return torch.stack([g.amax(dim=1) for g in grouped], dim=1)


def unwrap(model: nn.Module) -> nn.Module:
    """The module whose state dict has the public layout (the base of a grouped model)."""
    return model.base if isinstance(model, GroupedLogits) else model
