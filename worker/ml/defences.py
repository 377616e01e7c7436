"""Defences of a few-frame fine-tune against overfitting and against forgetting the source.

- Distillation from the frozen base (learning without forgetting): the student's source-class
  distribution is pulled toward the base model's on the same pixels.
- L2-SP: weights are pulled toward the base weights instead of toward zero.
- Frozen batch-norm statistics: a batch of 8 crops of one drive is a poor estimate of the
  statistics the source model was trained with.
- An exponential moving average of the weights, validated and kept instead of the raw ones.
"""

import copy
import math
import statistics
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def freeze_batchnorm(model: nn.Module) -> None:
    """Put every batch-norm layer in eval mode: running statistics stay the base model's."""
    for module in model.modules():
        if isinstance(module, BATCH_NORMS):
            module.eval()


def revive_dead_channels(model: nn.Module, below: float) -> int:
    """Give batch-norm channels whose running variance is below `below` a variance of 1.

    Public Cityscapes weights hold such channels (838 in ESPNetv2 s=2.0 with variance ~1e-42,
    some with gamma 0.3-0.6): inactive on the source data, so in eval mode any deviation of
    their input is multiplied by gamma / sqrt(eps), up to ~190. Once fine-tuning moves the
    weights (or bf16 rounds the input) they wake up and the output explodes (validation loss
    4e25, every pixel one class). A variance of 1 (batch norm's own start) caps that gain at
    gamma; while the channel stays inactive its input equals its mean and nothing changes.
    Returns how many channels were revived.
    """
    revived = 0
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, BATCH_NORMS) and module.running_var is not None:
                dead = module.running_var < below
                revived += int(dead.sum())
                module.running_var[dead] = 1.0
    return revived


def batchnorm_statistics(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Copies of every batch-norm running statistic, to put back after a failed step."""
    return [
        (buffer, buffer.detach().clone())
        for module in model.modules()
        if isinstance(module, BATCH_NORMS)
        for buffer in (module.running_mean, module.running_var, module.num_batches_tracked)
        if buffer is not None
    ]


def restore_statistics(saved: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Put back statistics saved by batchnorm_statistics."""
    with torch.no_grad():
        for buffer, copy_ in saved:
            buffer.copy_(copy_)


def gradient_norm(model: nn.Module) -> float:
    """Global L2 norm of the parameter gradients: inf or nan when one is not finite (nan: none)."""
    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]
    if not grads:
        return float("nan")
    # float64: a garbage gradient of 1e25 squares past float32's range, and must stay a number.
    norms = [torch.linalg.vector_norm(g, dtype=torch.float64) for g in grads]
    return float(torch.linalg.vector_norm(torch.stack(norms)))


class StepGuard:
    """Refuses a step whose gradient is not finite, or a spike over `spike` x the median so far.

    A spike threshold far above the spread of real steps (a few x here) catches garbage
    gradients (1e24 and more, see runtime.Float32DepthwiseConv2d) without touching real ones.
    """

    def __init__(self, spike: float, accepted: list[float] | None = None):
        self.spike = spike
        self.norms = list(accepted or [])

    def refuse(self, norm: float) -> str | None:
        """Why the step with this gradient norm must be skipped, or None (and it is counted)."""
        if not math.isfinite(norm):
            return "non-finite gradient"
        if self.spike and len(self.norms) >= 3:
            median = statistics.median(self.norms)
            if median > 0 and norm > self.spike * median:
                return f"gradient spike: norm {norm:.3g}, {norm / median:.3g} x the median"
        self.norms.append(norm)
        return None


class Teacher:
    """A frozen copy of the base model that gives source-class logits to distil from."""

    def __init__(self, base: nn.Module):
        self.model = copy.deepcopy(base).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Source logits of the base model (no gradient)."""
        with torch.no_grad():
            return self.model(images)


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float, valid: torch.Tensor
) -> torch.Tensor:
    """Mean per-pixel KL(teacher || student) of tempered softmaxes, scaled by T^2 (Hinton)."""
    t = temperature
    log_p_student = F.log_softmax(student.float() / t, dim=1)
    p_teacher = F.softmax(teacher.float() / t, dim=1)
    kl = (p_teacher * (torch.log(p_teacher.clamp_min(1e-12)) - log_p_student)).sum(dim=1)
    weight = valid.float()
    return (kl * weight).sum() / weight.sum().clamp_min(1.0) * t * t


class WeightAnchor:
    """L2-SP: adds alpha * (w - w0) to each gradient, w0 being the base model's weights."""

    def __init__(self, model: nn.Module):
        self.start = {n: p.detach().clone() for n, p in model.named_parameters()}

    def pull(self, model: nn.Module, alpha: float) -> None:
        """Add the anchor's gradient to the parameters' gradients (before the optimiser step)."""
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.grad is not None:
                    p.grad.add_(p.detach() - self.start[name], alpha=alpha)


class WeightAverage:
    """An exponential moving average of a model's parameters (buffers are copied as they are)."""

    def __init__(self, model: nn.Module, decay: float, state: dict | None = None):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if state is not None:
            self.shadow = {k: v.to(self.shadow[k].device) for k, v in state.items()}

    def update(self, model: nn.Module) -> None:
        """Fold the model's current weights into the average."""
        with torch.no_grad():
            for key, value in model.state_dict().items():
                if value.dtype.is_floating_point:
                    self.shadow[key].mul_(self.decay).add_(value.detach(), alpha=1 - self.decay)
                else:
                    self.shadow[key].copy_(value)

    @contextmanager
    def applied(self, model: nn.Module):
        """Run the block with the averaged weights loaded, then restore the raw ones."""
        raw = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(raw)
